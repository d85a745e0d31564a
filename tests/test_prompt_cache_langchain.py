"""Prompt-cache breakpoints in real LangChain chains with ChatAnthropic (no network:
the HTTP call is answered by an httpx mock transport), and savings in the ledger."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks import CacheStatus
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.langchain._prompt_cache import (
    PromptCacheBreakpoints,
    add_breakpoints_to_messages,
    anthropic_tools_with_cache,
)
from llm_cost_hooks.pricing import PriceBook

POLICY = " ".join(
    f"Rule {i}: when a customer asks about topic {i}, check the account status, quote the "
    f"relevant policy section {i}.{i % 7}, and never promise a refund before review."
    for i in range(80)
)  # ~2,900 tokens: above Sonnet's 1024 minimum, below Haiku 4.5's 4096


def lookup_order(order_id: str) -> str:
    """Look up an order by its id and return its status, items and shipping address."""
    return "shipped"


def refund(order_id: str, amount: float, reason: str) -> str:
    """Open a refund request for an order; a human reviews it within two working days."""
    return "opened"


class Capture:
    """Answers Anthropic's Messages API from a script of usages; keeps the request bodies."""

    def __init__(self, usages: list[dict[str, int]] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.usages = usages or [{"input_tokens": 25, "output_tokens": 6}]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        usage = {
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
            **self.usages[min(len(self.bodies) - 1, len(self.usages) - 1)],
        }
        return httpx2.Response(
            200,
            json={
                "id": f"msg_{len(self.bodies)}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": "Your card ships in 3 days."}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            },
        )


def claude(model: str, capture: Capture) -> ChatAnthropic:
    llm = ChatAnthropic(model=model, api_key="test-key", max_tokens=256, max_retries=0)
    # The real SDK client, with its HTTP transport replaced: the request is fully built.
    llm.__dict__["_client"] = anthropic.Anthropic(
        api_key="test-key", max_retries=0, http_client=httpx2.Client(transport=httpx2.MockTransport(capture))
    )
    return llm


def cache_marks(obj: Any) -> list[Any]:
    """Every cache_control value anywhere in a request body."""
    found: list[Any] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "cache_control":
                found.append(value)
            else:
                found.extend(cache_marks(value))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(cache_marks(item))
    return found


FEW_SHOT = [
    ("human", "Example question: where is my parcel? " + "Details of the parcel. " * 60),
    ("ai", "Example answer: it is on its way; here is how to track it. " + "Tracking steps. " * 60),
]


def support_prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", POLICY), *FEW_SHOT, ("human", "{question}")])


