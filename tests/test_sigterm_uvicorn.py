"""A process served by uvicorn (the LiteLLM proxy is one): uvicorn handles SIGTERM, shuts
down gracefully, then puts back the handler it found (the default one) and raises the
signal again, which ends the process before ``atexit``. The ledger made while the server
ran must still write its records and log where they went."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from _servers import free_port

from llm_cost_hooks.ledger import open_ledger

pytest.importorskip("uvicorn")

# The ledger is made at application start-up, inside uvicorn's signal handling, as the
# proxy loads its callback then. Each request queues one record and answers at once.
APP = """
import logging
import sys
import uvicorn
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import open_ledger

state = {}

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["ledger"] = open_ledger(sys.argv[2])
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    state["ledger"].write(CostRecord(model="gpt-4o-mini", tenant="acme", input_tokens=10, output_tokens=2))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

logging.basicConfig(level=logging.INFO)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def test_records_queued_when_uvicorn_gets_sigterm_are_written(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "llm_costs.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_COST_HOOKS_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", APP, str(port), f"sqlite:///{db}"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        sent = 0
        while sent < 20:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    assert r.status == 200
                sent += 1
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, (proc.returncode, err[-2000:])  # not killed by the signal
    closed = [line for line in err.splitlines() if "closed:" in line]
    assert closed and "20 records written, 0 set aside" in closed[-1], err[-2000:]
    ledger = open_ledger(f"sqlite:///{db}")
    try:
        assert len(ledger.records()) == 20
    finally:
        ledger.close()
