"""Per-call cost of anomaly checks: trailing mean (26 hourly reads) vs cycle (51), A/B
interleaved, on the in-process store and on a local Redis.

    PYTHONPATH=$PWD python bench/results/alerts-2026-12-07d/check_cost.py [rounds] [calls]
    PYTHONPATH=$PWD valgrind --tool=callgrind python .../check_cost.py --only BASELINE CALLS

``--only`` makes CALLS calls on the in-process store with one rule and nothing else, for
instruction counts: the difference between two call counts, divided, is the count per call.

Each call is ``guard.reserve(req).settle(x)`` with one daily limit and the anomaly rule
checking on every call (``check_interval_seconds=0``, the worst case; the default checks a
scope value at most every 5 s). Prints the median and the range over rounds of the wall
time per call.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from llm_cost_hooks.budget import AlertManager, AnomalyRule, Limit, SpendGuard, SpendRequest
from tests._servers import RedisServer

REQ = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")


def _guard(store: object, baseline: str) -> SpendGuard:
    rule = AnomalyRule(baseline=baseline, factor=2.5, check_interval_seconds=0)  # type: ignore[arg-type]
    alerts = AlertManager(log=False, span_events=False, anomaly=rule)
    return SpendGuard([Limit.usd(1e9, per="day", scope="tenant")], store=store, alerts=alerts)


def _per_call(guard: SpendGuard, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        guard.reserve(REQ).settle(0.0001)
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    if sys.argv[1:2] == ["--only"]:
        guard = _guard(None, sys.argv[2])
        _per_call(guard, int(sys.argv[3]))
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    server = RedisServer().start()
    try:
        for name, store in (("in-process", None), ("redis", server.url)):
            guards = {b: _guard(store, b) for b in ("trailing_mean", "cycle")}
            for guard in guards.values():
                _per_call(guard, calls // 10)  # warm up
            times: dict[str, list[float]] = {b: [] for b in guards}
            for _ in range(rounds):
                for b, guard in guards.items():
                    times[b].append(_per_call(guard, calls))
            for b, ts in times.items():
                print(
                    f"{name:10} {b:14} median {statistics.median(ts):8.1f} us/call "
                    f"(range {min(ts):.1f}-{max(ts):.1f}, {rounds} rounds x {calls} calls)"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
