"""The cost of the approach not taken for a cancelled LiteLLM stream that is still
referenced: scanning the heap (``gc.get_referrers``) to tell a holder that may read it on
from the frames the cancellation ended. Run with LiteLLM and the adapter imported, as in a
real process; prints the heap size and the per-scan times (ms), each scan next to the plain
weak-reference check the adapter does instead."""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
import types
import weakref
from typing import Any

import litellm  # noqa: F401  (the heap of a real process)

from llm_cost_hooks.litellm import CostHooksLogger


def held_elsewhere(stream: Any, loop: asyncio.AbstractEventLoop) -> bool:
    live: set[int] = set()
    for task in asyncio.all_tasks(loop):
        coro: Any = task.get_coro()
        for _ in range(64):
            if coro is None:
                break
            frame = getattr(coro, "cr_frame", None)
            if frame is not None:
                live.add(id(frame))
            coro = getattr(coro, "cr_await", None)
    here: Any = sys._getframe()
    while here is not None:
        live.add(id(here))
        here = here.f_back
    return any(not isinstance(r, types.FrameType) or id(r) in live for r in gc.get_referrers(stream))


class Stream:  # stands in for LiteLLM's CustomStreamWrapper
    pass


async def main(repeats: int) -> None:
    CostHooksLogger(ledger="memory://")
    stream = Stream()
    holder = [stream]
    loop = asyncio.get_running_loop()
    ref = weakref.ref(stream)
    scan, check = [], []
    for _ in range(repeats):  # interleaved
        t = time.perf_counter()
        assert ref() is not None
        check.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        assert held_elsewhere(stream, loop)
        scan.append((time.perf_counter() - t) * 1e3)
    del holder
    print(f"objects tracked by gc: {len(gc.get_objects())}")
    for name, xs in (("weakref check", check), ("heap scan", scan)):
        q = statistics.quantiles(xs, n=10)
        print(
            f"{name}: median {statistics.median(xs):.3f} ms, p10 {q[0]:.3f}, p90 {q[-1]:.3f}, "
            f"min {min(xs):.3f}, max {max(xs):.3f} (n={len(xs)})"
        )


asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
