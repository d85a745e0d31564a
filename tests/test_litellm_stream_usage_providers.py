"""Streams of OpenAI-compatible providers (``openai/`` with ``api_base``, ``hosted_vllm/``,
``azure/``) against a local server: a stream whose server sent no counts is recorded with our
count, flagged ``tokens_estimated`` (LiteLLM 1.110 fills such a stream with its own count);
a stream whose server sent counts, asked or not, is recorded with them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from _servers import serve_http

_USAGE = {"prompt_tokens": 1117, "completion_tokens": 46, "total_tokens": 1163}


def _handler(always_usage: bool) -> type[BaseHTTPRequestHandler]:
    class Server(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            base = {"id": "chatcmpl-1", "created": 1741570283, "model": body.get("model") or "gpt-4o",
                    "object": "chat.completion.chunk"}  # fmt: skip
            events = [
                {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
                {**base, "choices": [{"index": 0, "delta": {"content": "It left the depot."}, "finish_reason": None}]},
                {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            ]  # fmt: skip
            if include or always_usage:
                events.append({**base, "choices": [], "usage": _USAGE})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for event in events:
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Server


@pytest.fixture(scope="module")
def asked_only() -> Iterator[str]:
    with serve_http(_handler(always_usage=False)) as url:
        yield url


@pytest.fixture(scope="module")
def always() -> Iterator[str]:
    with serve_http(_handler(always_usage=True)) as url:
        yield url


def _record(litellm: Any, model: str, **kwargs: Any) -> Any:
    from conftest import _drain_litellm_logging

    from llm_cost_hooks.litellm import CostHooksLogger

    cost_logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [cost_logger]
    messages = [{"role": "user", "content": "Where is my parcel? It was due yesterday."}]
    list(litellm.completion(model=model, messages=messages, stream=True, api_key="sk-test", **kwargs))
    _drain_litellm_logging()
    assert cost_logger.flush(5)
    (rec,) = cost_logger.records()
    return rec


_PROVIDERS = [
    ("openai/gpt-4o", "/v1", {}),
    ("hosted_vllm/gpt-4o", "/v1", {}),
    ("azure/gpt-4o", "", {"api_version": "2024-10-21"}),
]


@pytest.mark.parametrize(("model", "path", "extra"), _PROVIDERS)
def test_a_stream_the_server_sent_no_counts_for_is_estimated(
    litellm_clean: Any, asked_only: str, model: str, path: str, extra: dict[str, Any]
) -> None:
    rec = _record(litellm_clean, model, api_base=asked_only + path, **extra)
    assert rec.tokens_estimated
    assert rec.input_tokens > 0 and rec.output_tokens > 0
    assert (rec.input_tokens, rec.output_tokens) != (1117, 46)


@pytest.mark.parametrize(("model", "path", "extra"), _PROVIDERS)
def test_a_stream_with_include_usage_keeps_the_servers_counts(
    litellm_clean: Any, asked_only: str, model: str, path: str, extra: dict[str, Any]
) -> None:
    rec = _record(
        litellm_clean, model, api_base=asked_only + path, stream_options={"include_usage": True}, **extra
    )
    assert not rec.tokens_estimated
    assert (rec.input_tokens, rec.output_tokens) == (1117, 46)


@pytest.mark.parametrize(("model", "path", "extra"), _PROVIDERS)
def test_counts_a_server_sends_unasked_are_the_servers(
    litellm_clean: Any, always: str, model: str, path: str, extra: dict[str, Any]
) -> None:
    # e.g. vLLM started with --enable-force-include-usage: usage in every stream.
    rec = _record(litellm_clean, model, api_base=always + path, **extra)
    assert not rec.tokens_estimated
    assert (rec.input_tokens, rec.output_tokens) == (1117, 46)
