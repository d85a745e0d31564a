"""What charging a sync call adds, per call: ``Attribution.of`` (on the caller's thread, at
LiteLLM's pre-call event) and ``SpendGuard.charge`` on the in-process store (on LiteLLM's
logging thread, after the record), next to ``Reservation.settle`` of a reserved call.
Alternating rounds in one run; the best round of each is printed (µs per call).

    PYTHONPATH=. python bench/results/syncguard-2026-12-08/charge_cost.py
"""

from __future__ import annotations

import timeit

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest
from llm_cost_hooks.budget._call import Attribution
from llm_cost_hooks.tracking import CostTracker

N, ROUNDS = 2000, 5


def main() -> None:
    guard = SpendGuard([Limit.usd(1e9, per="day", scope="tenant")], alerts=AlertManager(log=False))
    tracker = CostTracker(ledger="memory://", defaults={"tenant_id": "acme"})

    class Recorder:
        pass

    recorder = Recorder()
    recorder.tracker = tracker  # type: ignore[attr-defined]
    metadata = {"feature": "support", "user_id": "u1"}
    request = SpendRequest(model="gpt-4o-mini", input_tokens=1200, max_output_tokens=300, tenant="acme")

    def attribution() -> None:
        Attribution.of(metadata, recorders=[recorder])

    def charge() -> None:
        guard.charge(request, 0.00036, input_tokens=1200, output_tokens=300)

    def reserve_settle() -> None:
        guard.reserve(request).settle(0.00036, input_tokens=1200, output_tokens=300)

    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, fn in (
            ("Attribution.of", attribution),
            ("guard.charge", charge),
            ("reserve+settle", reserve_settle),
        ):
            took = timeit.timeit(fn, number=N) / N * 1e6
            best[name] = min(best.get(name, float("inf")), took)
    for name, us in best.items():
        print(f"{name:16s} {us:7.1f} µs per call (best of {ROUNDS} rounds of {N})")


if __name__ == "__main__":
    main()
