"""reserve+settle in a loop, as the `budgets` bench row does (3 limits: tenant/day,
$/request, input tokens; alerts on, no sinks), against whichever checkout is first on
PYTHONPATH.

    python loop.py <n> time [past50]   # median us per call of 5 batches of n calls
    python loop.py <n> run [past50]    # n calls, nothing printed (for callgrind.sh)
    python loop.py <n> prof [past50]   # cProfile of n calls

``past50``: a tenant past half its day's limit (its 50 % alert has fired); every
settlement ($0.000001) stays below 80 %. ``redis``: the bench's Redis row (tenant/day and
$/request limits on a Redis the script starts, as the tests start theirs).
"""

import os
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest

req = SpendRequest(model="gpt-4o-mini", input_tokens=412, max_output_tokens=300, tenant="acme")
amount, cost = 1e9, 0.0001
past50 = len(sys.argv) > 3 and sys.argv[3] == "past50"
if past50:
    amount, cost = 1.0, 1e-6
limits = [
    Limit.usd(amount, per="day", scope="tenant"),
    Limit.usd_per_request(1.0),
    Limit.input_tokens(100_000),
]
if len(sys.argv) > 3 and sys.argv[3] == "redis":
    sys.path.insert(0, os.getcwd())
    from tests._servers import RedisServer

    server = RedisServer()
    server.start()
    g = SpendGuard(limits[:2], store=server.url, alerts=AlertManager(log=False, span_events=False))
else:
    g = SpendGuard(limits, alerts=AlertManager(log=False, span_events=False))
if past50:
    g.reserve(req.model_copy(update={"max_output_tokens": 920_000})).settle(0.55)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
for _ in range(200 if g.store.__class__.__name__ != "InProcessSpendStore" else 2000):
    g.reserve(req).settle(cost)
mode = sys.argv[2] if len(sys.argv) > 2 else "time"
if mode == "prof":
    import cProfile
    import pstats

    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        g.reserve(req).settle(cost)
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(25)
elif mode == "time":
    out = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            g.reserve(req).settle(cost)
        out.append((time.perf_counter() - t) / n * 1e6)
    print(f"{sorted(out)[2]:.2f}")
else:
    for _ in range(n):
        g.reserve(req).settle(cost)
if len(sys.argv) > 3 and sys.argv[3] == "redis":
    server.close()
