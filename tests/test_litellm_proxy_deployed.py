"""The shipped proxy callback (integrations/litellm-proxy/cost_hooks_callback.py) as a
deployed proxy loads it: the proxy sets up no Python logging, and `litellm --num_workers N`
runs N worker processes that each load the callback."""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import ConfigurationError

INTEGRATION = Path(__file__).resolve().parent.parent / "integrations" / "litellm-proxy"
CALLBACK = INTEGRATION / "cost_hooks_callback.py"
LIMITS = '[{"metric": "usd", "amount": 5, "period": "day", "scope": "tenant"}]'

# One call through the callback in a process whose logging nobody configured, as in the proxy.
_ONE_CALL = """
import litellm, cost_hooks_callback
litellm.callbacks = [cost_hooks_callback.proxy_handler_instance]
litellm.completion(model="gpt-4o-mini", mock_response="CANARY-ANSWER-7731",
                   messages=[{"role": "user", "content": "CANARY-PROMPT-5512"}],
                   metadata={"tenant_id": "acme"})
"""


def test_the_ledger_closed_line_reaches_the_proxy_log(tmp_path: Path) -> None:
    shutil.copy(CALLBACK, tmp_path / "cost_hooks_callback.py")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LLM_COST_HOOKS_", "LITELLM_LOG", "PYTHON"))
    }
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LLM_COST_HOOKS_LEDGER=f"sqlite:///{tmp_path / 'llm_costs.db'}",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(INTEGRATION.parent.parent)]),
    )
    done = subprocess.run(
        [sys.executable, "-c", _ONE_CALL], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    closed = [line for line in done.stderr.splitlines() if "closed:" in line]
    assert len(closed) == 1, done.stderr[-2000:]
    assert "1 records written, 0 set aside in" in closed[0] and closed[0].endswith(", 0 lost")
    assert "CANARY" not in done.stderr + done.stdout


def _load_callback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict[str, Any]:
    from llm_cost_hooks import _settings

    for name in [n for n in os.environ if n.startswith("LLM_COST_HOOKS_PROXY_")] + ["NUM_WORKERS"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_COST_HOOKS_LEDGER", "memory://")
    monkeypatch.setenv("LLM_COST_HOOKS_PROXY_DEDUP", "off")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The settings are read once per process: without this, the ledger variable above is
    # not seen and the callback opens the default ledger, a file in the working directory.
    monkeypatch.setattr(_settings, "_settings", None)
    monkeypatch.chdir(tmp_path)  # whatever it opens lands here, not in the checkout
    return runpy.run_path(str(CALLBACK))


def test_in_memory_budgets_with_several_workers_refuse_to_start(
    litellm_clean: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Measured through the real proxy: --num_workers 2 let a tenant spend 2.2 times its limit.
    with pytest.raises(
        ConfigurationError, match=r"--num_workers 2 .*LLM_COST_HOOKS_PROXY_BUDGET_STORE=redis://"
    ):
        _load_callback(monkeypatch, tmp_path, LLM_COST_HOOKS_PROXY_LIMITS=LIMITS, NUM_WORKERS="2")


@pytest.mark.parametrize("workers", ["", "1"])
def test_in_memory_budgets_with_one_worker_start(
    litellm_clean: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, workers: str
) -> None:
    from llm_cost_hooks.ledger import MemoryLedger

    loaded = _load_callback(monkeypatch, tmp_path, LLM_COST_HOOKS_PROXY_LIMITS=LIMITS, NUM_WORKERS=workers)
    assert loaded["proxy_handler_instance"].guard is not None
    # The ledger the test set, not a file in the working directory (the checkout's root).
    assert isinstance(loaded["proxy_handler_instance"].tracker.ledger, MemoryLedger)
    # Several workers without budgets are fine too.
    loaded = _load_callback(monkeypatch, tmp_path, NUM_WORKERS="2")
    assert loaded["proxy_handler_instance"].guard is None
    assert isinstance(loaded["proxy_handler_instance"].tracker.ledger, MemoryLedger)
    assert not list(tmp_path.glob("llm_costs.db*"))
