"""CostCallbackHandler on real LangChain chains with a fake model that reports real usage."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from llm_cost_hooks import CacheStatus, ConfigurationError, TokenUsage, UnknownModelError, count_tokens
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, install, uninstall
from llm_cost_hooks.pricing import PriceBook

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You are a support agent for ACME bank."), ("human", "{question}")]
)


def make_chain(model: BaseChatModel) -> Any:
    return PROMPT | model | StrOutputParser()


def expected_cost(model: str, usage: dict[str, Any]) -> float:
    inp = usage.get("input_token_details") or {}
    out = usage.get("output_token_details") or {}
    return (
        PriceBook.default()
        .cost(
            TokenUsage(
                input_tokens=usage["input_tokens"],
                output_tokens=usage["output_tokens"],
                cache_read_tokens=inp.get("cache_read", 0),
                cache_write_tokens=inp.get("cache_creation", 0),
                reasoning_tokens=out.get("reasoning", 0),
            ),
            model,
        )
        .total
    )


@pytest.fixture
def handler() -> CostCallbackHandler:
    return CostCallbackHandler(ledger="memory://", defaults={"feature": "support_answer"})


def test_invoke_records_priced_attributed_call(handler: CostCallbackHandler) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Your card arrives in 3-5 days."])
    answer = make_chain(model).invoke(
        {"question": "When will my card arrive?"},
        config={
            "callbacks": [handler],
            "metadata": {"tenant_id": "acme", "prompt_version": "support_v14", "user_id": "u-42"},
        },
    )
    assert answer == "Your card arrives in 3-5 days."
    (r,) = handler.records()
    msg = model.invoke([HumanMessage("x")])  # same model: check usage shape
    assert msg.usage_metadata
    assert r.model == "gpt-4o-mini" and r.provider == "openai"
    assert (r.tenant, r.feature, r.prompt_version) == ("acme", "support_answer", "support_v14")
    assert r.user is not None and r.user != "u-42" and len(r.user) == 16  # hashed
    assert r.input_tokens > 10 and r.output_tokens == count_tokens(answer, "gpt-4o-mini")
    assert not r.tokens_estimated and not r.price_estimated
    assert r.cost_usd == pytest.approx(
        expected_cost("gpt-4o-mini", {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens})
    )
    assert r.cost_usd == pytest.approx(r.input_tokens * 0.15e-6 + r.output_tokens * 0.6e-6)
    assert r.task_id is not None and r.parent_id is not None  # under the chain's root run
    assert r.latency_ms is not None and r.latency_ms >= 0
    assert r.success and r.cache_status is CacheStatus.MISS


def test_cached_and_reasoning_tokens_priced(handler: CostCallbackHandler) -> None:
    model = FakeChatModelWithUsage(
        model_name="o4-mini", responses=["42"], cached_fraction=0.5, reasoning_tokens=300
    )
    model.invoke("What is six times seven? " * 20, config={"callbacks": [handler]})
    (r,) = handler.records()
    assert r.cache_read_tokens == r.input_tokens // 2 and r.reasoning_tokens == 300
    price = PriceBook.default().lookup("o4-mini")
    uncached = r.input_tokens - r.cache_read_tokens
    assert r.cost_usd == pytest.approx(
        uncached * price.input_per_token
        + r.cache_read_tokens * price.cache_read_per_token
        + r.output_tokens * price.output_per_token
    )


def test_nested_chains_roll_up_to_one_task(handler: CostCallbackHandler) -> None:
    small = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["billing"])
    large = FakeChatModelWithUsage(model_name="gpt-4o", responses=["Here is how to dispute a charge."])
    classify = PROMPT | small | StrOutputParser()
    answer = PROMPT | large | StrOutputParser()
    outer = (
        RunnableLambda(lambda q: {"question": q})
        | {"topic": classify, "answer": answer}
        | RunnableLambda(lambda d: d["answer"])
    )
    outer.invoke("I was charged twice", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
    outer.invoke("Another question", config={"callbacks": [handler], "metadata": {"tenant_id": "globex"}})
    records = handler.records()
    assert len(records) == 4
    tasks = {}
    for r in records:
        tasks.setdefault(r.task_id, []).append(r)
    assert len(tasks) == 2
    for recs in tasks.values():
        assert {r.model for r in recs} == {"gpt-4o-mini", "gpt-4o"}
        assert len({r.tenant for r in recs}) == 1
    summary = handler.ledger.reports().tasks(by="tenant")
    assert {row["tenant"]: row["tasks"] for row in summary} == {"acme": 1, "globex": 1}
    outcomes = handler.ledger.task_outcomes()
    assert sorted(o.task_id for o in outcomes) == sorted(tasks)
    assert handler.tracker.open_runs == 0


async def test_ainvoke_astream_and_batch(handler: CostCallbackHandler) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["one two three four"])
    chain = make_chain(model)
    cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    assert await chain.ainvoke({"question": "a"}, config=cfg) == "one two three four"
    chunks = [c async for c in chain.astream({"question": "b"}, config=cfg)]
    assert "".join(chunks) == "one two three four" and len(chunks) > 1
    outs = chain.batch([{"question": "c"}, {"question": "d"}, {"question": "e"}], config=cfg)
    assert len(outs) == 3
    outs = await chain.abatch([{"question": "f"}, {"question": "g"}], config=cfg)
    streamed = [c for c in chain.stream({"question": "h"}, config=cfg)]
    assert len(streamed) > 1
    records = handler.records()
    assert len(records) == 8
    assert all(r.output_tokens == 4 and r.input_tokens > 0 and not r.tokens_estimated for r in records)
    assert len({r.task_id for r in records}) == 8  # each input is its own task
    assert all(r.tenant == "acme" for r in records)


def test_streamed_usage_is_taken_from_the_last_chunk(handler: CostCallbackHandler) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o", responses=["a b c d e f"])
    list(model.stream("hello", config={"callbacks": [handler]}))
    (r,) = handler.records()
    assert r.output_tokens == 6 and r.input_tokens == 8 and not r.tokens_estimated


def test_error_recorded_as_failed_with_prompt_tokens(handler: CostCallbackHandler) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o", errors=[TimeoutError("upstream timed out")])
    with pytest.raises(TimeoutError):
        make_chain(model).invoke({"question": "Is my transfer done?"}, config={"callbacks": [handler]})
    (r,) = handler.records()
    assert not r.success and r.error_type == "TimeoutError"
    assert r.input_tokens > 10 and r.output_tokens == 0 and r.tokens_estimated
    assert r.cost_usd == pytest.approx(r.input_tokens * PriceBook.default().lookup("gpt-4o").input_per_token)
    (task,) = handler.ledger.reports().tasks()
    assert task["successful_tasks"] == 0 and task["failed_call_cost_usd"] == pytest.approx(r.cost_usd)
    assert handler.tracker.open_runs == 0


def test_retries_count_attempts_and_retry_cost(handler: CostCallbackHandler) -> None:
    model = FakeChatModelWithUsage(
        model_name="gpt-4o-mini", responses=["done"], errors=[ConnectionError("reset"), None]
    )
    chain = PROMPT | model.with_retry(stop_after_attempt=3, wait_exponential_jitter=False) | StrOutputParser()
    assert chain.invoke({"question": "q"}, config={"callbacks": [handler]}) == "done"
    first, second = sorted(handler.records(), key=lambda r: r.attempt)
    assert (first.attempt, first.success) == (1, False)
    assert (second.attempt, second.success) == (2, True)
    assert first.task_id == second.task_id
    reports = handler.ledger.reports()
    (any_err,) = reports.tasks()
    (root_err,) = reports.tasks(failure_policy="root_error")
    assert any_err["successful_tasks"] == 0 and root_err["successful_tasks"] == 1
    assert any_err["retry_cost_usd"] == pytest.approx(second.cost_usd)


def test_tool_calling_agent_records_every_model_call(handler: CostCallbackHandler) -> None:
    @tool
    def card_status(card_id: str) -> str:
        """Look up a card's delivery status."""
        return f"card {card_id} shipped yesterday"

    call = AIMessage(
        content="", tool_calls=[{"name": "card_status", "args": {"card_id": "c1"}, "id": "call_1"}]
    )
    model = FakeChatModelWithUsage(model_name="gpt-4o", responses=[call, "Your card shipped yesterday."])
    bound = model.bind_tools([card_status])

    def agent(question: str) -> str:
        messages: list[BaseMessage] = [HumanMessage(question)]
        while True:
            reply = bound.invoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return str(reply.content)
            for tc in reply.tool_calls:
                messages.append(ToolMessage(card_status.invoke(tc["args"]), tool_call_id=tc["id"]))

    out = RunnableLambda(agent, name="support_agent").invoke(
        "Where is my card?", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    )
    assert out == "Your card shipped yesterday."
    records = handler.records()
    assert len(records) == 2 and len({r.task_id for r in records}) == 1
    assert records[0].output_tokens > 0 and records[1].input_tokens > records[0].input_tokens


