"""The work a sync stream call gains, alone: ``_watch_unread`` (from ``log_pre_api_call``,
called here from a function named ``pre_call`` holding a logging object, as LiteLLM's
``Logging.pre_call`` does) and the ``_unread`` pop at the first chunk. A = that work, B = an
empty loop of the same shape; rounds interleaved, µs per call.

    python bench/results/litellm-refusals-2026-12-07b/unread_micro.py [rounds] [calls]
    python bench/results/litellm-refusals-2026-12-07b/unread_micro.py --only A|B [calls]  (for callgrind)
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from llm_cost_hooks.litellm import CostHooksLogger


class Logging:  # stands in for LiteLLM's logging object (weak-referenceable)
    pass


def pre_call(cl: CostHooksLogger, kwargs: dict, watch: bool) -> None:
    self = Logging()  # noqa: F841 - read from this frame by _watch_unread
    if watch:
        cl._watch_unread(kwargs)
        with cl._lock:  # what the first chunk's log_stream_event does
            cl._unread.pop(kwargs["litellm_call_id"], None)


def run(cl: CostHooksLogger, n: int, watch: bool) -> float:
    kwargs = {"litellm_call_id": "c1", "stream": True, "litellm_params": {"acompletion": False}}
    t0 = time.perf_counter()
    for _ in range(n):
        pre_call(cl, kwargs, watch)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    if sys.argv[1:2] == ["--only"]:
        arm, n = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20_000
        run(CostHooksLogger(ledger="memory://"), n, arm == "A")
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    cl = CostHooksLogger(ledger="memory://")
    run(cl, n // 10, True)
    run(cl, n // 10, False)
    diffs = []
    for r in range(rounds):
        a, b = (run(cl, n, True), run(cl, n, False)) if r % 2 == 0 else (None, run(cl, n, False))
        if a is None:
            a = run(cl, n, True)
        diffs.append(a - b)
        print(f"round {r}: A {a:6.3f} us  B {b:6.3f} us  A-B {a - b:+6.3f} us")
    print(
        f"A-B median {statistics.median(diffs):+.3f} us/call, min {min(diffs):+.3f}, "
        f"max {max(diffs):+.3f} ({rounds} rounds x {n} calls)"
    )


main()
