"""A/B of TokenCounter.count_messages on text-only chat messages: the counter before images
were counted (its source passed as argv[1]) against the current one, interleaved in one
process. Usage: python count_ab.py OLD_COUNTER.py [rounds] [--one before|after [calls]]"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time

from llm_cost_hooks.tokens import _counter as new

spec = importlib.util.spec_from_file_location("llm_cost_hooks.tokens._counter_old", sys.argv[1])
assert spec is not None and spec.loader is not None
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)

MESSAGES = [
    {"role": "system", "content": "You are a helpful bank assistant. Answer briefly."},
    {"role": "user", "content": "When will my new card arrive, and can I use it abroad?"},
    {"role": "assistant", "content": "Cards arrive in 3-5 working days and work abroad."},
    {"role": "user", "content": [{"type": "text", "text": "And what are the fees for that?"}]},
]
counters = {"before": old.TokenCounter(), "after": new.TokenCounter()}
assert (
    counters["before"].count_messages(MESSAGES, "gpt-4o").tokens
    == counters["after"].count_messages(MESSAGES, "gpt-4o").tokens
)

if "--one" in sys.argv:  # one side only, for callgrind: --one before|after [calls]
    at = sys.argv.index("--one")
    c = counters[sys.argv[at + 1]]
    for _ in range(int(sys.argv[at + 2]) if len(sys.argv) > at + 2 else 2000):
        c.count_messages(MESSAGES, "gpt-4o")
    sys.exit()

rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
per = {k: [] for k in counters}
for r in range(rounds):
    for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
        c = counters[name]
        t = time.perf_counter()
        for _ in range(2000):
            c.count_messages(MESSAGES, "gpt-4o")
        per[name].append((time.perf_counter() - t) / 2000 * 1e6)
for name, xs in per.items():
    print(
        f"{name}: median {statistics.median(xs):.2f} us/call, min {min(xs):.2f}, max {max(xs):.2f} ({rounds} rounds x 2000)"
    )
print(
    f"after/before (median of per-round ratios): {statistics.median(a / b for a, b in zip(per['after'], per['before'])):.3f}"
)