def test_langchain_cache_hit_is_priced_zero_with_savings() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    usage_handler = UsageMetadataCallbackHandler()
    model = FakeChatModelWithUsage(model_name="gpt-4o", responses=["cached answer"], cache=InMemoryCache())
    chain = make_chain(model)
    cfg = {"callbacks": [handler, usage_handler]}
    chain.invoke({"question": "same"}, config=cfg)
    chain.invoke({"question": "same"}, config=cfg)
    miss, hit = handler.records()
    assert miss.cache_status is CacheStatus.MISS and miss.cost_usd > 0
    assert hit.cache_status is CacheStatus.EXACT
    assert hit.cost_usd == 0 and hit.input_tokens == 0
    assert hit.saved_usd == pytest.approx(miss.cost_usd)
    assert model.call_count == 1
    # LangChain's own handler counts the replayed usage twice; ours bills once.
    assert usage_handler.usage_metadata["gpt-4o"]["input_tokens"] == 2 * miss.input_tokens
    (row,) = handler.ledger.reports().totals()
    assert row["input_tokens"] == miss.input_tokens and row["cache_hits"] == 1


def test_global_cache_hit() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    set_llm_cache(InMemoryCache())
    try:
        model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["x"])
        for _ in range(3):
            model.invoke("hi", config={"callbacks": [handler]})
    finally:
        set_llm_cache(None)
    statuses = [r.cache_status for r in handler.records()]
    assert statuses == [CacheStatus.MISS, CacheStatus.EXACT, CacheStatus.EXACT]


