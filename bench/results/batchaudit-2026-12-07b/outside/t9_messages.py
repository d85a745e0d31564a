# LiteLLM's Anthropic /v1/messages API (what Claude Code sends through the proxy) against a
# local Anthropic-format endpoint that reports cache reads and writes.
import asyncio
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import litellm

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.litellm import CostHooksLogger

USAGE = {
    "input_tokens": 500,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 500,
    "output_tokens": 100,
}


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        body = json.dumps(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": USAGE,
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{srv.server_address[1]}"
d = tempfile.mkdtemp()
lg = CostHooksLogger(ledger=f"sqlite:///{d}/l.db")
litellm.callbacks = [lg]


async def main():
    r1 = await litellm.anthropic.messages.acreate(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=100,
        api_base=base,
        api_key="sk-test",
    )
    r2 = await litellm.acompletion(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=100,
        api_base=base,
        api_key="sk-test",
    )
    return r1, r2


r1, r2 = asyncio.run(main())
print("messages usage:", r1.get("usage") if isinstance(r1, dict) else getattr(r1, "usage", None))
print("acompletion response_cost:", r2._hidden_params.get("response_cost"))
time.sleep(2)
lg.flush() if hasattr(lg, "flush") else None
pb = PriceBook.default()
print(
    "expected:",
    pb.cost(
        TokenUsage(input_tokens=3000, output_tokens=100, cache_read_tokens=2000, cache_write_tokens=500),
        "claude-sonnet-4-5",
    ).total,
)
for rec in lg.tracker.ledger.records():
    print(
        rec.tags.get("litellm.call_type"),
        rec.model,
        "in",
        rec.input_tokens,
        "read",
        rec.cache_read_tokens,
        "write",
        rec.cache_write_tokens,
        "out",
        rec.output_tokens,
        "cost",
        rec.cost_usd,
        "saved",
        rec.saved_usd,
        rec.tokens_estimated,
        rec.tags,
    )
