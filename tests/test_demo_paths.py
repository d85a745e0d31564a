"""`llm-cost demo` on wrong arguments: an unwritable --ledger or --chart path and a --limit below
two are errors (exit 2, no traceback), and the demo never replaces a ledger it did not write
(the quick start's llm_costs.db)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llm_cost_hooks.cli import main


def test_demo_limit_below_two_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--limit", "0", "--quiet"])
    assert exit_info.value.code == 2
    assert "--limit" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["--ledger", "--chart"])
def test_demo_unwritable_path_is_an_error(
    tmp_path: Path, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    argv = ["demo", "--limit", "2", "--quiet", "--ledger", str(tmp_path / "out" / "d.db")]
    argv += [which, str(blocker / "x.png" if which == "--chart" else blocker / "d.db")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "a_file" in err and "Traceback" not in err


def test_demo_does_not_replace_a_ledger_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

    ledger = tmp_path / "llm_costs.db"  # the README's quick start ledger
    handler = CostCallbackHandler(ledger=f"sqlite:///{ledger}")
    FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"]).invoke(
        "hello", config={"callbacks": [handler]}
    )
    assert handler.flush(timeout=30)
    handler.tracker.close()
    with sqlite3.connect(ledger) as conn:
        before = conn.execute("SELECT count(*) FROM cost_records").fetchone()[0]
    assert before == 1
    assert main(["demo", "--limit", "2", "--quiet", "--ledger", str(ledger)]) == 2
    assert "holds cost records" in capsys.readouterr().err
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("SELECT count(*) FROM cost_records").fetchone()[0] == before


@pytest.mark.slow
def test_demo_with_otlp_shuts_telemetry_down_once(tmp_path: Path) -> None:
    """`llm-cost demo --otlp URL` ended with OpenTelemetry's "shutdown can only be called once"
    under the table: the demo shut the providers down, then the exit hook did again."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "LLM_COST_HOOKS_EXIT_TIMEOUT": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "llm_cost_hooks.cli", "demo", "--limit", "2", "--quiet"]
        + ["--ledger", str(tmp_path / "d.db"), "--otlp", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Took" in done.stdout
    assert "shutdown can only be called once" not in done.stdout + done.stderr