class _LegacyModel(BaseChatModel):
    """Reports usage only in llm_output['token_usage'] like older integrations."""

    report: bool = True

    @property
    def _llm_type(self) -> str:
        return "legacy"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        llm_output = {"model_name": "gpt-4o-mini"}
        if self.report:
            llm_output["token_usage"] = {
                "prompt_tokens": 120,
                "completion_tokens": 30,
                "prompt_tokens_details": {"cached_tokens": 100},
            }
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage("legacy answer"))], llm_output=llm_output
        )


def test_legacy_llm_output_usage(handler: CostCallbackHandler) -> None:
    _LegacyModel().invoke("hello", config={"callbacks": [handler]})
    (r,) = handler.records()
    assert (r.model, r.input_tokens, r.output_tokens, r.cache_read_tokens) == ("gpt-4o-mini", 120, 30, 100)
    assert not r.tokens_estimated


def test_missing_usage_is_counted_and_flagged(handler: CostCallbackHandler) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o", responses=["four words are here"], report_usage=False)
    model.invoke([HumanMessage("count me please")], config={"callbacks": [handler]})
    (r,) = handler.records()
    assert r.tokens_estimated
    assert r.output_tokens == 4
    assert r.input_tokens == 3 + 3 + 1 + 3  # framing + role + content + reply priming


def test_install_measures_every_chain_without_callbacks() -> None:
    handler = install(ledger="memory://", defaults={"feature": "global"})
    try:
        model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
        make_chain(model).invoke({"question": "q1"})
        # another thread, another context
        t = threading.Thread(target=lambda: make_chain(model).invoke({"question": "q2"}))
        t.start()
        t.join()
        asyncio.run(make_chain(model).ainvoke({"question": "q3"}))
    finally:
        uninstall(handler)
    make_chain(model).invoke({"question": "after uninstall"})
    records = handler.records()
    assert len(records) == 3 and {r.feature for r in records} == {"global"}


def test_threads_share_one_handler(handler: CostCallbackHandler) -> None:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
    chain = make_chain(model)

    def work(i: int) -> None:
        for j in range(20):
            chain.invoke(
                {"question": f"{i}-{j}"}, config={"callbacks": [handler], "metadata": {"tenant_id": f"t{i}"}}
            )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = handler.records()
    assert len(records) == 160 and len({r.task_id for r in records}) == 160
    assert {r["tenant"]: r["calls"] for r in handler.report(by="tenant")} == {f"t{i}": 20 for i in range(8)}
    assert handler.tracker.open_runs == 0


