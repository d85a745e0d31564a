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
    r = guarded_completion(g, model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test",
                           messages=MSG, max_tokens=40, metadata={"tenant_id": "acme"})
    u = r.usage
    expected = PriceBook.default().cost(TokenUsage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens),
                                        "gpt-4o-mini").total
    assert g.spent(g.limits[0], "acme") == pytest.approx(expected, abs=1e-9)
    assert g.spent(g.limits[0], "other") == 0


def test_budget_exceeded_reaches_the_caller_before_any_request(litellm_clean: Any, openai_stub: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger, guarded_completion

    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [cl]
    # Worst case of 4,000 output tokens of gpt-4o-mini is $0.0024 > $0.001.
    g = guard(Limit.usd(0.001, per="day", scope="tenant"))
    with pytest.raises(BudgetExceeded) as info:
        guarded_completion(g, model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test",
                           messages=MSG, max_tokens=4000, metadata={"tenant_id": "acme"})
    assert "usd_per_day_per_tenant" in str(info.value) and info.value.limit == 0.001
    assert openai_stub.stats()["chat"] == 0  # refused before the provider saw anything
    assert cl.records() == []
    # A smaller cap fits and goes through.
    guarded_completion(g, model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test",
                       messages=MSG, max_tokens=100, metadata={"tenant_id": "acme"})
    assert openai_stub.stats()["chat"] == 1


def test_a_failed_call_releases_its_hold(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import guarded_completion

    g = guard(Limit.usd(0.003, per="day", scope="tenant"))
    for _ in range(3):  # each would hold $0.0024: without release the 2nd would be refused
        with pytest.raises(litellm_clean.RateLimitError):
            guarded_completion(g, model="gpt-4o-mini", messages=MSG, max_tokens=4000,
                               mock_response="litellm.RateLimitError", metadata={"tenant_id": "acme"})
    assert g.spent(g.limits[0], "acme") == 0


def test_shrink_output_policy_lowers_max_tokens_sent(litellm_clean: Any, openai_stub: Any) -> None:
    from llm_cost_hooks.litellm import guarded_completion

    g = guard(Limit.usd(0.0003, per="day", scope="tenant", on_breach="shrink_output"))
    r = guarded_completion(g, model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test",
                           messages=MSG, max_tokens=4000, metadata={"tenant_id": "acme"})
    # The stub answers exactly max_tokens completion tokens: the cap actually sent.
    assert 16 <= r.usage.completion_tokens < 4000
    assert g.spent(g.limits[0], "acme") <= 0.0003 + 1e-12


async def test_async_guarded_completion(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import aguarded_completion

    g = guard(Limit.usd(0.001, per="day", scope="tenant"))
    with pytest.raises(BudgetExceeded):
        await aguarded_completion(g, model="gpt-4o-mini", messages=MSG, max_tokens=4000, mock_response="x",
                                  metadata={"tenant_id": "acme"})
    r = await aguarded_completion(g, model="gpt-4o-mini", messages=MSG, max_tokens=50, mock_response="ok",
                                  metadata={"tenant_id": "acme"})
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
    kw = dict(model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test", messages=MSG, max_tokens=7)
    responses = await asyncio.gather(*(
        adeduplicated_completion(flight, metadata={"tenant_id": "acme", "task_id": f"d-{i}"}, **kw) for i in range(5)
    ))
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
