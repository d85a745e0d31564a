"""Budget alerts while Redis is away: 3 worker processes of one machine (one state directory)
each cross 50 % and 80 % of a $1/day tenant limit on their local totals while Redis is paused
(SIGSTOP). Each threshold must be sent once on the machine, not once per worker; after Redis
is back, no threshold is sent again."""

import os
import signal
import subprocess
import sys
import time

if len(sys.argv) > 2 and sys.argv[1] == "worker":
    from llm_cost_hooks import BudgetExceeded
    from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard, SpendRequest

    events = []
    guard = SpendGuard(
        [Limit.usd(1.0, per="day", scope="tenant")],
        store=f"unix://{sys.argv[2]}",
        alerts=AlertManager([events.append], log=False, span_events=False),
    )
    req = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
    for _ in range(9):  # $0.90 in this worker alone
        guard.reserve(req).settle(0.1)
    if len(sys.argv) > 3:  # wait for Redis to be back, then settle once more
        time.sleep(float(sys.argv[3]))
        try:
            guard.reserve(req).settle(0.01)
        except BudgetExceeded:  # the replayed total is over the limit: refused, as it should be
            pass
    time.sleep(1)
    print(
        os.getpid(),
        sorted(f"{e.kind}:{getattr(e, 'threshold', None) or getattr(e, 'reason', None)}" for e in events),
        flush=True,
    )
    sys.exit(0)

REDIS = sys.argv[1]
sock = os.path.abspath("r.sock")
srv = subprocess.Popen(
    [REDIS, "--port", "0", "--unixsocket", sock, "--save", "", "--dir", os.getcwd()],
    stdout=subprocess.DEVNULL,
)
for _ in range(100):
    if os.path.exists(sock):
        break
    time.sleep(0.05)
time.sleep(0.3)
srv.send_signal(signal.SIGSTOP)
workers = [
    subprocess.Popen([sys.executable, __file__, "worker", sock, "25"], stdout=subprocess.PIPE, text=True)
    for _ in range(3)
]
time.sleep(15)
srv.send_signal(signal.SIGCONT)
outs = [w.communicate(timeout=120)[0].strip() for w in workers]
srv.terminate()
srv.wait()
sent = {}
for line in outs:
    print("worker", line)
    for k in line.split("[", 1)[1].strip("]").replace("'", "").split(", "):
        if k:
            sent[k] = sent.get(k, 0) + 1
print("alerts sent on this machine, per kind:threshold:", dict(sorted(sent.items())))
