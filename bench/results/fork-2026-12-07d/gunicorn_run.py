"""gunicorn --preload with sync workers, REQUESTS requests from 8 client threads, then
kill -TERM the master; counts records against calls (requests + 1 in the master).

    python gunicorn_run.py KIND WORKDIR [REQUESTS] [extra gunicorn args...]"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import counts, ledger_url  # noqa: E402

kind, work = sys.argv[1], Path(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 300
extra = sys.argv[4:]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = dict(os.environ, PYTHONPATH=str(HERE))
if kind != "sqlite":  # sqlite: the default ledger, llm_costs.db in the working directory
    env["LLM_COST_HOOKS_LEDGER"] = ledger_url(kind, work)
cmd = [
    sys.executable,
    "-m",
    "gunicorn",
    "--preload",
    "-w",
    "3",
    "-b",
    f"127.0.0.1:{port}",
    *extra,
    "gunicorn_app:app",
]
err = open(work / "gunicorn.err", "w")  # noqa: SIM115 - gunicorn writes it until it exits
proc = subprocess.Popen(cmd, cwd=work, env=env, stderr=err)
deadline = time.monotonic() + 60
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/warmup", timeout=5).read()
        break
    except OSError:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise
        time.sleep(0.2)


def get(i: int) -> bytes:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/req{i % 7}", timeout=30).read()


with concurrent.futures.ThreadPoolExecutor(8) as ex:
    pids = set(ex.map(get, range(n)))
proc.send_signal(signal.SIGTERM)
code = proc.wait(60)
err.close()
if kind == "sqlite":
    (work / "llm_costs.db").rename(work / "costs.db")
    for p in work.glob("llm_costs.db*"):
        p.rename(work / p.name.replace("llm_costs.db", "costs.db"))
result = counts(kind, work)
print(
    json.dumps(
        {
            "kind": kind,
            "extra": extra,
            "calls": n + 2,
            "worker_pids": len(pids),
            "master_exit": code,
            **result,
        }
    )
)
