"""From the wheel (with the litellm extra): an API key, api_base credentials or an
Authorization header passed to litellm.completion must not reach the ledger rows, spans,
our log lines or the dead-letter files; prompt and answer text neither. Run from an empty
directory with LLM_COST_HOOKS_CACHE_DIR pointing into it."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

SECRET = "sk-SECRETKEY-0123456789"
HEADER = "HDRSECRET-987"
BASEPW = "BASEPW-555"
PROMPT = "PROMPTTEXT-my-card-number-4111"
ANSWER = "ANSWERTEXT-arrives-friday"


class Stub(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if "/fail/" in self.path:
            body = json.dumps({"error": {"message": "bad key", "type": "invalid_request_error"}}).encode()
            self.send_response(401)
        else:
            body = json.dumps(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "gpt-4o-mini",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": ANSWER},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
                }
            ).encode()
            self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


srv = HTTPServer(("127.0.0.1", 0), Stub)
threading.Thread(target=srv.serve_forever, daemon=True).start()
port = srv.server_port

lines: list[str] = []


class Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        lines.append(self.format(record))


keep = Keep()
keep.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
logging.getLogger("llm_cost_hooks").addHandler(keep)
logging.getLogger("llm_cost_hooks").setLevel(logging.DEBUG)

import litellm  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from llm_cost_hooks.litellm import CostHooksLogger, install, uninstall  # noqa: E402
from llm_cost_hooks.telemetry import OTelObserver  # noqa: E402

exporter = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(exporter))
logger = install(CostHooksLogger(ledger="sqlite:///audit.db", observers=[OTelObserver(tracer_provider=tp)]))
errors = []
for path in ("v1", "fail/v1"):
    try:
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": PROMPT}],
            api_key=SECRET,
            api_base=f"http://user:{BASEPW}@127.0.0.1:{port}/{path}",
            extra_headers={"Authorization": "Bearer " + HEADER},
            metadata={"tenant_id": "acme"},
            num_retries=0,
        )
    except Exception as exc:
        errors.append(type(exc).__name__)
logger.flush()
uninstall(logger)

rows = []
db = sqlite3.connect("audit.db")
for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
    rows += [json.dumps(r, default=str) for r in db.execute(f'SELECT * FROM "{table}"')]
spans = [
    json.dumps(dict(s.attributes or {}), default=str)
    + json.dumps([dict(e.attributes or {}) for e in s.events])
    for s in exporter.get_finished_spans()
]
files = [
    p.read_text(errors="replace")
    for p in Path(".").rglob("*")
    if p.is_file()
    and p.suffix != ".db"
    and "wal" not in p.name
    and "shm" not in p.name
    and p.name != Path(__file__).name
]
where = {
    "ledger rows": rows,
    "span attributes": spans,
    "our log lines": lines,
    "files left (dead letters)": files,
}
bad = 0
for name, items in where.items():
    blob = "\n".join(items)
    for needle, what in (
        (SECRET, "api key"),
        (HEADER, "auth header"),
        (BASEPW, "api_base password"),
        (PROMPT, "prompt"),
        (ANSWER, "answer"),
    ):
        if needle in blob:
            bad += 1
            print(f"LEAK: {what} in {name}")
print(f"records={len(rows)} spans={len(spans)} log_lines={len(lines)} files={len(files)} errors={errors}")
print("leaks:", bad)
sys.exit(1 if bad else 0)