def test_mark_task_failed() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    import uuid

    run_id = uuid.uuid4()
    make_chain(FakeChatModelWithUsage()).invoke(
        {"question": "q"}, config={"callbacks": [handler], "run_id": run_id}
    )
    handler.mark_task(run_id, success=False, reason="user thumbs-down")
    (row,) = handler.ledger.reports().tasks()
    assert row["tasks"] == 1 and row["successful_tasks"] == 0
    with pytest.raises(ConfigurationError):
        handler.tracker.mark_task("", success=False)


def test_bad_metadata_type(caplog: pytest.LogCaptureFixture) -> None:
    lenient = CostCallbackHandler(ledger="memory://")
    model = FakeChatModelWithUsage()
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        model.invoke("x", config={"callbacks": [lenient], "metadata": {"tenant_id": ["not", "a", "string"]}})
    (r,) = lenient.records()  # recorded anyway, without the bad field
    assert r.tenant is None
    assert "metadata['tenant_id'] is a list" in caplog.text
    strict = CostCallbackHandler(ledger="memory://", strict=True)
    with pytest.raises(ConfigurationError, match="tenant_id"):
        model.invoke("x", config={"callbacks": [strict], "metadata": {"tenant_id": {"a": 1}}})


def test_unknown_model(caplog: pytest.LogCaptureFixture) -> None:
    lenient = CostCallbackHandler(ledger="memory://")
    model = FakeChatModelWithUsage(model_name="gpt-4o-minii")
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        model.invoke("x", config={"callbacks": [lenient]})
    (r,) = lenient.records()
    assert r.price_estimated and r.cost_usd == 0
    assert "gpt-4o-mini" in caplog.text  # the closest known name is suggested
    strict = CostCallbackHandler(ledger="memory://", strict=True)
    with pytest.raises(UnknownModelError, match="gpt-4o-mini"):
        model.invoke("x", config={"callbacks": [strict]})


def test_fallback_price_flags_estimate() -> None:
    from llm_cost_hooks.pricing import ModelPrice

    book = PriceBook(fallback_price=ModelPrice(model="fallback", input_per_token=1e-6, output_per_token=2e-6))
    handler = CostCallbackHandler(ledger="memory://", price_book=book)
    FakeChatModelWithUsage(model_name="my-private-llm", responses=["a b"]).invoke(
        "hi", config={"callbacks": [handler]}
    )
    (r,) = handler.records()
    assert r.price_estimated and r.cost_usd == pytest.approx(r.input_tokens * 1e-6 + r.output_tokens * 2e-6)


def test_sqlite_ledger_from_url_and_cli_report(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from llm_cost_hooks.cli import main

    db = tmp_path / "llm_costs.db"
    handler = CostCallbackHandler(ledger=f"sqlite:///{db}", defaults={"feature": "support_answer"})
    chain = make_chain(FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["fine"]))
    for tenant in ("acme", "acme", "globex"):
        chain.invoke({"question": "q"}, config={"callbacks": [handler], "metadata": {"tenant_id": tenant}})
    handler.flush()
    assert main(["report", str(db), "--by", "tenant,feature", "--format", "json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    calls = {(r["tenant"], r["feature"]): r["calls"] for r in out["totals"]}
    assert calls == {("acme", "support_answer"): 2, ("globex", "support_answer"): 1}
    assert out["tasks"][0]["tasks"] in (1, 2)


def test_cache_hit_on_a_routed_model_is_recorded_as_a_hit() -> None:
    # A global LangChain cache in front of RoutedChatModel: a hit runs no tier, so the
    # router's (delegated) run is the only place the call can be recorded.
    from langchain_core.caches import InMemoryCache
    from langchain_core.globals import get_llm_cache, set_llm_cache

    from llm_cost_hooks.langchain import FakeChatModelWithUsage, RoutedChatModel

    routed = RoutedChatModel(
        tiers={
            "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris."]),
            "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["Paris."]),
        }
    )
    handler = CostCallbackHandler(ledger="memory://")
    previous = get_llm_cache()
    set_llm_cache(InMemoryCache())
    try:
        for _ in range(3):
            routed.invoke("Capital of France?", config={"callbacks": [handler]})
    finally:
        set_llm_cache(previous)
    handler.flush()
    recs = sorted(handler.records(), key=lambda r: r.timestamp)
    assert [r.cache_status.value for r in recs] == ["miss", "exact", "exact"]
    paid = recs[0]
    assert paid.cost_usd > 0
    for hit in recs[1:]:
        assert hit.cost_usd == 0 and hit.model == paid.model
        assert hit.saved_usd == pytest.approx(paid.cost_usd, rel=1e-6)


