"""A fail-open spend guard whose Redis is down and whose outage journal cannot grow (a full
disk): calls go on, the settlements are kept in memory and replayed once Redis is back, and
the log says once that the journal is not on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _servers import RedisServer, ServerStartError

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[1]  # the package under test, in the child too

_CHILD = """
import json, logging, os, resource, signal, sys
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail with EFBIG
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel

guard = SpendGuard([Limit.usd(100, per="day", scope="tenant")], store=sys.argv[1])
model = GuardedChatModel(inner=FakeChatModelWithUsage(model_name="gpt-4o", responses=["A."]), guard=guard)
handler = CostCallbackHandler(ledger="memory://")
cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
model.invoke("q0", config=cfg)  # Redis is down: the outage is declared, the journal file made
journal = guard.store.journal
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(journal.path), resource.RLIM_INFINITY))
errors = []
for i in range(1, 10):
    try:
        model.invoke(f"q{i}", config=cfg)
    except Exception as exc:
        errors.append(type(exc).__name__)
print(json.dumps({"errors": errors, "pending": journal.pending,
                  "reserved": guard.usage(guard.limits[0], "acme")[1]}), flush=True)
sys.stdin.readline()  # the test starts Redis again
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
import time; time.sleep(1.5)  # past retry_after (1 s): the next call tries Redis
model.invoke("q10", config=cfg)  # reaches Redis: the journal is replayed first
records = handler.records()
print(json.dumps({"pending": journal.pending, "spent": guard.usage(guard.limits[0], "acme")[0],
                  "recorded": sum(r.cost_usd for r in records), "failed": sum(not r.success for r in records)}),
      flush=True)
"""


def test_a_full_disk_under_the_outage_journal_breaks_no_call_and_loses_no_spend(tmp_path: Path) -> None:
    # The journal's write raised into the guarded call: each call failed with OSError, its
    # settlement was neither journalled nor kept, and its hold stayed reserved.
    server = RedisServer()
    try:
        server.start()
    except ServerStartError as exc:
        pytest.fail(f"cannot start the Redis Stack server: {exc}", pytrace=False)
    try:
        server.stop()
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, server.url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=str(tmp_path),
            env={**os.environ, "PYTHONPATH": str(ROOT), "LLM_COST_HOOKS_STATE_DIR": str(tmp_path / "state")},
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        assert line, proc.communicate(timeout=60)[1][-3000:]
        during = json.loads(line)
        server.start()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        after = json.loads(out.splitlines()[-1])
    finally:
        server.close()
    assert during["errors"] == [], err[-3000:]
    assert during["pending"] == 10  # every settlement kept (in memory) for the replay
    assert during["reserved"] == 0  # no hold left behind
    assert after["failed"] == 0 and after["pending"] == 0
    assert abs(after["spent"] - after["recorded"]) < 1e-9  # the outage's spend reached Redis, once
    assert err.count("spend journal") == 1, err[-3000:]  # said once
