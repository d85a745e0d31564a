"""celery worker --pool=prefork -c 3, TASKS tasks of 5 model calls each, then kill -TERM
the worker (a warm shutdown); counts records against calls.

    python celery_run.py KIND WORKDIR [TASKS] [extra worker args...]"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import counts, ledger_url  # noqa: E402

kind, work = sys.argv[1], Path(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 60
extra = sys.argv[4:]
for d in ("broker", "processed", "results"):
    (work / d).mkdir(exist_ok=True)
os.environ["FORK_WORK"] = str(work)
env = dict(os.environ, PYTHONPATH=str(HERE))
if kind != "sqlite":
    env["LLM_COST_HOOKS_LEDGER"] = ledger_url(kind, work)
os.chdir(work)  # the default ledger: llm_costs.db here
if kind != "sqlite":
    os.environ["LLM_COST_HOOKS_LEDGER"] = ledger_url(kind, work)
import celery_tasks  # noqa: E402  (the client: sends only)

cmd = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "celery_tasks",
    "worker",
    "--pool=prefork",
    "-c",
    "3",
    "--loglevel=INFO",
    *extra,
]
out = open(work / "celery.out", "w")  # noqa: SIM115 - the worker writes it until it exits
proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
results = [celery_tasks.ask.delay(f"task{i % 5}", 5) for i in range(n)]
done = sum(r.get(timeout=120) for r in results)
if os.environ.get("FORK_KILL_GROUP"):  # SIGTERM to every process, as systemd's default KillMode does
    os.killpg(proc.pid, signal.SIGTERM)
else:
    proc.send_signal(signal.SIGTERM)
code = proc.wait(120)
out.close()
if kind == "sqlite":
    for p in work.glob("llm_costs.db*"):
        p.rename(work / p.name.replace("llm_costs.db", "costs.db"))
print(
    json.dumps(
        {
            "kind": kind,
            "extra": extra,
            "calls": n * 5,
            "done": done,
            "worker_exit": code,
            **counts(kind, work),
        }
    )
)
