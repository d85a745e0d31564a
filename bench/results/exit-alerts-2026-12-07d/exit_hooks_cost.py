"""The cost of running N registered exit hooks that do nothing (half trackers, half
ledgers): milliseconds spent in run_exit_hooks, printed. Usage: exit_hooks_cost.py N"""

import sys
import time

from llm_cost_hooks import _shutdown


class Owner:
    pass


owners = [Owner() for _ in range(int(sys.argv[1]))]
for o in owners:
    _shutdown.register(_shutdown.TRACKERS if id(o) % 2 else _shutdown.LEDGERS, o, lambda o, d: None)
t = time.perf_counter()
_shutdown.run_exit_hooks(5.0)
print(f"{(time.perf_counter() - t) * 1000:.2f}")
