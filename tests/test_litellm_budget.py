"""Spend guardrails around LiteLLM SDK calls: reserve / settle / release, and
BudgetExceeded reaching the caller before any provider request."""

from __future__ import annotations

from typing import Any

import pytest

from llm_cost_hooks import BudgetExceeded, PriceBook, TokenUsage
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard

MSG = [{"role": "user", "content": "Summarise the quarterly report in two lines."}]


def guard(*limits: Limit) -> SpendGuard:
    return SpendGuard(list(limits), alerts=AlertManager(log=False))


def test_settles_the_real_cost_of_each_call(litellm_clean: Any, openai_stub: Any) -> None:
    from llm_cost_hooks.litellm import guarded_completion

    g = guard(Limit.usd(1.0, per="day", scope="tenant"))
    r = guarded_completion(
        g,
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=MSG,
        max_tokens=40,
        metadata={"tenant_id": "acme"},
    )
    u = r.usage
    expected = (
        PriceBook.default()
        .cost(TokenUsage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens), "gpt-4o-mini")
        .total
    )
    assert g.spent(g.limits[0], "acme") == pytest.approx(expected, abs=1e-9)
    assert g.spent(g.limits[0], "other") == 0


def test_budget_exceeded_reaches_the_caller_before_any_request(litellm_clean: Any, openai_stub: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger, guarded_completion

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    # Worst case of 4,000 output tokens of gpt-4o-mini is $0.0024 > $0.001.
    g = guard(Limit.usd(0.001, per="day", scope="tenant"))
    with pytest.raises(BudgetExceeded) as info:
        guarded_completion(
            g,
            model="openai/gpt-4o-mini",
            api_base=openai_stub.base,
            api_key="sk-test",
            messages=MSG,
            max_tokens=4000,
            metadata={"tenant_id": "acme"},
        )
    assert "usd_per_day_per_tenant" in str(info.value) and info.value.limit == 0.001
    assert openai_stub.stats()["chat"] == 0  # refused before the provider saw anything
    assert cl.flush(timeout=30)
    [refused] = cl.records()  # recorded by the registered logger, at no cost
    assert refused.error_type == "BudgetExceeded" and refused.cost_usd == 0.0 and refused.tenant == "acme"
    # A smaller cap fits and goes through.
    guarded_completion(
        g,
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=MSG,
        max_tokens=100,
        metadata={"tenant_id": "acme"},
    )
    assert openai_stub.stats()["chat"] == 1


def test_a_failed_call_releases_its_hold(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import guarded_completion

    g = guard(Limit.usd(0.003, per="day", scope="tenant"))
    for _ in range(3):  # each would hold $0.0024: without release the 2nd would be refused
        with pytest.raises(litellm_clean.RateLimitError):
            guarded_completion(
                g,
                model="gpt-4o-mini",
                messages=MSG,
                max_tokens=4000,
                mock_response="litellm.RateLimitError",
                metadata={"tenant_id": "acme"},
            )
    assert g.spent(g.limits[0], "acme") == 0


def test_shrink_output_policy_lowers_max_tokens_sent(litellm_clean: Any, openai_stub: Any) -> None:
    from llm_cost_hooks.litellm import guarded_completion

    g = guard(Limit.usd(0.0003, per="day", scope="tenant", on_breach="shrink_output"))
    r = guarded_completion(
        g,
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=MSG,
        max_tokens=4000,
        metadata={"tenant_id": "acme"},
    )
    # The stub answers exactly max_tokens completion tokens: the cap actually sent.
    assert 16 <= r.usage.completion_tokens < 4000
    assert g.spent(g.limits[0], "acme") <= 0.0003 + 1e-12


async def test_async_guarded_completion(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import aguarded_completion

    g = guard(Limit.usd(0.001, per="day", scope="tenant"))
    with pytest.raises(BudgetExceeded):
        await aguarded_completion(
            g,
            model="gpt-4o-mini",
            messages=MSG,
            max_tokens=4000,
            mock_response="x",
            metadata={"tenant_id": "acme"},
        )
    r = await aguarded_completion(
        g,
        model="gpt-4o-mini",
        messages=MSG,
        max_tokens=50,
        mock_response="ok",
        metadata={"tenant_id": "acme"},
    )
    assert r.choices[0].message.content == "ok"
    assert g.spent(g.limits[0], "acme") > 0


async def test_concurrent_duplicates_share_one_upstream_call(litellm_clean: Any, openai_stub: Any) -> None:
    import asyncio

    from llm_cost_hooks import CacheStatus
    from llm_cost_hooks.dedup import SingleFlight
    from llm_cost_hooks.litellm import CostHooksLogger, adeduplicated_completion

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    flight = SingleFlight(result_ttl=0)
    kw = dict(
        model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test", messages=MSG, max_tokens=7
    )
    responses = await asyncio.gather(
        *(
            adeduplicated_completion(flight, metadata={"tenant_id": "acme", "task_id": f"d-{i}"}, **kw)
            for i in range(5)
        )
    )
    assert openai_stub.stats()["chat"] == 1
    assert len({r.choices[0].message.content for r in responses}) == 1
    for _ in range(300):
        mine = [r for r in cl.records() if (r.task_id or "").startswith("d-")]
        if len(mine) == 5:
            break
        await asyncio.sleep(0.02)
    statuses = sorted(r.cache_status.value for r in mine)
    assert statuses == ["deduplicated"] * 4 + ["miss"]
    leader = next(r for r in mine if r.cache_status is CacheStatus.MISS)
    for r in mine:
        if r.cache_status is CacheStatus.DEDUPLICATED:
            assert r.cost_usd == 0 and r.saved_usd == pytest.approx(leader.cost_usd) and r.tenant == "acme"


# -- the logger's pre-call hooks (no wrapper): acompletion, Router, sync completion --------------
def long_conversation(turns: int = 12) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a hotel booking assistant. Be brief."}
    ]
    for i in range(turns):
        msgs += [
            {"role": "user", "content": f"Turn {i}: I need a cheap hotel in the north with free parking."},
            {
                "role": "assistant",
                "content": f"Turn {i}: I found {i + 2} guesthouses; which area do you prefer?",
            },
        ]
    msgs.append({"role": "user", "content": "Book the cheapest one for two nights, please."})
    return msgs


async def wait_records(cl: Any, predicate: Any, n: int) -> list[Any]:
    import asyncio

    for _ in range(500):  # async success events run on LiteLLM's logging worker
        found = [r for r in cl.records() if predicate(r)]
        if len(found) >= n:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {n} records, got {[r for r in cl.records() if predicate(r)]}")


async def test_acompletion_hook_trims_to_the_route_budget_and_clamps_max_tokens(
    litellm_clean: Any, openai_stub: Any
) -> None:
    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
    from llm_cost_hooks.litellm import CostHooksLogger

    budget = ContextBudget({"/support": SegmentBudgets(history=120, output=64)})
    cl = CostHooksLogger(ledger="memory://", context_budget=budget)
    litellm_clean.callbacks = [cl]
    msgs = long_conversation()
    expected = budget.apply(msgs, route="/support", max_tokens=1000, model="gpt-4o-mini")
    r = await litellm_clean.acompletion(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=msgs,
        max_tokens=1000,
        metadata={"route": "/support", "task_id": "trim-1"},
    )
    # The stub bills chars // 4 + 7 prompt tokens of what it received and exactly max_tokens out.
    sent_chars = sum(len(m["content"]) for m in expected.messages)
    assert r.usage.prompt_tokens == sent_chars // 4 + 7 < sum(len(m["content"]) for m in msgs) // 4 + 7
    assert r.usage.completion_tokens == 64
    assert expected.messages[0]["role"] == "system" and expected.messages[-1] == msgs[-1]
    assert expected.after["history"] <= 120
    [rec] = await wait_records(cl, lambda r: r.task_id == "trim-1", 1)
    assert rec.tags["budget.trimmed.history"] == str(expected.removed["history"]) != "0"
    assert rec.tags["budget.output.clamped_from"] == "1000" and rec.tags["budget.output.max_tokens"] == "64"
    # A route without budgets (and no default) goes out untouched.
    r2 = await litellm_clean.acompletion(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=msgs,
        max_tokens=1000,
        metadata={"route": "/other"},
    )
    assert r2.usage.completion_tokens == 1000


def test_sync_completion_through_the_logger_trims_and_reserves(litellm_clean: Any, openai_stub: Any) -> None:
    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
    from llm_cost_hooks.litellm import CostHooksLogger

    g = guard(Limit.usd(1.0, per="day", scope="tenant"))
    cl = CostHooksLogger(
        ledger="memory://", guard=g, context_budget=ContextBudget(SegmentBudgets(history=80, output=30))
    )
    litellm_clean.callbacks = [cl]
    r = cl.completion(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=long_conversation(),
        max_tokens=500,
        metadata={"tenant_id": "acme", "task_id": "s-1"},
    )
    assert r.usage.completion_tokens == 30
    assert cl.flush()
    [rec] = [x for x in cl.records() if x.task_id == "s-1"]
    assert int(rec.tags["budget.trimmed.history"]) > 0
    # Settled to the real cost of the trimmed call (not its worst case).
    assert g.spent(g.limits[0], "acme") == pytest.approx(rec.cost_usd, abs=1e-12)


async def test_budget_exceeded_from_plain_acompletion_before_any_request(
    litellm_clean: Any, openai_stub: Any
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    g = guard(Limit.usd(0.001, per="day", scope="tenant"))
    cl = CostHooksLogger(ledger="memory://", guard=g)
    litellm_clean.callbacks = [cl]
    kw = dict(model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test", messages=MSG)
    with pytest.raises(BudgetExceeded) as info:
        await litellm_clean.acompletion(
            max_tokens=4000, metadata={"tenant_id": "acme", "task_id": "b-1"}, **kw
        )
    assert "usd_per_day_per_tenant" in str(info.value)
    assert openai_stub.stats()["chat"] == 0
    r = await litellm_clean.acompletion(max_tokens=40, metadata={"tenant_id": "acme", "task_id": "b-2"}, **kw)
    assert openai_stub.stats()["chat"] == 1
    refused, rec = sorted(
        await wait_records(cl, lambda x: x.task_id in ("b-1", "b-2"), 2), key=lambda x: x.task_id
    )
    # The refused call left a failed record at no cost (no provider received it).
    assert (refused.task_id, refused.error_type, refused.cost_usd, refused.input_tokens) == (
        "b-1",
        "BudgetExceeded",
        0.0,
        0,
    )
    assert rec.task_id == "b-2"
    assert (
        g.spent(g.limits[0], "acme") == pytest.approx(rec.cost_usd, abs=1e-12)
        and r.usage.completion_tokens == 40
    )


async def test_one_idempotency_key_100_concurrent_acompletions_one_upstream_call(
    litellm_clean: Any, openai_stub: Any
) -> None:
    import asyncio

    from llm_cost_hooks import CacheStatus
    from llm_cost_hooks.dedup import SingleFlight
    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://", dedup=SingleFlight(result_ttl=30))
    litellm_clean.callbacks = [cl]
    kw = dict(
        model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test", messages=MSG, max_tokens=9
    )
    responses = await asyncio.gather(
        *(
            litellm_clean.acompletion(
                metadata={"tenant_id": "acme", "idempotency_key": "order-7", "task_id": f"dd-{i}"}, **kw
            )
            for i in range(100)
        )
    )
    assert openai_stub.stats()["chat"] == 1
    assert len({(r.id, r.choices[0].message.content) for r in responses}) == 1
    mine = await wait_records(cl, lambda r: (r.task_id or "").startswith("dd-"), 100)
    statuses = [r.cache_status for r in mine]
    assert statuses.count(CacheStatus.MISS) == 1 and statuses.count(CacheStatus.DEDUPLICATED) == 99
    leader = next(r for r in mine if r.cache_status is CacheStatus.MISS)
    assert leader.cost_usd > 0
    for r in mine:
        if r.cache_status is CacheStatus.DEDUPLICATED:
            assert r.cost_usd == 0 and r.saved_usd == pytest.approx(leader.cost_usd)
    # A different key is a different request; no key and no derive: no dedup.
    await litellm_clean.acompletion(metadata={"idempotency_key": "order-8"}, **kw)
    await asyncio.gather(*(litellm_clean.acompletion(**kw) for _ in range(2)))
    assert openai_stub.stats()["chat"] == 4


async def test_a_failed_leader_fails_its_followers_and_the_key_is_free_again(
    litellm_clean: Any, openai_stub: Any
) -> None:
    import asyncio

    from llm_cost_hooks.dedup import SingleFlight
    from llm_cost_hooks.litellm import CostHooksLogger

    litellm_clean.callbacks = [CostHooksLogger(ledger="memory://", dedup=SingleFlight(result_ttl=30))]
    openai_stub.control(fail_next=1)
    kw = dict(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=MSG,
        max_tokens=5,
        metadata={"idempotency_key": "flaky"},
        num_retries=0,
    )
    results = await asyncio.gather(
        *(litellm_clean.acompletion(**kw) for _ in range(5)), return_exceptions=True
    )
    assert openai_stub.stats()["chat"] == 1
    assert all(isinstance(r, Exception) for r in results)
    ok = await litellm_clean.acompletion(**kw)  # nothing cached from a failure
    assert ok.usage.completion_tokens == 5 and openai_stub.stats()["chat"] == 2


async def test_two_replicas_share_one_upstream_call_through_redis(
    litellm_clean: Any, openai_stub: Any, redis_clean_url: str
) -> None:
    """Two loggers (two proxy replicas) with RedisSingleFlight on one Redis: the requests of
    both with one idempotency key make one upstream call; the answer crosses as JSON."""
    import asyncio

    from llm_cost_hooks.dedup import RedisSingleFlight
    from llm_cost_hooks.litellm import CostHooksLogger

    litellm_clean.callbacks = []
    replicas = [
        CostHooksLogger(ledger="memory://", dedup=RedisSingleFlight(redis_clean_url, result_ttl=30))
        for _ in range(2)
    ]
    kw = dict(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=MSG,
        max_tokens=11,
        metadata={"tenant_id": "acme", "idempotency_key": "invoice-3"},
    )
    responses = await asyncio.gather(*(replicas[i % 2].acompletion(**kw) for i in range(20)))
    assert openai_stub.stats()["chat"] == 1
    assert {(r.id, r.choices[0].message.content, r.usage.completion_tokens) for r in responses} == {
        (responses[0].id, responses[0].choices[0].message.content, 11)
    }


async def test_streamed_acompletion_settles_from_the_final_usage(
    litellm_clean: Any, openai_stub: Any
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    g = guard(Limit.usd(1.0, per="day", scope="tenant"))
    cl = CostHooksLogger(ledger="memory://", guard=g)
    litellm_clean.callbacks = [cl]
    stream = await litellm_clean.acompletion(
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=MSG,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
        metadata={"tenant_id": "acme", "task_id": "st-1"},
    )
    async for _ in stream:
        pass
    await cl.aflush()
    [rec] = await wait_records(cl, lambda r: r.task_id == "st-1", 1)
    assert rec.output_tokens == 12
    assert g.usage(g.limits[0], "acme") == (pytest.approx(rec.cost_usd, abs=1e-12), 0)


async def test_an_oversized_system_prompt_is_refused_with_the_segment_named(litellm_clean: Any) -> None:
    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
    from llm_cost_hooks.litellm import CostHooksLogger

    cl = CostHooksLogger(ledger="memory://", context_budget=ContextBudget(SegmentBudgets(system=20)))
    litellm_clean.callbacks = [cl]
    with pytest.raises(BudgetExceeded) as info:
        await litellm_clean.acompletion(
            model="gpt-4o-mini",
            mock_response="x",
            metadata={"task_id": "big-sys"},
            messages=[
                {"role": "system", "content": "Follow the policy. " * 50},
                {"role": "user", "content": "hi"},
            ],
        )
    assert "context.system" in str(info.value)
    await cl.aflush()
    # Nothing was sent, nothing billed: a failed record at no cost, as for a spend refusal.
    [refused] = [r for r in cl.records() if r.task_id == "big-sys"]
    assert (refused.error_type, refused.cost_usd, refused.input_tokens) == ("BudgetExceeded", 0.0, 0)


async def test_embeddings_pass_the_hook_untouched_even_with_an_idempotency_key(litellm_clean: Any) -> None:
    from llm_cost_hooks.dedup import SingleFlight
    from llm_cost_hooks.litellm import CostHooksLogger

    litellm_clean.callbacks = [CostHooksLogger(ledger="memory://", dedup=SingleFlight(result_ttl=30))]
    for _ in range(2):
        r = await litellm_clean.aembedding(
            model="text-embedding-3-small",
            input=["hello"],
            mock_response=[0.1, 0.2],
            metadata={"idempotency_key": "emb-1"},
        )
        assert r.data[0]["embedding"] == [0.1, 0.2]


def test_trims_reach_the_span_of_the_call(litellm_clean: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
    from llm_cost_hooks.litellm import CostHooksLogger
    from llm_cost_hooks.telemetry import OTelObserver

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    cl = CostHooksLogger(
        ledger="memory://",
        observers=[OTelObserver(tracer_provider=tp, metrics=False)],
        context_budget=ContextBudget(SegmentBudgets(history=60, output=50)),
    )
    litellm_clean.callbacks = [cl]
    cl.completion(
        model="gpt-4o-mini",
        mock_response="ok",
        max_tokens=300,
        messages=long_conversation(),
        metadata={"task_id": "span-1"},
    )
    assert cl.flush()
    [rec] = [r for r in cl.records() if r.task_id == "span-1"]
    [span] = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    attrs = dict(span.attributes)
    removed = {k: v for k, v in attrs.items() if k.endswith("budget.trimmed.history")}
    assert (
        list(removed.values()) == [rec.tags["budget.trimmed.history"]]
        and int(rec.tags["budget.trimmed.history"]) > 0
    )
    assert any(k.endswith("budget.output.max_tokens") and v == "50" for k, v in attrs.items())


def test_overspend_on_the_logger_path_is_tagged_on_the_record(litellm_clean: Any) -> None:
    """A call whose real usage is far above what was reserved: its cost record (written by
    the LiteLLM logger) says so, and the guard counts and alerts it."""
    from litellm.types.utils import Usage

    from llm_cost_hooks.litellm import CostHooksLogger

    events: list[Any] = []
    g = SpendGuard(
        [Limit.usd(1.0, per="day", scope="tenant")],
        alerts=AlertManager([events.append], log=False, span_events=False),
    )
    cl = CostHooksLogger(ledger="memory://", guard=g)
    litellm_clean.callbacks = [cl]
    big = litellm_clean.ModelResponse(
        model="gpt-4o-mini",
        choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        usage=Usage(prompt_tokens=60_000, completion_tokens=10, total_tokens=60_010),
    )
    cl.completion(
        model="gpt-4o-mini",
        messages=MSG,
        max_tokens=20,
        mock_response=big,
        metadata={"tenant_id": "acme", "task_id": "over-1"},
    )
    assert cl.flush()
    [rec] = [x for x in cl.records() if x.task_id == "over-1"]
    assert rec.tags["budget.overspend.reason"] == "above_reservation"
    assert float(rec.tags["budget.overspend_usd"]) > 0
    assert float(rec.tags["budget.reserved_usd"]) < rec.cost_usd
    assert g.spent(g.limits[0], "acme") == pytest.approx(rec.cost_usd, abs=1e-12)
    assert [e.kind for e in events if e.kind == "overspend"] == ["overspend"]


def test_a_call_within_its_hold_has_no_overspend_tag(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    g = guard(Limit.usd(1.0, per="day", scope="tenant"))
    cl = CostHooksLogger(ledger="memory://", guard=g)
    litellm_clean.callbacks = [cl]
    cl.completion(
        model="gpt-4o-mini",
        messages=MSG,
        max_tokens=20,
        mock_response="ok",
        metadata={"tenant_id": "acme", "task_id": "ok-1"},
    )
    assert cl.flush()
    [rec] = [x for x in cl.records() if x.task_id == "ok-1"]
    assert "budget.overspend.reason" not in rec.tags
    assert "budget.reserved_usd" in rec.tags


def test_a_plain_sync_completion_past_the_guard_is_warned_once(
    litellm_clean: Any, openai_stub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Sync ``litellm.completion`` runs no pre-call hook: the guard neither reserves nor
    charges it. That must not be silent: one warning naming ``cost_logger.completion``."""
    from llm_cost_hooks.litellm import CostHooksLogger

    g = guard(Limit.usd(1.0, per="day", scope="tenant"))
    cl = CostHooksLogger(ledger="memory://", guard=g)
    litellm_clean.callbacks = [cl]
    kw: dict[str, Any] = dict(
        model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test", messages=MSG, max_tokens=20
    )
    with caplog.at_level("WARNING", logger="llm_cost_hooks"):
        cl.completion(**kw, metadata={"tenant_id": "acme", "task_id": "wrapped"})
        assert cl.flush()
        assert not [r for r in caplog.records if "pre-call work" in r.getMessage()]
        for i in range(2):
            litellm_clean.completion(**kw, metadata={"tenant_id": "acme", "task_id": f"plain-{i}"})
        assert cl.flush()
    said = [r.getMessage() for r in caplog.records if "pre-call work" in r.getMessage()]
    assert len(said) == 1
    assert "spend guard" in said[0] and "cost_logger.completion" in said[0]
    assert len([r for r in cl.records() if r.task_id and r.task_id.startswith("plain-")]) == 2


async def test_acompletion_through_the_guard_is_not_warned(
    litellm_clean: Any, openai_stub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    g = guard(Limit.usd(1.0, per="day", scope="tenant"))
    cl = CostHooksLogger(ledger="memory://", guard=g)
    litellm_clean.callbacks = [cl]
    with caplog.at_level("WARNING", logger="llm_cost_hooks"):
        await litellm_clean.acompletion(
            model="openai/gpt-4o-mini",
            api_base=openai_stub.base,
            api_key="sk-test",
            messages=MSG,
            max_tokens=20,
            metadata={"tenant_id": "acme"},
        )
        assert await cl.aflush()
    assert g.spent(g.limits[0], "acme") > 0
    assert not [r for r in caplog.records if "pre-call work" in r.getMessage()]