def test_cache_hit_inside_a_routed_tier_is_recorded_once() -> None:
    # The cache below the router: the tier's run records the hit; the router's run, which
    # passes the tier's (marked) message up, must not record it a second time.
    from langchain_core.caches import InMemoryCache

    from llm_cost_hooks.langchain import FakeChatModelWithUsage, RoutedChatModel

    cache = InMemoryCache()
    routed = RoutedChatModel(
        tiers={
            "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris."], cache=cache),
            "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["Paris."], cache=cache),
        }
    )
    handler = CostCallbackHandler(ledger="memory://")
    for _ in range(3):
        routed.invoke("Capital of France?", config={"callbacks": [handler]})
    handler.flush()
    recs = sorted(handler.records(), key=lambda r: r.timestamp)
    assert [r.cache_status.value for r in recs] == ["miss", "exact", "exact"]


class _BilledModel(BaseChatModel):
    """Answers with a known bill (as a batch API or a replay does), optionally marked as a
    copy served by dedup."""

    served_copy: bool = False

    @property
    def _llm_type(self) -> str:
        return "billed"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        from llm_cost_hooks.langchain._callback import BILLED_MARKER_KEY, CACHE_MARKER_KEY

        meta: dict[str, Any] = {
            "model_name": "gpt-4o-mini",
            BILLED_MARKER_KEY: {"cost_usd": 0.002, "saved_usd": 0.002, "tags": {"batch.saved_usd": "0.002"}},
        }
        if self.served_copy:
            meta[CACHE_MARKER_KEY] = {"status": "deduplicated", "saved_usd": 0.004}
        msg = AIMessage("billed answer", response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=msg)])


def test_a_billed_marker_carries_its_saving_and_tags_to_the_record_but_not_to_a_served_copy(
    handler: CostCallbackHandler,
) -> None:
    _BilledModel().invoke("hello", config={"callbacks": [handler]})
    _BilledModel(served_copy=True).invoke("hello", config={"callbacks": [handler]})
    billed, copy = handler.records()
    assert (billed.cost_usd, billed.saved_usd, billed.tags.get("batch.saved_usd")) == (0.002, 0.002, "0.002")
    assert copy.cache_status is CacheStatus.DEDUPLICATED
    assert copy.saved_usd == 0.004
    assert "batch.saved_usd" not in copy.tags


def test_uuid_tenant_is_recorded_as_its_text(caplog: pytest.LogCaptureFixture) -> None:
    # Tenant ids read from a database are often uuid.UUID objects. The cache partition, the
    # spend guard and the dedup key read them as their text; the record used to drop the
    # value with a warning and fall back to the handler's default tenant: spend charged to
    # the tenant's budget was reported under another tenant.
    import uuid

    org = uuid.UUID("6f1c0e52-3d4b-4b8e-9a55-0f2d5b1c7e11")
    handler = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": "default-tenant"})
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        FakeChatModelWithUsage().invoke(
            "x", config={"callbacks": [handler], "metadata": {"tenant_id": org, "task_id": org}}
        )
    (r,) = handler.records()
    assert r.tenant == str(org) and r.task_id == str(org)
    assert "must be a string" not in caplog.text


def test_response_naming_its_model_with_a_dict_is_still_recorded(tmp_path: Any) -> None:
    # The record used to be built on the writer thread with the dict as its model, which
    # failed there ("building a cost record failed; record lost"): the call left no record.
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class OddModelName(BaseChatModel):
        model_name: str = "gpt-4o-mini"

        @property
        def _llm_type(self) -> str:
            return "odd-model-name"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            message = AIMessage(content="ok", response_metadata={"model_name": {"id": "gpt-4o-mini"}})
            message.usage_metadata = {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}
            return ChatResult(generations=[ChatGeneration(message=message)])

    for ledger in ("memory://", f"sqlite:///{tmp_path / 'costs.db'}"):
        handler = CostCallbackHandler(ledger=ledger)
        OddModelName().invoke("x", config={"callbacks": [handler]})
        assert handler.flush()
        (r,) = handler.records()
        assert (r.model, r.input_tokens, r.output_tokens) == ("gpt-4o-mini", 10, 2) and r.cost_usd > 0
        stats = handler.ledger.stats
        assert (stats.written, stats.dropped, stats.dead_lettered) == (1, 0, 0)
