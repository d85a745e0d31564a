"""Cost spans in a real Arize Phoenix server (OTLP/HTTP): the chat-model span arrives as an
LLM span with its model, token counts and the dollars of the ledger record.

Phoenix lives in its own virtualenv (.test-servers/phoenix-venv, ~800 MB), installed by
scripts/test.sh or by this test's set-up (integrations/phoenix/install_phoenix.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _servers import free_port, start_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="pip install -e '.[dev]' (otlp extra)")

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("LLM_COST_HOOKS_PHOENIX_VENV", ROOT / ".test-servers" / "phoenix-venv"))
EXAMPLE = ROOT / "integrations" / "phoenix" / "send_to_phoenix.py"


def _phoenix_binary() -> Path:
    binary = VENV / "bin" / "phoenix"
    if not binary.exists():
        out = subprocess.run(
            ["bash", str(ROOT / "integrations" / "phoenix" / "install_phoenix.sh"), str(VENV)],
            capture_output=True,
            text=True,
            timeout=1500,
        )
        if out.returncode != 0:
            pytest.fail(f"installing Phoenix into {VENV} failed:\n{out.stdout[-1500:]}\n{out.stderr[-3000:]}")
    return binary


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _http_ok(url: str):
    def check() -> bool:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200

    return check


def test_cost_spans_show_in_phoenix_as_llm_spans(tmp_path: Path) -> None:
    binary = _phoenix_binary()
    port, grpc_port = free_port(), free_port()
    env = {
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_WORKING_DIR": str(tmp_path / "phoenix"),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
    }
    base = f"http://127.0.0.1:{port}"
    server = start_process(
        [str(binary), "serve"], ready_check=_http_ok(f"{base}/healthz"), env=env, timeout=600
    )
    try:
        out = subprocess.run(
            [sys.executable, str(EXAMPLE), "--endpoint", base, "--project", "cost-test", "--calls", "3"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        )
        assert out.returncode == 0, out.stderr[-3000:]
        sent_usd = float(out.stdout.split("$", 1)[1].split(")", 1)[0])
        deadline = time.monotonic() + 60
        spans: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                spans = _get(f"{base}/v1/projects/cost-test/spans?limit=100")["data"]
            except OSError:
                spans = []
            if sum(s["span_kind"] == "LLM" for s in spans) >= 3:
                break
            time.sleep(1)
        llm = [s for s in spans if s["span_kind"] == "LLM"]
        assert len(llm) == 3, [(s["name"], s["span_kind"]) for s in spans]
        for span in llm:
            attrs = span["attributes"]
            assert attrs["llm.model_name"] == "gpt-4o-mini"
            assert attrs["llm.token_count.prompt"] > 0 and attrs["llm.token_count.completion"] > 0
            assert attrs["llm_cost_hooks.tenant"] == "acme"
            assert attrs["llm_cost_hooks.price_map.version"].startswith(("litellm-", "fetched-"))
        assert sum(s["attributes"]["gen_ai.usage.cost"] for s in llm) == pytest.approx(sent_usd, rel=1e-3)
        assert {s["name"] for s in spans if s["span_kind"] != "LLM"} >= {"chain RunnableSequence"}
    finally:
        server.stop()
