"""A LiteLLM call whose event loop ends right after it returns (a script or a job running
``asyncio.run(litellm.acompletion(...))``) is still recorded: no cost record is lost."""

from __future__ import annotations

import asyncio
from typing import Any


def test_acompletion_recorded_when_the_loop_ends_at_once(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [logger]
    answer = asyncio.run(
        litellm_clean.acompletion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "When will my card arrive?"}],
            mock_response="Within 3-5 business days.",
            metadata={"tenant_id": "acme"},
        )
    )
    assert answer.choices[0].message.content == "Within 3-5 business days."
    logger.flush()
    records = logger.records()
    assert len(records) == 1
    assert records[0].tenant == "acme" and records[0].cost_usd > 0


_SCRIPT = """
import asyncio, sys
import litellm
from llm_cost_hooks.litellm import CostHooksLogger

litellm.callbacks = [CostHooksLogger(ledger=sys.argv[1])]
for i in range(3):
    asyncio.run(litellm.acompletion(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"question {i}"}],
        mock_response="an answer", metadata={"tenant_id": "acme"},
    ))
"""


def test_each_asyncio_run_call_is_in_the_ledger_after_exit(tmp_path: Any) -> None:
    """The last call's event is still queued when the script ends: it is written before
    the ledger closes, not set aside as written after the close."""
    import os
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "costs.db"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, f"sqlite:///{db}"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM cost_records").fetchone()[0] == 3
    assert not list(tmp_path.glob("*dead-letter*")), done.stderr[-2000:]
