"""From the wheel: does an API key, an Authorization header or the prompt/answer text reach
the ledger, the spans, the logs or the error messages? Run from an empty directory."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = "sk-SECRETKEY-0123456789"
HEADER = "Bearer HDRSECRET-987"
PROMPT = "PROMPTTEXT-my-card-number-4111"
ANSWER = "ANSWERTEXT-arrives-friday"
TENANT = "acme\nINFO forged line"


class Stub(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.endswith("/fail/chat/completions"):
            body = json.dumps(
                {"error": {"message": "bad key " + SECRET, "type": "invalid_request_error"}}
            ).encode()
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
base = f"http://127.0.0.1:{srv.server_port}"

log_lines: list[str] = []


class Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log_lines.append(self.format(record))


h = Keep()
h.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
logging.getLogger().addHandler(h)
logging.getLogger().setLevel(logging.DEBUG)
for noisy in ("httpx", "httpcore", "openai", "urllib3"):
    logging.getLogger(noisy).setLevel(logging.WARNING)

from langchain_openai import ChatOpenAI  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from llm_cost_hooks.budget import Limit, SpendGuard  # noqa: E402
from llm_cost_hooks.langchain import CostCallbackHandler  # noqa: E402
from llm_cost_hooks.telemetry import OTelObserver  # noqa: E402

exporter = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(exporter))
handler = CostCallbackHandler(ledger="sqlite:///audit.db", observers=[OTelObserver(tracer_provider=tp)])
errors: list[str] = []
for path in ("/v1", "/fail"):
    llm = ChatOpenAI(
        model="gpt-4o-mini",
        api_key=SECRET,
        base_url=base + path,
        max_retries=0,
        default_headers={"Authorization": HEADER, "X-Api-Key": SECRET},
    )
    try:
        llm.invoke(
            PROMPT, config={"callbacks": [handler], "metadata": {"tenant_id": TENANT, "feature": "f<script>"}}
        )
    except Exception as exc:  # the provider's own error: not ours to scrub, only reported
        errors.append(f"provider error ({type(exc).__name__}) carries the key: {SECRET in str(exc)}")

# A budget refusal: its message must not carry the prompt.
guard = SpendGuard([Limit.usd(1e-9, per="request", scope="request", name="tiny")])
from llm_cost_hooks.budget import SpendRequest  # noqa: E402

try:
    guard.reserve(SpendRequest(model="gpt-4o-mini", input_tokens=10, tenant=TENANT))
except Exception as exc:
    errors.append(f"refusal: {exc}")
handler.flush()
handler.close() if hasattr(handler, "close") else None

db = sqlite3.connect("audit.db")
rows = []
for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
    for row in db.execute(f'SELECT * FROM "{table}"'):
        rows.append(json.dumps(row, default=str))
spans = [
    json.dumps(dict(s.attributes or {}), default=str)
    + json.dumps([dict(e.attributes or {}) for e in s.events], default=str)
    for s in exporter.get_finished_spans()
]
where = {
    "ledger rows": rows,
    "span attributes": spans,
    "log lines": log_lines,
    "our error messages": [e for e in errors if e.startswith("refusal")],
}
bad = 0
for name, items in where.items():
    blob = "\n".join(items)
    for needle, what in (
        (SECRET, "api key"),
        ("HDRSECRET", "auth header"),
        (PROMPT, "prompt text"),
        (ANSWER, "answer text"),
    ):
        if needle in blob:
            bad += 1
            print(f"LEAK: {what} in {name}")
forged = [line for line in log_lines if line.startswith("INFO forged")]
print(f"records={len(rows)} spans={len(spans)} log_lines={len(log_lines)} forged_log_lines={len(forged)}")
for e in errors:
    print(e.replace("\n", "\\n")[:300])
print("leaks:", bad)
sys.exit(1 if bad or forged else 0)
