"""ChatAnthropic against a local server answering like Anthropic's Messages API (JSON, and the
SSE events ``message_start`` ... ``message_delta``): a streamed call with 1-hour cache writes
costs what the same call costs unstreamed. langchain-anthropic builds a stream's usage from
``message_delta``, whose usage has no ``cache_creation`` split by lifetime."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from _servers import serve_http

from llm_cost_hooks import PriceBook

pytest.importorskip("langchain_anthropic")

_MODEL = "claude-sonnet-4-5-20250929"
_INPUT, _WRITES, _READ, _OUTPUT = 21, 2051, 1800, 503


def _split(body: dict[str, Any]) -> tuple[int, int]:
    """(5-minute, 1-hour) writes: as the request's cache_control markers ask."""
    ttls = {
        block["cache_control"].get("ttl", "5m")
        for part in [body.get("system"), *[m.get("content") for m in body["messages"]]]
        for block in (part if isinstance(part, list) else [])
        if isinstance(block, dict) and block.get("cache_control")
    }
    if ttls == {"1h", "5m"}:
        return 1000, _WRITES - 1000
    return (0, _WRITES) if ttls == {"1h"} else (_WRITES, 0)


class _Anthropic(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        five, hour = _split(body)
        usage = {"input_tokens": _INPUT, "cache_creation_input_tokens": _WRITES,
                 "cache_read_input_tokens": _READ, "output_tokens": _OUTPUT, "service_tier": "standard",
                 "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour}}  # fmt: skip
        text = "Your parcel left the depot this morning."
        message = {"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant", "model": _MODEL,
                   "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": usage}  # fmt: skip
        if not body.get("stream"):
            data = json.dumps(message).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        delta_usage = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens",
                                             "cache_read_input_tokens", "output_tokens")}  # fmt: skip
        events = [
            ("message_start", {"type": "message_start", "message": {
                **message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": text}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "usage": delta_usage,
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None}}),
            ("message_stop", {"type": "message_stop"}),
        ]  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[str]:
    with serve_http(_Anthropic) as url:
        yield url


def _request(*ttls: str | None) -> list[Any]:
    from langchain_core.messages import HumanMessage, SystemMessage

    blocks = [
        {"type": "text", "text": f"Refund policy, part {n}. " * 40,
         "cache_control": {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}}
        for n, ttl in enumerate(ttls)
    ]  # fmt: skip
    return [SystemMessage(content=blocks), HumanMessage(content="Where is my parcel?")]


def _hand_priced(five: int, hour: int) -> float:
    with open(PriceBook.default().price_map_path, encoding="utf-8") as f:
        rates = json.load(f)[_MODEL]
    return (
        _INPUT * rates["input_cost_per_token"]
        + five * rates["cache_creation_input_token_cost"]
        + hour * rates["cache_creation_input_token_cost_above_1hr"]
        + _READ * rates["cache_read_input_token_cost"]
        + _OUTPUT * rates["output_cost_per_token"]
    )


@pytest.mark.parametrize(("ttls", "split"), [(("1h",), (0, _WRITES)), ((None,), (_WRITES, 0))])
@pytest.mark.parametrize("stream", [False, True])
def test_a_streamed_call_bills_its_cache_writes_at_their_lifetime_rate(
    anthropic_server: str, ttls: tuple[str | None, ...], split: tuple[int, int], stream: bool
) -> None:
    from langchain_anthropic import ChatAnthropic

    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger="memory://")
    model = ChatAnthropic(
        model="claude-sonnet-4-5", base_url=anthropic_server, api_key="sk-ant-test", max_retries=0
    )
    config: Any = {"callbacks": [handler]}
    if stream:
        list(model.stream(_request(*ttls), config=config))
    else:
        model.invoke(_request(*ttls), config=config)
    (rec,) = handler.records()
    assert rec.model == _MODEL
    assert (rec.input_tokens, rec.cache_write_tokens, rec.cache_read_tokens) == (
        _INPUT + _WRITES + _READ, _WRITES, _READ,
    )  # fmt: skip
    assert rec.cost_usd == pytest.approx(_hand_priced(*split), rel=1e-12)


@pytest.mark.parametrize("stream", [False, True])
def test_a_stream_mixing_lifetimes_is_flagged_estimated(
    anthropic_server: str, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """1-hour and 5-minute markers in one request: the stream's usage does not split the
    writes (langchain-anthropic drops message_start's split), so they are recorded at the
    5-minute rate, the least they cost, and flagged, never silently billed short."""
    from langchain_anthropic import ChatAnthropic

    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger="memory://")
    model = ChatAnthropic(
        model="claude-sonnet-4-5", base_url=anthropic_server, api_key="sk-ant-test", max_retries=0
    )
    config: Any = {"callbacks": [handler]}
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        for _ in range(2):
            if stream:
                list(model.stream(_request("1h", None), config=config))
            else:
                model.invoke(_request("1h", None), config=config)
    records = handler.records()
    assert len(records) == 2
    warned = [r for r in caplog.records if "5-minute cache markers" in r.getMessage()]
    for rec in records:
        assert rec.cache_write_tokens == _WRITES
        if stream:
            assert rec.cost_usd == pytest.approx(_hand_priced(_WRITES, 0), rel=1e-12)
            assert rec.price_estimated and rec.tags.get("cache_write_lifetimes") == "unknown"
        else:  # the unstreamed usage carries the split: exact
            assert rec.cost_usd == pytest.approx(_hand_priced(1000, _WRITES - 1000), rel=1e-12)
            assert not rec.price_estimated and "cache_write_lifetimes" not in rec.tags
    assert len(warned) == (1 if stream else 0)
