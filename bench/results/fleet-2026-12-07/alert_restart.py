"""Does a threshold alert fire twice when Redis restarts empty after it fired?"""

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

from llm_cost_hooks.budget import AlertManager, CallbackSink, Limit, SpendGuard, SpendRequest

out = sys.argv[1]


def on_alert(ev):
    with open(out, "a") as f:
        f.write(
            json.dumps(
                {
                    "t": time.strftime("%T"),
                    "pid": os.getpid(),
                    "kind": ev.kind,
                    "threshold": ev.threshold,
                    "reason": ev.reason,
                    "spent": ev.spent,
                }
            )
            + "\n"
        )


guard = SpendGuard(
    [Limit.usd(0.012, per="day", scope="tenant", name="daily")],
    store="redis://127.0.0.1:56379",
    alerts=AlertManager(sinks=[CallbackSink(on_alert)], log=False),
)


def spend(usd):
    with guard.reserve(
        SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=2000, tenant="acme")
    ) as r:
        r.settle(usd)


def worker(name, go, done, steps):
    for usd in steps:
        go.wait()
        go.clear()
        spend(usd)
        print(name, "spent", usd, "shared now", guard.spent("daily", "acme"), flush=True)
        done.set()


ctx = mp.get_context("fork")
ga, da, gb, db = (ctx.Event() for _ in range(4))
A = ctx.Process(target=worker, args=("A", ga, da, [0.007, 0.0001]))
B = ctx.Process(target=worker, args=("B", gb, db, [0.001]))
A.start()
B.start()
ga.set()
da.wait()
da.clear()
subprocess.run(
    "kill -9 $(cat /tmp/fleet_srv/redis.pid); sleep 0.5; /tmp/fleet_srv/redis_start.sh; sleep 1", shell=True
)
print("redis restarted empty", flush=True)
gb.set()
db.wait()
ga.set()
da.wait()
A.join()
B.join()
