"""Prompt-cache breakpoints from LiteLLM's hooks: real ``litellm.completion`` /
``acompletion`` to an Anthropic model, answered by a local HTTP server that keeps the
request bodies LiteLLM really sends (after its Anthropic transformation), and the savings
of a response reporting cache reads equal to price-book arithmetic."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from llm_cost_hooks import CacheStatus, TokenUsage
from llm_cost_hooks.pricing import PriceBook

POLICY = " ".join(
    f"Rule {i}: when a customer asks about topic {i}, check the account status, quote the "
    f"relevant policy section {i}.{i % 7}, and never promise a refund before review."
    for i in range(80)
)  # ~2,900 tokens: above Sonnet's 1024-token minimum, below Haiku 4.5's 4096


class AnthropicCapture:
    """A local stand-in for Anthropic's Messages API: keeps every request body and answers
    with the next scripted usage (``cache_read_input_tokens`` etc.)."""

    def __init__(self, usages: list[dict[str, int]] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.usages = usages or [{"input_tokens": 40, "output_tokens": 8}]
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                capture.bodies.append(body)
                capture.paths.append(self.path)
                i = min(len(capture.bodies) - 1, len(capture.usages) - 1)
                usage = {"cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, **capture.usages[i]}
                if self.path.endswith("/converse"):  # Bedrock's Converse API
                    answer: dict[str, Any] = {
                        "output": {
                            "message": {"role": "assistant", "content": [{"text": "Ships in 3 days."}]}
                        },
                        "stopReason": "end_turn",
                        "usage": {
                            "inputTokens": usage["input_tokens"],
                            "outputTokens": usage["output_tokens"],
                            "totalTokens": usage["input_tokens"] + usage["output_tokens"],
                            "cacheReadInputTokens": usage["cache_read_input_tokens"],
                            "cacheWriteInputTokens": usage["cache_creation_input_tokens"],
                        },
                    }
                else:  # Anthropic's Messages API (also Bedrock's invoke for Claude)
                    answer = {
                        "id": f"msg_{len(capture.bodies)}",
                        "type": "message",
                        "role": "assistant",
                        "model": body.get("model", "claude"),
                        "content": [{"type": "text", "text": "Your card ships in 3 days."}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": usage,
                    }
                out = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def cache_marks(obj: Any) -> list[Any]:
    """Every cache_control value (Anthropic format) or cachePoint block (Bedrock Converse)
    anywhere in a request body."""
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k in ("cache_control", "cachePoint")] + [
            m for k, v in obj.items() if k not in ("cache_control", "cachePoint") for m in cache_marks(v)
        ]
    if isinstance(obj, list):
        return [m for item in obj for m in cache_marks(item)]
    return []


@pytest.fixture
def anthropic_capture() -> Any:
    capture = AnthropicCapture()
    yield capture
    capture.close()


def request(capture: AnthropicCapture, **extra: Any) -> dict[str, Any]:
    return dict(
        model="anthropic/claude-sonnet-4-5",
        api_base=capture.base,
        api_key="sk-ant-test",
        max_tokens=100,
        messages=[
            {"role": "system", "content": POLICY},
            {"role": "user", "content": "Where is my new card?"},
        ],
        **extra,
    )


def test_sync_completion_sends_a_breakpoint_on_the_system_prompt(
    litellm_clean: Any, anthropic_capture: Any
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://", prompt_cache=True)
    litellm_clean.callbacks = [cl]
    cl.completion(**request(anthropic_capture))
    [body] = anthropic_capture.bodies
    assert anthropic_capture.paths == ["/v1/messages"]
    # In Anthropic's format: the system prompt block carries the mark, the user turn none.
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert POLICY in body["system"][-1]["text"]
    assert cache_marks(body["messages"]) == []
    assert len(cache_marks(body)) == 1
    cl.flush()
    [rec] = cl.records()
    assert rec.tags["prompt_cache.breakpoints"] == "system"


def test_off_by_default_and_nothing_added_for_openai(litellm_clean: Any, anthropic_capture: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    litellm_clean.callbacks = [CostHooksLogger(ledger="memory://")]  # no prompt_cache
    litellm_clean.completion(**request(anthropic_capture))
    assert cache_marks(anthropic_capture.bodies[-1]) == []
    # OpenAI caches by itself: the hook leaves the request as it is.
    from llm_cost_hooks.litellm import PromptCacheOptions, prepare_request

    req = request(anthropic_capture)
    req["model"] = "openai/gpt-4o-mini"
    before = json.dumps(req["messages"])
    prepared = prepare_request(req, prompt_cache=PromptCacheOptions())
    assert json.dumps(req["messages"]) == before and prepared.breakpoints.mode.value == "implicit"


async def test_acompletion_hook_respects_the_provider_breakpoint_limit(
    litellm_clean: Any, anthropic_capture: Any
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://", prompt_cache={"ttl": "1h"})
    litellm_clean.callbacks = [cl]
    # Tools, a long system prompt, long few-shot history and a long document in the last
    # turn: more candidate prefixes than slots, one slot already used by the caller.
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{i}",
                "description": POLICY[:1500],
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for i in range(4)
    ]
    messages = [
        {
            "role": "system",
            "content": [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}],
        },
        {"role": "system", "content": "Second policy. " + POLICY},
        {"role": "user", "content": "Example question? " + POLICY},
        {"role": "assistant", "content": "Example answer."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Document: " + POLICY},
                {"type": "text", "text": "What does rule 3 say?"},
            ],
        },
    ]
    await litellm_clean.acompletion(
        model="anthropic/claude-sonnet-4-5",
        api_base=anthropic_capture.base,
        api_key="sk-ant-test",
        max_tokens=50,
        messages=messages,
        tools=tools,
    )
    [body] = anthropic_capture.bodies
    marks = cache_marks(body)
    assert len(marks) == 4  # Anthropic's limit, including the caller's own breakpoint
    assert marks.count({"type": "ephemeral", "ttl": "1h"}) == 3
    # Never on the question itself.
    last = body["messages"][-1]["content"]
    assert "cache_control" not in last[-1] and last[-1]["text"] == "What does rule 3 say?"


def test_savings_in_the_ledger_equal_price_book_arithmetic(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    capture = AnthropicCapture(
        [
            {"input_tokens": 30, "output_tokens": 12, "cache_creation_input_tokens": 2900},  # first: writes
            {"input_tokens": 30, "output_tokens": 12, "cache_read_input_tokens": 2900},  # then: reads
        ]
    )
    try:
        cl = CostHooksLogger(ledger="memory://", prompt_cache=True)
        litellm_clean.callbacks = [cl]
        for i in range(2):
            cl.completion(**request(capture, metadata={"task_id": f"pc-{i}"}))
        assert all(len(cache_marks(b)) == 1 for b in capture.bodies)
        assert cl.flush()  # sync success events run on LiteLLM's logging thread
        recs = {r.task_id: r for r in cl.records() if r.task_id in ("pc-0", "pc-1")}
    finally:
        capture.close()
    assert set(recs) == {"pc-0", "pc-1"}, recs
    price = PriceBook.default().lookup("claude-sonnet-4-5")
    write, read = recs["pc-0"], recs["pc-1"]
    assert (read.input_tokens, read.cache_read_tokens, read.output_tokens) == (2930, 2900, 12)
    assert read.cache_status is CacheStatus.PROVIDER_PREFIX
    # saved = cache reads x (input rate - cache-read rate); cost = the three rates' sum.
    assert read.saved_usd == pytest.approx(
        2900 * (price.input_per_token - price.cache_read_per_token), rel=1e-9
    )
    assert read.cost_usd == pytest.approx(
        30 * price.input_per_token + 2900 * price.cache_read_per_token + 12 * price.output_per_token, rel=1e-9
    )
    assert read.cost_usd == pytest.approx(
        PriceBook.default()
        .cost(TokenUsage(input_tokens=2930, output_tokens=12, cache_read_tokens=2900), "claude-sonnet-4-5")
        .total,
        rel=1e-9,
    )
    # The write premium of the first call is tagged, priced the same way.
    premium = float(write.tags["prompt_cache.write_premium_usd"])
    assert premium == pytest.approx(2900 * (price.cache_write_per_token - price.input_per_token), rel=1e-9)


@pytest.mark.parametrize(
    "model",
    [
        "bedrock/invoke/anthropic.claude-3-5-sonnet-20241022-v2:0",
        "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
    ],
)
def test_bedrock_claude_request_litellm_sends_carries_the_breakpoint(litellm_clean: Any, model: str) -> None:
    """Through Bedrock (invoke: Anthropic's format; Converse: a cachePoint block after the
    system text), signed with throwaway credentials, to the local endpoint."""
    from llm_cost_hooks.litellm import CostHooksLogger

    capture = AnthropicCapture([{"input_tokens": 20, "output_tokens": 5, "cache_read_input_tokens": 2900}])
    try:
        cl = CostHooksLogger(ledger="memory://", prompt_cache=True)
        litellm_clean.callbacks = [cl]
        cl.completion(
            model=model,
            aws_access_key_id="AKIATESTTESTTEST",
            aws_secret_access_key="test",
            aws_region_name="us-east-1",
            api_base=capture.base,
            max_tokens=50,
            messages=[{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}],
            metadata={"task_id": f"br-{model}"},
        )
        [body] = capture.bodies
        assert len(cache_marks(body)) == 1 and cache_marks(body["messages"]) == []
        assert cache_marks(body["system"][-1]) or cache_marks(body["system"])  # on the system prompt
        assert cl.flush()
        [rec] = [r for r in cl.records() if r.task_id == f"br-{model}"]
        assert rec.tags["prompt_cache.breakpoints"] == "system" and rec.cache_read_tokens == 2900
        assert rec.saved_usd > 0
    finally:
        capture.close()


@pytest.mark.parametrize(
    "model",
    [
        "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
        "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "vertex_ai/claude-sonnet-4-5",
    ],
)
def test_bedrock_and_vertex_claude_get_breakpoints_in_the_hook(model: str) -> None:
    from llm_cost_hooks.litellm import PromptCacheOptions, prepare_request

    req = {
        "model": model,
        "messages": [{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}],
    }
    prepared = prepare_request(req, prompt_cache=PromptCacheOptions())
    assert prepared.tags["prompt_cache.breakpoints"] == "system"
    assert req["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert req["messages"][1]["content"] == "hi"


def test_a_prompt_below_the_model_minimum_gets_no_breakpoint() -> None:
    from llm_cost_hooks.litellm import PromptCacheOptions, prepare_request

    # ~2,900 tokens is below Claude Haiku 4.5's 4,096-token minimum: a mark would be useless.
    req = {
        "model": "anthropic/claude-haiku-4-5",
        "messages": [{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}],
    }
    prepared = prepare_request(req, prompt_cache=PromptCacheOptions())
    assert cache_marks(req) == [] and "prompt_cache.breakpoints" not in prepared.tags
    assert any("minimum 4096" in s for s in prepared.breakpoints.skipped)
