"""A/B: CPU per ``litellm.acompletion`` call with ``CostHooksLogger(guard=...)`` in
``litellm.callbacks``, with the cancellation watch on (A) and off (B), interleaved.

    python bench/results/litellm-cancel-2026-12-07/watch_ab.py [rounds] [calls]
    python bench/results/litellm-cancel-2026-12-07/watch_ab.py --only A|B [calls]  (for callgrind)

One logger; off = its ``_watch`` replaced by a no-op on the instance (nothing else changes).
``AB_CLOCK=thread`` measures the loop thread's CPU only. Each round runs ``calls`` calls (mock_response, awaited one after another in one task, so
the task-callback bookkeeping of a long-lived task is in the measurement) per arm, order
alternating; printed: process CPU µs per call for each arm and round, then the median and
spread (min..max) of the per-round differences A - B.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.litellm import CostHooksLogger

KW = {
    "model": "gpt-4o-mini",
    "max_tokens": 300,
    "mock_response": "Your parcel left the depot this morning.",
    "messages": [{"role": "user", "content": "Where is my parcel? It was due on Monday."}],
    "metadata": {"tenant_id": "acme"},
}


# AB_CLOCK=thread: CPU of the event loop's thread only (LiteLLM's logging threads and the
# ledger writer left out); default: the whole process.
CLOCK = time.thread_time if os.environ.get("AB_CLOCK") == "thread" else time.process_time


def make() -> CostHooksLogger:
    guard = SpendGuard(
        [Limit.usd(1e9, per="day", scope="tenant")], alerts=AlertManager(log=False, span_events=False)
    )
    cl = CostHooksLogger(ledger="memory://", guard=guard)
    litellm.callbacks = [cl]
    return cl


async def calls(cl: CostHooksLogger, n: int, watch: bool) -> float:
    if watch:
        cl.__dict__.pop("_watch", None)
    else:
        cl._watch = lambda call_id, stream: None  # type: ignore[method-assign]
    await cl.aflush()
    t0 = CLOCK()
    for _ in range(n):
        await litellm.acompletion(**KW)
    await cl.aflush()
    return (CLOCK() - t0) / n * 1e6


async def main() -> None:
    if sys.argv[1:2] == ["--only"]:
        arm, n = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 300
        cl = make()
        await calls(cl, 20, arm == "A")  # warm-up
        await calls(cl, n, arm == "A")
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    cl = make()
    await calls(cl, 50, True)
    await calls(cl, 50, False)
    diffs = []
    for r in range(rounds):
        if r % 2:
            b = await calls(cl, n, False)
            a = await calls(cl, n, True)
        else:
            a = await calls(cl, n, True)
            b = await calls(cl, n, False)
        diffs.append(a - b)
        print(f"round {r}: A (watch) {a:8.1f} us/call   B (no watch) {b:8.1f} us/call   A-B {a - b:+7.1f}")
    print(
        f"A-B median {statistics.median(diffs):+.1f} us/call, min {min(diffs):+.1f}, max {max(diffs):+.1f} ({rounds} rounds x {n} calls)"
    )


asyncio.run(main())
