"""The fail-over wrapper's own cost on the path that works: N reserve+settle through a
FailoverSpendStore whose primary answers at once (an in-process store), no Redis.

    PYTHONPATH=<checkout> python wrapper_cost.py 20000
"""

import sys
import time

from llm_cost_hooks.budget import FailoverSpendStore, InProcessSpendStore

n = int(sys.argv[1])
store = FailoverSpendStore(InProcessSpendStore(), journal=None)
keys, limits, amounts, ttls = ["k1", "k2"], [10**15, 10**15], [450, 450], [86400, 86400]
for i in range(200):
    store.reserve(f"w{i}", keys, limits, amounts, ttls, 30.0)
    store.settle(f"w{i}", keys, amounts, ttls)
t = time.perf_counter()
for i in range(n):
    store.reserve(f"r{i}", keys, limits, amounts, ttls, 30.0)
    store.settle(f"r{i}", keys, amounts, ttls)
print(f"{(time.perf_counter() - t) / n * 1e6:.3f} us per reserve+settle")
