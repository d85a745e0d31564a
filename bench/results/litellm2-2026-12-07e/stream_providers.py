"""What LiteLLM reports for a stream of an OpenAI-compatible provider, and what we record.

A local server answers Chat Completions like an OpenAI-compatible backend: SSE chunks, with a
usage chunk only when the request asks for it (``stream_options.include_usage``), or always
(``ALWAYS_USAGE=1``, as some servers do). For each provider prefix LiteLLM routes through its
OpenAI-compatible code, prints whether LiteLLM asked for usage, the counts it reported, and
the record's tokens and ``tokens_estimated``.

    PYTHONPATH=<package> LITELLM_LOCAL_MODEL_COST_MAP=True python stream_providers.py
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm

from llm_cost_hooks.litellm import CostHooksLogger

USAGE = {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163}
ALWAYS = os.environ.get("ALWAYS_USAGE") == "1"
asked: list[bool] = []


class Server(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        asked.append(include)
        base = {"id": "chatcmpl-1", "created": 1741570283, "model": body.get("model") or "m",
                "object": "chat.completion.chunk"}  # fmt: skip
        text = "Your parcel left the depot this morning."
        events = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]  # fmt: skip
        if include or ALWAYS:
            events.append({**base, "choices": [], "usage": USAGE})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


server = ThreadingHTTPServer(("127.0.0.1", 0), Server)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"

CASES: list[tuple[str, dict[str, Any]]] = [
    ("openai/gpt-4o", {"api_base": url + "/v1"}),
    ("hosted_vllm/gpt-4o", {"api_base": url + "/v1"}),
    ("openai_like/gpt-4o", {"api_base": url + "/v1"}),
    ("custom_openai/gpt-4o", {"api_base": url + "/v1"}),
    ("azure/gpt-4o", {"api_base": url, "api_version": "2024-10-21"}),
    ("groq/llama-3.1-8b-instant", {"api_base": url + "/openai/v1"}),
    ("deepseek/deepseek-chat", {"api_base": url + "/v1"}),
]
msgs = [{"role": "user", "content": "Where is my parcel? It was due yesterday."}]
print(
    f"litellm {litellm.__version__ if hasattr(litellm, '__version__') else ''} server always sends usage: {ALWAYS}"
)
for model, extra in CASES:
    for options in ({}, {"stream_options": {"include_usage": True}}):
        logger = CostHooksLogger(ledger="memory://")
        litellm.callbacks = [logger]
        asked.clear()
        try:
            chunks = list(
                litellm.completion(
                    model=model, messages=msgs, stream=True, api_key="sk-x", **extra, **options
                )
            )
        except Exception as exc:  # a provider this LiteLLM does not route
            print(f"{model:55} {options!s:45} ERROR {type(exc).__name__}: {str(exc)[:80]}")
            continue
        usage = getattr(chunks[-1], "usage", None) if chunks else None
        deadline = time.monotonic() + 10
        while not logger.records() and time.monotonic() < deadline:
            logger.flush(1)
            time.sleep(0.05)
        recs = logger.records()
        rec = recs[0] if recs else None
        served = usage is not None and usage.prompt_tokens == USAGE["prompt_tokens"]
        print(
            f"{model:55} {options!s:45} asked={asked} server_usage_seen={served} "
            + (
                f"record=({rec.input_tokens},{rec.output_tokens}) estimated={rec.tokens_estimated} "
                f"right={rec.tokens_estimated is not (any(asked) or ALWAYS)}"
                if rec
                else "record=None"
            )
        )
server.shutdown()
