"""Cost per call of watching sync LiteLLM streams (llm_cost_hooks/litellm/_sync_stream.py).

A = the watch on; B = the logger's ``_watch_sync_stream`` replaced by a no-op. Each call is
``litellm.completion(stream=True, mock_response=...)`` read to its end (the watch's whole
cost: profile function from the pre-call event to the wrapper's return, plus a weakref).

    python sync_watch_ab.py ROUNDS CALLS         # interleaved, order alternating per round
    python sync_watch_ab.py --only A|B CALLS      # one arm (for callgrind), after 20 warm-up calls
Clock: AB_CLOCK=thread (thread_time of the calling thread) or process (default).
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
    "messages": [{"role": "user", "content": "Tell me about the weather in Lisbon."}],
    "mock_response": " ".join(f"w{i}" for i in range(20)),
    "stream": True,
    "metadata": {"tenant_id": "acme"},
}
cost_logger = CostHooksLogger(ledger="memory://")
litellm.callbacks = [cost_logger]
watch = cost_logger._watch_sync_stream
clock = time.thread_time if os.environ.get("AB_CLOCK") == "thread" else time.process_time


def arm(name: str) -> None:
    if name == "A":
        cost_logger.__dict__.pop("_watch_sync_stream", None)
    else:
        cost_logger._watch_sync_stream = lambda kwargs: None  # type: ignore[method-assign]


def calls(n: int) -> float:
    start = clock()
    for _ in range(n):
        for _chunk in litellm.completion(**KW):
            pass
    return (clock() - start) / n


if sys.argv[1] == "--only":
    arm(sys.argv[2])
    calls(20)
    calls(int(sys.argv[3]))
    cost_logger.flush(30)
    sys.exit(0)

rounds, n = int(sys.argv[1]), int(sys.argv[2])
arm("A")
calls(30)  # warm-up
diffs, a_all, b_all = [], [], []
for r in range(rounds):
    res = {}
    for name in "AB" if r % 2 == 0 else "BA":
        arm(name)
        res[name] = calls(n)
    diffs.append(res["A"] - res["B"])
    a_all.append(res["A"])
    b_all.append(res["B"])
cost_logger.flush(30)
us = 1e6
print(f"clock={clock.__name__} rounds={rounds} calls/round/arm={n}")
print(
    f"A median {statistics.median(a_all) * us:.0f} us/call, B median {statistics.median(b_all) * us:.0f} us/call"
)
print(
    f"A-B median {statistics.median(diffs) * us:+.1f} us/call, min {min(diffs) * us:+.1f}, max {max(diffs) * us:+.1f}"
)
