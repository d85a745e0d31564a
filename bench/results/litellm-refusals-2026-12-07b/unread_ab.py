"""A/B: CPU per sync ``litellm.completion(stream=True)`` call read to its end, with
``CostHooksLogger`` in ``litellm.callbacks``, with the watch on a stream's logging object
until its first chunk on (A) and off (B), interleaved.

    python bench/results/litellm-refusals-2026-12-07b/unread_ab.py [rounds] [calls]
    python bench/results/litellm-refusals-2026-12-07b/unread_ab.py --only A|B [calls]  (for callgrind)

One logger; off = its ``_watch_unread`` replaced by a no-op on the instance (nothing else
changes). ``AB_CLOCK=thread`` measures the caller's thread only. Printed: CPU µs per call
for each arm and round (order alternating), then the median and spread (min..max) of the
per-round differences A - B.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from llm_cost_hooks.litellm import CostHooksLogger

KW = {
    "model": "gpt-4o-mini",
    "max_tokens": 300,
    "mock_response": "Your parcel left the depot this morning.",
    "messages": [{"role": "user", "content": "Where is my parcel? It was due on Monday."}],
    "metadata": {"tenant_id": "acme"},
    "stream": True,
}

CLOCK = time.thread_time if os.environ.get("AB_CLOCK") == "thread" else time.process_time


def make() -> CostHooksLogger:
    cl = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [cl]
    return cl


def calls(cl: CostHooksLogger, n: int, watch: bool) -> float:
    if watch:
        cl.__dict__.pop("_watch_unread", None)
    else:
        cl._watch_unread = lambda kwargs: None  # type: ignore[method-assign]
    cl.flush()
    t0 = CLOCK()
    for _ in range(n):
        for _chunk in litellm.completion(**KW):
            pass
    cl.flush()
    return (CLOCK() - t0) / n * 1e6


def main() -> None:
    if sys.argv[1:2] == ["--only"]:
        arm, n = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200
        cl = make()
        calls(cl, 20, arm == "A")  # warm-up
        calls(cl, n, arm == "A")
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    cl = make()
    calls(cl, 30, True)
    calls(cl, 30, False)
    diffs = []
    for r in range(rounds):
        if r % 2:
            b = calls(cl, n, False)
            a = calls(cl, n, True)
        else:
            a = calls(cl, n, True)
            b = calls(cl, n, False)
        diffs.append(a - b)
        print(f"round {r}: A (watch) {a:8.1f} us/call   B (no watch) {b:8.1f} us/call   A-B {a - b:+7.1f}")
    print(
        f"A-B median {statistics.median(diffs):+.1f} us/call, min {min(diffs):+.1f}, "
        f"max {max(diffs):+.1f} ({rounds} rounds x {n} calls)"
    )


main()
