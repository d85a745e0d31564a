"""An application that shuts down the providers configure_otel returned, as OpenTelemetry's
own examples do, exits without the SDK's "shutdown can only be called once" warnings: the
exit hook leaves providers that are already shut down alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk", reason="pip install '.[telemetry]'")

SCRIPT = textwrap.dedent(
    """
    import sys
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.telemetry import OTelObserver, configure_otel

    tp, mp = configure_otel("shutdown-check", exporter="console", metrics=True)
    handler = CostCallbackHandler(
        ledger=sys.argv[1], observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)]
    )
    FakeChatModelWithUsage().invoke("hi", config={"callbacks": [handler]})
    handler.flush()
    if sys.argv[2] == "app-shuts-down":
        tp.shutdown()
        mp.shutdown()
    """
)


@pytest.mark.parametrize("mode", ["app-shuts-down", "exit-hook-only"])
def test_exit_after_the_application_shut_its_providers_down_is_quiet(tmp_path: Path, mode: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), f"sqlite:///{tmp_path / 'costs.db'}", mode],
        capture_output=True,
        text=True,
        timeout=120,
        # The exit hook's 5 s deadline is for users; on a loaded machine the console
        # exporters may need longer to print what the assertions below look for.
        env={**os.environ, "LLM_COST_HOOKS_EXIT_TIMEOUT": "60"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "shutdown can only be called once" not in out.stderr
    assert "already shutdown" not in out.stderr
    # The console exporters ran either way: the call's span and its metrics were printed.
    assert '"name": "chat gpt-4o-mini"' in out.stdout
    assert "llm_cost_hooks.cost" in out.stdout
