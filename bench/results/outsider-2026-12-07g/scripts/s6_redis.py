# ruff: noqa: E402
# spend during a Redis outage is counted once Redis is back
import logging
import os
import signal
import subprocess
import sys
import time

logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel

REDIS = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "restart-empty"  # or "restart-kept" or "pause"
sock = os.path.abspath("r.sock")


def start():
    args = [REDIS, "--port", "0", "--unixsocket", sock, "--save", "", "--dir", os.getcwd()]
    if MODE == "restart-kept":
        args += ["--appendonly", "yes", "--appendfsync", "always"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    return p


srv = start()
guard = SpendGuard([Limit.usd(100.0, per="day", scope="tenant")], store=f"unix://{sock}")
h = CostCallbackHandler(ledger="memory://")
m = GuardedChatModel(
    inner=FakeChatModelWithUsage(model_name="gpt-4o", responses=["answer " * 50]), guard=guard
)
cfg = {"callbacks": [h], "metadata": {"tenant_id": "acme"}}
lim = guard.limits[0]


def call(n):
    for i in range(n):
        m.invoke(f"question {i} " * 20, config=cfg)


call(5)
print("before outage: records", sum(r.cost_usd for r in h.records()), "guard", guard.spent(lim, "acme"))
if MODE == "pause":
    srv.send_signal(signal.SIGSTOP)
else:
    srv.terminate()
    srv.wait()
t = time.time()
call(5)
print(
    f"during outage ({time.time() - t:.1f}s): records",
    sum(r.cost_usd for r in h.records()),
    "guard",
    guard.spent(lim, "acme"),
)
if MODE == "pause":
    srv.send_signal(signal.SIGCONT)
else:
    srv = start()
time.sleep(1.5)
call(1)
total = sum(r.cost_usd for r in h.records())
import redis

r = redis.Redis(unix_socket_path=sock)
print("after: records", total, "guard", guard.spent(lim, "acme"))
print("redis keys", [k for k in r.keys("*")][:10])
# a fresh guard in a new process view
g2 = SpendGuard([Limit.usd(100.0, per="day", scope="tenant")], store=f"unix://{sock}")
print(
    "fresh guard sees",
    g2.spent(g2.limits[0], "acme"),
    "records",
    total,
    "match",
    abs(g2.spent(g2.limits[0], "acme") - total) < 1e-9,
)
srv.terminate()
srv.wait()
