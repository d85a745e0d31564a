"""Process CPU per call of the in-process guard row (bench/bench_budgets.py ``_guard_rows``).

Run from a checkout: ``PYTHONPATH=. python bench/results/budgets_guard_ab.py A``; prints the
min and median over 15 rounds of 5,000 reserve+settle calls.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest

guard = SpendGuard(
    [Limit.usd(1e9, per="day", scope="tenant"), Limit.usd_per_request(1.0), Limit.input_tokens(100_000)],
    alerts=AlertManager(log=False, span_events=False),
)
req = SpendRequest(model="gpt-4o-mini", input_tokens=412, max_output_tokens=300, tenant="acme")


def check() -> None:
    guard.reserve(req).settle(0.0001)


def main() -> None:
    for _ in range(3000):
        check()
    rounds = []
    for _ in range(int(os.environ.get("ROUNDS", "15"))):
        n = 5000
        t = time.process_time()
        for _ in range(n):
            check()
        rounds.append((time.process_time() - t) / n * 1e6)
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    print(f"{label} min {min(rounds):.2f} median {statistics.median(rounds):.2f} us/call", flush=True)


if __name__ == "__main__":
    main()