def test_chain_places_breakpoints_on_tools_system_and_examples_never_on_user_turn() -> None:
    capture = Capture()
    step = PromptCacheBreakpoints(model="claude-sonnet-4-5", tools=[lookup_order, refund], min_tokens=None)
    chain = support_prompt() | step | claude("claude-sonnet-4-5", capture).bind_tools(step.tools)
    chain.invoke({"question": "Where is my card?"})
    body = capture.bodies[0]

    # Tools alone are ~150 tokens (< 1024): cached as part of the system breakpoint's prefix.
    assert cache_marks(body["tools"]) == []
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    # The last few-shot answer closes the history segment.
    assert body["messages"][1]["role"] == "assistant"
    assert body["messages"][1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    # The variable user turn is never marked.
    last = body["messages"][-1]
    assert last["role"] == "user" and "Where is my card?" in json.dumps(last)
    assert cache_marks(last) == []
    assert len(cache_marks(body)) == 2


def test_tool_breakpoint_when_tools_alone_reach_minimum() -> None:
    capture = Capture()
    big_tools = [
        {
            "name": f"tool_{i}",
            "description": "Looks up records. " * 40,
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
        for i in range(6)
    ]
    step = PromptCacheBreakpoints(model="claude-sonnet-4-5", tools=big_tools)
    assert "cache_control" in step.tools[-1]
    chain = support_prompt() | step | claude("claude-sonnet-4-5", capture).bind_tools(step.tools)
    chain.invoke({"question": "Refund my order 42"})
    body = capture.bodies[0]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert all("cache_control" not in t for t in body["tools"][:-1])
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert len(cache_marks(body)) == 3


def test_never_more_breakpoints_than_the_provider_allows() -> None:
    capture = Capture()
    marked = {"type": "ephemeral"}
    doc = "Contract clause text. " * 400
    messages = [
        SystemMessage([{"type": "text", "text": POLICY, "cache_control": marked}]),
        HumanMessage([{"type": "text", "text": "earlier question " * 300, "cache_control": marked}]),
        AIMessage([{"type": "text", "text": "earlier answer " * 300, "cache_control": marked}]),
        HumanMessage("follow-up " * 300),
        AIMessage("follow-up answer " * 300),
        HumanMessage([{"type": "text", "text": doc}, {"type": "text", "text": "Summarise clause 3."}]),
    ]
    step = PromptCacheBreakpoints(model="claude-sonnet-4-5")
    (step | claude("claude-sonnet-4-5", capture)).invoke(messages)
    body = capture.bodies[0]
    assert len(cache_marks(body)) == 4  # 3 existing + 1 added, the provider's limit
    # The one added breakpoint goes on the longest stable prefix: the document.
    assert body["messages"][-1]["content"][0]["cache_control"] == marked
    assert "cache_control" not in body["messages"][-1]["content"][1]

    # A fresh request with all four segments long enough gets exactly four.
    fresh = [
        SystemMessage(POLICY),
        HumanMessage("earlier question " * 300),
        AIMessage("earlier answer " * 300),
        HumanMessage([{"type": "text", "text": doc}, {"type": "text", "text": "Summarise clause 3."}]),
    ]
    tools = anthropic_tools_with_cache(
        [{"name": "t", "description": "x " * 2000, "input_schema": {"type": "object", "properties": {}}}]
    )
    out, report = add_breakpoints_to_messages(fresh, "claude-sonnet-4-5", tools=tools)
    assert report.existing_breakpoints == 1 and len(report.breakpoints) == 3
    payload = claude("claude-sonnet-4-5", Capture()).bind_tools(tools)
    request = payload.bound._get_request_payload(out, **payload.kwargs)  # type: ignore[attr-defined]
    assert len(cache_marks(request)) == 4


def test_minimum_cacheable_length_is_per_model() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", POLICY), ("human", "{question}")])
    messages = prompt.invoke({"question": "hi"}).to_messages()
    llm = claude("claude-sonnet-4-5", Capture())
    sonnet, sonnet_report = add_breakpoints_to_messages(messages, "claude-sonnet-4-5")
    haiku, haiku_report = add_breakpoints_to_messages(messages, "claude-haiku-4-5")
    assert 1024 < sonnet_report.stable_prefix_tokens < 4096
    assert len(cache_marks(llm._get_request_payload(sonnet))) == 1
    assert len(cache_marks(llm._get_request_payload(haiku))) == 0  # 4096-token minimum on Haiku 4.5
    assert haiku_report.min_cacheable_tokens == 4096 and haiku_report.breakpoints == []
    assert any("minimum 4096" in s for s in haiku_report.skipped)


def test_openai_models_get_nothing_added() -> None:
    messages = support_prompt().invoke({"question": "Where is my card?"}).to_messages()
    out = PromptCacheBreakpoints(model="gpt-4o-mini").invoke(messages)
    assert [m.content for m in out] == [m.content for m in messages]
    _, report = add_breakpoints_to_messages(messages, "gpt-4o-mini")
    assert report.mode.value == "implicit" and report.cacheable_tokens > 1024


def test_agent_loop_caches_history_up_to_new_tool_results() -> None:
    messages = [
        SystemMessage(POLICY),
        HumanMessage("Where is order 42?"),
        AIMessage("", tool_calls=[{"name": "lookup_order", "args": {"order_id": "42"}, "id": "toolu_01"}]),
        ToolMessage("status: shipped " * 10, tool_call_id="toolu_01"),
    ]
    out, report = add_breakpoints_to_messages(messages, "claude-sonnet-4-5")
    segments = [b.segment for b in report.breakpoints]
    assert segments == ["system", "history"]
    # The history breakpoint sits on the user question (the assistant turn has no text block).
    assert out[1].content[0]["cache_control"] == {"type": "ephemeral"}
    assert isinstance(out[3].content, str)  # the new tool result is the tail


async def test_async_chain_and_savings_in_ledger_equal_price_book_arithmetic() -> None:
    # First call writes the prefix, the next two read it: the usage Anthropic reports.
    usages = [
        {"input_tokens": 30, "output_tokens": 8, "cache_creation_input_tokens": 3600},
        {"input_tokens": 28, "output_tokens": 9, "cache_read_input_tokens": 3600},
        {"input_tokens": 31, "output_tokens": 7, "cache_read_input_tokens": 3600},
    ]
    capture = Capture(usages)
    handler = CostCallbackHandler(ledger="memory://")
    llm = claude("claude-sonnet-4-5", capture)
    llm.__dict__["_async_client"] = anthropic.AsyncAnthropic(
        api_key="test-key",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(capture)),
    )
    chain = support_prompt() | PromptCacheBreakpoints(model="claude-sonnet-4-5") | llm
    for q in ("Where is my card?", "Can I get a refund?", "Change my address"):
        await chain.ainvoke(
            {"question": q}, config={"callbacks": [handler], "metadata": {"prompt_version": "support@v1"}}
        )
    records = [r for r in handler.records() if r.model.startswith("claude")]
    assert len(records) == 3
    price = PriceBook.default().lookup("claude-sonnet-4-5")
    write_premium = 3600 * (price.cache_write_per_token - price.input_per_token)
    read_saving = 3600 * (price.input_per_token - price.cache_read_per_token)
    first, second, third = records
    assert first.cache_status is CacheStatus.MISS and first.saved_usd == 0
    assert float(first.tags["prompt_cache.write_premium_usd"]) == pytest.approx(write_premium, rel=1e-9)
    assert first.cost_usd == pytest.approx(
        30 * price.input_per_token + 3600 * price.cache_write_per_token + 8 * price.output_per_token, rel=1e-9
    )
    for rec, usage in ((second, usages[1]), (third, usages[2])):
        assert rec.cache_status is CacheStatus.PROVIDER_PREFIX
        assert rec.cache_read_tokens == 3600 and rec.input_tokens == usage["input_tokens"] + 3600
        assert rec.saved_usd == pytest.approx(read_saving, rel=1e-9)
        assert rec.cost_usd == pytest.approx(
            usage["input_tokens"] * price.input_per_token
            + 3600 * price.cache_read_per_token
            + usage["output_tokens"] * price.output_per_token,
            rel=1e-9,
        )
    # Savings show in the ledger's cache report too.
    rows = handler.ledger.reports().cache_savings()
    assert rows == [
        {"cache_status": "provider_prefix", "hits": 2, "saved_usd": pytest.approx(2 * read_saving)}
    ]
    # Every request carried the breakpoints.
    assert all(len(cache_marks(b)) == 2 for b in capture.bodies)
