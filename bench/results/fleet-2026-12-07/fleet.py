"""Drive a pre-forked fleet: handler, ledger and spend guard made in the parent, then fork."""

import argparse
import json
import multiprocessing as mp
import os
import signal
import time

import litellm

from llm_cost_hooks.budget import AlertManager, CallbackSink, Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel
from llm_cost_hooks.litellm import CostHooksLogger

p = argparse.ArgumentParser()
p.add_argument("--ledger", required=True)
p.add_argument("--redis", required=True)
p.add_argument("--workers", type=int, default=3)
p.add_argument("--n", type=int, default=40)
p.add_argument("--end", default="normal", choices=["normal", "sigterm", "os_exit"])
p.add_argument("--limit", type=float, default=100.0)
p.add_argument("--tenant", default=None, help="one tenant for all workers (else one per worker)")
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--out", default="out")
p.add_argument("--fault", default=None, help="shell command run FAULT_AT s after the fork")
p.add_argument("--fault-at", type=float, default=2.0)
p.add_argument("--restore", default=None, help="shell command run RESTORE_AT s after the fork")
p.add_argument("--restore-at", type=float, default=10.0)
p.add_argument("--host", default=os.environ.get("FLEET_HOST", "host-a"))
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)


def on_alert(ev):
    with open(f"{a.out}/alerts.jsonl", "a") as f:
        f.write(
            json.dumps(
                {
                    "t": time.strftime("%T") + f".{int(time.time() * 1000) % 1000:03d}",
                    "pid": os.getpid(),
                    "kind": ev.kind,
                    "threshold": ev.threshold,
                    "reason": ev.reason,
                    "scope_value": ev.scope_value,
                }
            )
            + "\n"
        )


guard = SpendGuard(
    [Limit.usd(a.limit, per="day", scope="tenant", name="daily")],
    store=a.redis,
    alerts=AlertManager(sinks=[CallbackSink(on_alert)], log=False),
)
handler = CostCallbackHandler(ledger=a.ledger)
logger = CostHooksLogger(ledger=handler.ledger, guard=guard)
litellm.callbacks = [logger]
model = GuardedChatModel(
    inner=FakeChatModelWithUsage(
        model_name="gpt-4o-mini", max_tokens=40, responses=["Your card arrives in 3-5 days."]
    ),
    guard=guard,
)


def work(i):
    tenant = a.tenant or f"t{i}"
    pid = os.getpid()
    meta = {"tenant_id": tenant, "feature": a.host, "cost_tags": {"pid": str(pid), "host": a.host}}
    made = 0
    failed = 0
    for k in range(a.n):
        try:
            if k % 2 == 0:
                model.invoke("When will my card arrive?", config={"callbacks": [handler], "metadata": meta})
            else:
                logger.completion(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "Where is my order?"}],
                    mock_response="It is on its way.",
                    max_tokens=40,
                    metadata=meta,
                )
            made += 1
        except Exception as exc:
            failed += 1
            with open(f"{a.out}/errors.txt", "a") as f:
                f.write(f"{pid} {type(exc).__name__}: {exc}\n")
        if a.sleep:
            time.sleep(a.sleep)
    with open(f"{a.out}/calls.jsonl", "a") as f:
        f.write(
            json.dumps({"pid": pid, "tenant": tenant, "made": made, "failed": failed, "host": a.host}) + "\n"
        )
    if a.end == "sigterm":
        os.kill(pid, signal.SIGTERM)
        time.sleep(30)
    elif a.end == "os_exit":
        handler.flush()
        os._exit(0)


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=work, args=(i,)) for i in range(a.workers)]
    for pr in procs:
        pr.start()
    import subprocess
    import threading

    def at(t, cmd):
        time.sleep(t)
        subprocess.run(cmd, shell=True)
        print(f"{time.strftime('%T')} ran: {cmd}", flush=True)

    for t, cmd in ((a.fault_at, a.fault), (a.restore_at, a.restore)):
        if cmd:
            threading.Thread(target=at, args=(t, cmd), daemon=True).start()
    for pr in procs:
        pr.join(120)
    print("exitcodes", [pr.exitcode for pr in procs])
