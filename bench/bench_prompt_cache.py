"""Provider prompt caching: placement overhead and the input dollars it saves on real queries.

1. Overhead: ``add_cache_breakpoints`` on a support request (a ~2,900-token policy as
   system prompt, one few-shot pair, a user question), against the anchor of counting the
   same request's tokens once (``TokenCounter.count_messages``), measured in the same run.
2. Savings: the first N Banking77 test queries (real customer questions, from
   ``../shared/data/semantic_cache/banking77/test.csv.gz``) sent through a real LangChain
   chain ``prompt | PromptCacheBreakpoints | ChatAnthropic`` whose HTTP calls are answered
   by a mock transport that applies Anthropic's cache rules to the request it receives:
   the prefix up to the last ``cache_control`` mark is written on first sight and read on
   every repeat (all queries fall inside the 5-minute TTL); unmarked requests are billed
   as plain input. The ledger's dollars with breakpoints are compared to the same chain
   without the step. Prices: the price book's claude-sonnet-4-5.

Run: ``python -m bench prompt_cache`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
from pathlib import Path

from bench._common import Row, time_per_call

TARGET_OVERHEAD_US = 300.0
TARGET_INPUT_SAVING = 0.5

POLICY = " ".join(
    f"Rule {i}: when a customer asks about topic {i}, check the account status, quote the "
    f"relevant policy section {i}.{i % 7}, and never promise a refund before review."
    for i in range(80)
)


def _data_dir() -> Path:
    env = os.environ.get("LLM_COST_HOOKS_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _queries(limit: int) -> list[str] | None:
    path = _data_dir() / "semantic_cache" / "banking77" / "test.csv.gz"
    if not path.is_file():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [row["text"] for _, row in zip(range(limit), csv.DictReader(f))]


def _overhead(quick: bool) -> list[Row]:
    from llm_cost_hooks.prompt_cache import add_cache_breakpoints
    from llm_cost_hooks.tokens import default_counter

    messages = [
        {"role": "system", "content": POLICY},
        {"role": "user", "content": "Example: where is my parcel? It was due yesterday."},
        {"role": "assistant", "content": "It ships today; track it under Orders."},
        {"role": "user", "content": "I still have not received my new card, what should I do?"},
    ]
    counter = default_counter()
    number = 200 if quick else 2000
    place = time_per_call(lambda: add_cache_breakpoints(messages, None, "claude-sonnet-4-5"), number=number)
    count = time_per_call(lambda: counter.count_messages(messages, "claude-sonnet-4-5"), number=number)
    return [
        Row(
            bench="prompt_cache",
            metric="add_cache_breakpoints per request",
            value=place * 1e6,
            unit="us",
            anchor_name="count_messages once",
            anchor_value=count * 1e6,
            target=f"< {TARGET_OVERHEAD_US:.0f} us",
            ok=place * 1e6 < TARGET_OVERHEAD_US,
            note="~2,900-token system prompt; token counts memoised by text hash",
        )
    ]


class _AnthropicCacheSim:
    """Answers the Messages API with the usage Anthropic's cache rules give the request."""

    def __init__(self, minimum: int) -> None:
        self.seen: set[str] = set()
        self.minimum = minimum

    def __call__(self, request):  # type: ignore[no-untyped-def]
        import httpx2

        from llm_cost_hooks.tokens import default_counter

        body = json.loads(request.content)
        counter = default_counter()
        # Serialise the request in prefix order and find the last breakpoint.
        blocks: list[tuple[str, bool]] = []
        for t in body.get("tools") or []:
            blocks.append((json.dumps(t, sort_keys=True), "cache_control" in t))
        system = body.get("system") or []
        for b in [{"type": "text", "text": system}] if isinstance(system, str) else system:
            blocks.append((b.get("text", ""), "cache_control" in b))
        for m in body["messages"]:
            content = m["content"]
            for b in [{"type": "text", "text": content}] if isinstance(content, str) else content:
                blocks.append(
                    (m["role"] + ":" + json.dumps(b.get("text", b), sort_keys=True), "cache_control" in b)
                )
        tokens = [counter.count_text(text, "claude-sonnet-4-5").tokens for text, _ in blocks]
        last = max((i for i, (_, marked) in enumerate(blocks) if marked), default=-1)
        prefix = sum(tokens[: last + 1]) if last >= 0 else 0
        key = "\x00".join(text for text, _ in blocks[: last + 1])
        read = write = 0
        if prefix >= self.minimum:
            if key in self.seen:
                read = prefix
            else:
                write = prefix
                self.seen.add(key)
        usage = {
            "input_tokens": sum(tokens) - read - write,
            "output_tokens": 40,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
        }
        return httpx2.Response(
            200,
            json={
                "id": "msg",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [
                    {"type": "text", "text": "Please check the Cards tab; a new card ships in 3 days."}
                ],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            },
        )


def _savings(quick: bool) -> list[Row]:
    queries = _queries(40 if quick else 300)
    if queries is None:
        print(
            "bench prompt_cache: ../shared/data/semantic_cache/banking77/test.csv.gz not found "
            "(set LLM_COST_HOOKS_DATA_DIR); skipping the savings row."
        )
        return []
    import anthropic
    import httpx2
    from langchain_anthropic import ChatAnthropic
    from langchain_core.prompts import ChatPromptTemplate

    from llm_cost_hooks.langchain import CostCallbackHandler
    from llm_cost_hooks.langchain._prompt_cache import PromptCacheBreakpoints

    prompt = ChatPromptTemplate.from_messages([
        ("system", POLICY),
        ("human", "Example: where is my parcel?"), ("ai", "It ships today; track it under Orders."),
        ("human", "{question}"),
    ])  # fmt: skip

    def run(with_breakpoints: bool) -> tuple[float, float, float]:
        llm = ChatAnthropic(model="claude-sonnet-4-5", api_key="bench", max_tokens=256, max_retries=0)
        llm.__dict__["_client"] = anthropic.Anthropic(
            api_key="bench",
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(_AnthropicCacheSim(1024))),
        )
        handler = CostCallbackHandler(ledger="memory://")
        chain = (
            (prompt | PromptCacheBreakpoints(model="claude-sonnet-4-5") | llm)
            if with_breakpoints
            else (prompt | llm)
        )
        for q in queries:
            chain.invoke({"question": q}, config={"callbacks": [handler]})
        records = handler.records()
        cost = sum(r.cost_usd for r in records)
        input_cost = sum(
            r.cost_breakdown.input + r.cost_breakdown.cache_read + r.cost_breakdown.cache_write
            for r in records
        )
        return cost, input_cost, sum(r.saved_usd for r in records)

    plain_cost, plain_input, _ = run(False)
    cached_cost, cached_input, saved = run(True)
    cut = 1 - cached_input / plain_input
    return [
        Row(
            bench="prompt_cache",
            metric=f"input $ with breakpoints ({len(queries)} Banking77 queries)",
            value=cached_input,
            unit="USD",
            anchor_name="input $ without",
            anchor_value=plain_input,
            target=f">= {TARGET_INPUT_SAVING:.0%} input cut",
            ok=cut >= TARGET_INPUT_SAVING,
            note=f"input cut {cut:.1%}; total ${cached_cost:.4f} vs ${plain_cost:.4f}; ledger saved_usd ${saved:.4f}",
        ),
    ]


def run(quick: bool) -> list[Row]:
    return _overhead(quick) + _savings(quick)
