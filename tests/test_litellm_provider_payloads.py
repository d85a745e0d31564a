"""LiteLLM calls to a local server that answers with the bodies of OpenAI's Chat Completions
API (recorded shapes: a dated ``model``, ``prompt_tokens_details`` with cached and audio
tokens, ``completion_tokens_details``; SSE chunks with ``stream_options.include_usage``):
each call is billed as the model that answered, to the dollar of the price map."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from _servers import serve_http

from llm_cost_hooks import PriceBook
from llm_cost_hooks.litellm import usage_from_litellm as usage_from_openai

# Requested alias -> the snapshot the API says answered, and the usage it reports
# (prompt, cached, completion, reasoning, audio in, audio out).
_DATED = {"gpt-4o": "gpt-4o-2024-08-06", "gpt-4o-audio-preview": "gpt-4o-audio-preview-2024-12-17"}
_USAGE = (900, 0, 120, 0, 300, 80)  # audio-preview has no prompt caching


def _usage() -> dict[str, Any]:
    p, c, o, r, ai, ao = _USAGE
    return {
        "prompt_tokens": p,
        "completion_tokens": o,
        "total_tokens": p + o,
        "prompt_tokens_details": {"cached_tokens": c, "audio_tokens": ai},
        "completion_tokens_details": {
            "reasoning_tokens": r,
            "audio_tokens": ao,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class _OpenAI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        model = _DATED.get(body["model"], body["model"])
        base = {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "created": 1741570283, "model": model,
                "service_tier": "default", "system_fingerprint": "fp_fc9f1d7035"}  # fmt: skip
        text = "Your parcel left the depot this morning."
        if not body.get("stream"):
            data = json.dumps({**base, "object": "chat.completion", "usage": _usage(), "choices": [
                {"index": 0, "logprobs": None, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []}}]}).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include else {}
        chunk = {**base, "object": "chat.completion.chunk", **extra}
        events = [
            {
                **chunk,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            },
            {**chunk, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        if include:
            events.append({**chunk, "choices": [], "usage": _usage()})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture(scope="module")
def openai_server() -> Iterator[str]:
    with serve_http(_OpenAI) as url:
        yield f"{url}/v1"


def _hand_priced(model: str) -> float:
    """The call's dollars from the price map's per-token rates, computed here by hand."""
    with open(PriceBook.default().price_map_path, encoding="utf-8") as f:
        entry = json.load(f)[model]
    p, c, o, _, ai, ao = _USAGE
    return (
        (p - c - ai) * entry["input_cost_per_token"]
        + c * entry.get("cache_read_input_token_cost", 0.0)
        + ai * entry["input_cost_per_audio_token"]
        + (o - ao) * entry["output_cost_per_token"]
        + ao * entry["output_cost_per_audio_token"]
    )


def _records(litellm: Any, call: Any, **kwargs: Any) -> list[Any]:
    from conftest import _drain_litellm_logging

    from llm_cost_hooks.litellm import CostHooksLogger

    cost_logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [cost_logger]
    result = call(**kwargs)
    if kwargs.get("stream"):
        list(result)
    _drain_litellm_logging()
    assert cost_logger.flush(5)
    return cost_logger.records()


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_is_billed_as_the_dated_model_that_answered(
    litellm_clean: Any, openai_server: str, stream: bool
) -> None:
    # The alias gpt-4o-audio-preview has no price of its own: billed as the alias, it was $0.
    options = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    (rec,) = _records(
        litellm_clean, litellm_clean.completion, model="openai/gpt-4o-audio-preview", api_base=openai_server,
        api_key="sk-test", messages=[{"role": "user", "content": "Where is my parcel?"}], **options,
    )  # fmt: skip
    assert rec.model == "gpt-4o-audio-preview-2024-12-17"
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens) == (900, 120, 0)
    assert not rec.price_estimated and not rec.tokens_estimated
    assert rec.cost_usd == pytest.approx(_hand_priced("gpt-4o-audio-preview-2024-12-17"), rel=1e-12)


def test_a_price_override_on_the_requested_name_is_kept(litellm_clean: Any, openai_server: str) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    book = PriceBook(overrides={"gpt-4o": {"input_per_million": 1.0, "output_per_million": 2.0}})
    cost_logger = CostHooksLogger(ledger="memory://", price_book=book)
    litellm_clean.callbacks = [cost_logger]
    litellm_clean.completion(model="openai/gpt-4o", api_base=openai_server, api_key="sk-test",
                             messages=[{"role": "user", "content": "Where is my parcel?"}])  # fmt: skip
    assert cost_logger.flush(5)
    (rec,) = cost_logger.records()
    assert rec.model == "gpt-4o"  # the negotiated price, not the map's price of the snapshot
    expected = book.cost(usage_from_openai(_usage()), "gpt-4o").total
    assert rec.cost_usd == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("api_base", "options", "estimated"),
    [
        ("http://127.0.0.1:8000/v1", {}, True),  # an OpenAI-compatible server, usage not asked
        ("http://127.0.0.1:8000/v1", {"stream_options": {"include_usage": True}}, False),
        ("https://api.openai.com/v1", {}, False),  # LiteLLM asks OpenAI's own API for usage
    ],
)
def test_an_openai_stream_without_include_usage_is_estimated_whatever_litellm_counted(
    litellm_clean: Any, api_base: str, options: dict[str, Any], estimated: bool
) -> None:
    # LiteLLM 1.110 fills a stream sent without include_usage with its own token count
    # (earlier releases with zeros): the server reported nothing, so it is an estimate.
    from litellm.types.utils import ModelResponse, Usage

    from llm_cost_hooks.litellm import CostHooksLogger

    now = dt.datetime.now()
    cost_logger = CostHooksLogger(ledger="memory://")
    kwargs: dict[str, Any] = {
        "litellm_call_id": "call-1",
        "call_type": "completion",
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
        "stream": True,
        "optional_params": {"stream": True, "extra_body": {}, **options},
        "messages": [{"role": "user", "content": "Where is my parcel?"}],
        "litellm_params": {"metadata": {}, "api_base": api_base},
    }
    cost_logger.log_pre_api_call("gpt-4o", kwargs["messages"], kwargs)
    counted = ModelResponse(
        model="gpt-4o", usage=Usage(prompt_tokens=8, completion_tokens=12, total_tokens=20)
    )
    cost_logger.log_success_event({**kwargs, "complete_streaming_response": counted}, counted, now, now)
    assert cost_logger.flush(5)
    (rec,) = cost_logger.records()
    assert rec.tokens_estimated is estimated
    assert rec.cost_usd > 0
    if not estimated:
        assert (rec.input_tokens, rec.output_tokens) == (8, 12)
