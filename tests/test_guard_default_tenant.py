"""The spend guard charges the tenant a call's cost record names.

A call naming no tenant (or an unusable one) is recorded under the default tenant (the
handler's or logger's ``defaults``, else ``LLM_COST_HOOKS_DEFAULT_TENANT``); the guard used
to charge the pool of calls naming none, so a limit on the default tenant never saw those
calls and budgets disagreed with reports. The cache partition and dedup key still follow
what the call itself names.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator
from typing import Any

import pytest

from llm_cost_hooks._errors import BudgetExceeded
from llm_cost_hooks._settings import get_settings
from llm_cost_hooks.budget import AlertEvent, AlertManager, Limit, SpendGuard, SpendRequest

MSG = [{"role": "user", "content": "Summarise the quarterly report in two lines."}]


def _guard(amount: float = 1.0, events: list[AlertEvent] | None = None) -> SpendGuard:
    sinks = [events.append] if events is not None else []
    alerts = AlertManager(sinks, log=False, span_events=False)
    return SpendGuard([Limit.usd(amount, per="day", scope="tenant", name="daily")], alerts=alerts)


@pytest.fixture
def env_default_tenant(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("LLM_COST_HOOKS_DEFAULT_TENANT", "house")
    get_settings(reload=True)
    yield "house"
    monkeypatch.delenv("LLM_COST_HOOKS_DEFAULT_TENANT")
    get_settings(reload=True)


def _chain(guard: SpendGuard, metadata: dict[str, Any], defaults: dict[str, Any] | None = None) -> Any:
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.langchain._budget import GuardedChatModel

    handler = CostCallbackHandler(ledger="memory://", defaults=defaults)
    model = GuardedChatModel(inner=FakeChatModelWithUsage(), guard=guard)
    model.invoke("Summarise the report.", config={"callbacks": [handler], "metadata": metadata})
    (record,) = handler.records()
    return record


@pytest.mark.parametrize("metadata", [{}, {"tenant_id": None}, {"tenant_id": math.nan}], ids=repr)
def test_langchain_call_naming_no_tenant_is_charged_to_the_handler_default(metadata: dict[str, Any]) -> None:
    guard = _guard()
    record = _chain(guard, metadata, defaults={"tenant_id": "acme"})
    assert record.tenant == "acme"
    assert guard.spent("daily", "acme") == pytest.approx(record.cost_usd, abs=1e-12)
    assert guard.spent("daily", None) == 0


def test_langchain_call_naming_no_tenant_is_charged_to_the_env_default(env_default_tenant: str) -> None:
    guard = _guard()
    record = _chain(guard, {})
    assert record.tenant == env_default_tenant
    assert guard.spent("daily", env_default_tenant) == pytest.approx(record.cost_usd, abs=1e-12)
    assert guard.spent("daily", None) == 0


def test_langchain_empty_tenant_is_charged_where_it_is_recorded() -> None:
    # "" clears the handler's default tenant for the record: the guard follows the record.
    guard = _guard()
    record = _chain(guard, {"tenant_id": ""}, defaults={"tenant_id": "acme"})
    assert guard.spent("daily", record.tenant) == pytest.approx(record.cost_usd, abs=1e-12)
    assert record.tenant is None and guard.spent("daily", "acme") == 0


def test_langchain_named_tenant_is_unchanged_by_the_default() -> None:
    guard = _guard()
    record = _chain(guard, {"tenant_id": "globex"}, defaults={"tenant_id": "acme"})
    assert record.tenant == "globex" and guard.spent("daily", "globex") > 0
    assert guard.spent("daily", "acme") == 0


def test_langchain_default_tenant_limit_refuses_and_alerts_for_tenantless_calls() -> None:
    events: list[AlertEvent] = []
    # One call's worst case (0.00983235 USD: its prompt + 4096 output tokens) fits; after its
    # real cost (3.15e-06) is spent, a second worst case does not.
    guard = _guard(amount=0.009834, events=events)
    _chain(guard, {}, defaults={"tenant_id": "acme"})
    with pytest.raises(BudgetExceeded):
        _chain(guard, {}, defaults={"tenant_id": "acme"})
    assert {e.scope_value for e in events} == {"acme"}
    assert "refused" in {e.kind for e in events}


def test_a_request_built_by_hand_naming_no_tenant_is_the_no_tenant_pool(env_default_tenant: str) -> None:
    # SpendGuard's own API charges what the SpendRequest says; the adapters fill the tenant in.
    guard = _guard()
    with guard.reserve(SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=10)) as r:
        r.settle(0.0001)
    assert guard.spent("daily", None) == pytest.approx(0.0001)
    assert guard.spent("daily", env_default_tenant) == 0


def test_litellm_guarded_completion_charges_the_logger_default(litellm_clean: Any, openai_stub: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger, guarded_completion

    cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"})
    litellm_clean.callbacks = [cl]
    guard = _guard()
    for metadata in ({}, {"tenant_id": math.nan}):
        guarded_completion(
            guard,
            model="openai/gpt-4o-mini",
            api_base=openai_stub.base,
            api_key="sk-test",
            messages=MSG,
            max_tokens=40,
            metadata=metadata,
        )
    assert cl.flush(timeout=30)
    records = cl.records()
    assert [r.tenant for r in records] == ["acme", "acme"]
    assert guard.spent("daily", "acme") == pytest.approx(sum(r.cost_usd for r in records), abs=1e-12)
    assert guard.spent("daily", None) == 0


async def test_litellm_logger_budget_hooks_charge_the_logger_default(
    litellm_clean: Any, openai_stub: Any
) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    guard = _guard()
    cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"}, guard=guard)
    litellm_clean.callbacks = [cl]
    await litellm_clean.acompletion(
        model="openai/gpt-4o-mini", api_base=openai_stub.base, api_key="sk-test", messages=MSG, max_tokens=40
    )
    for _ in range(300):  # the success event lands on LiteLLM's own schedule
        if cl.records():
            break
        await asyncio.sleep(0.01)
    assert cl.flush(timeout=30)
    (record,) = cl.records()
    assert record.tenant == "acme"
    assert guard.spent("daily", "acme") == pytest.approx(record.cost_usd, abs=1e-12)
    assert guard.spent("daily", None) == 0


def test_litellm_guarded_completion_without_logger_charges_the_env_default(
    litellm_clean: Any, openai_stub: Any, env_default_tenant: str
) -> None:
    from llm_cost_hooks.litellm import guarded_completion

    litellm_clean.callbacks = []
    guard = _guard()
    guarded_completion(
        guard,
        model="openai/gpt-4o-mini",
        api_base=openai_stub.base,
        api_key="sk-test",
        messages=MSG,
        max_tokens=40,
    )
    assert guard.spent("daily", env_default_tenant) > 0 and guard.spent("daily", None) == 0


def test_cache_and_dedup_of_a_tenantless_call_ignore_the_default_tenant() -> None:
    # Billing follows the record; who may share an answer follows what the call names.
    from llm_cost_hooks.cache import scope_from_metadata
    from llm_cost_hooks.dedup import idempotency_key

    assert scope_from_metadata({}).tenant is None
    assert idempotency_key({"idempotency_key": "k"}) != idempotency_key(
        {"idempotency_key": "k", "tenant_id": "acme"}
    )


class _MarginGuard(SpendGuard):
    def estimate(self, request: SpendRequest) -> tuple[float, float, float, int]:
        input_usd, out_rate, worst, cap = super().estimate(request)
        return input_usd * 2, out_rate * 2, worst * 2, cap


def test_an_overridden_estimate_is_asked_on_every_reservation() -> None:
    plain = SpendGuard([Limit.usd(1.0, per="day")], alerts=AlertManager(log=False))
    guard = _MarginGuard([Limit.usd(1.0, per="day")], alerts=AlertManager(log=False))
    request = SpendRequest(model="gpt-4o-mini", input_tokens=1000, max_output_tokens=500, tenant="acme")
    held = []
    for _ in range(3):  # the first reads the price; later ones used to skip estimate()
        r = guard.reserve(request)
        held.append(r.worst_usd)
        r.release()
    expected = plain.reserve(request).worst_usd * 2
    assert held == pytest.approx([expected] * 3)


def test_routed_model_tiers_charge_the_handler_default() -> None:
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, RoutedChatModel

    tiers = {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["s"]),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["L"]),
    }
    guard = _guard()
    llm = RoutedChatModel(tiers=tiers, guard=guard)
    handler = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": "acme"})
    llm.invoke("hi", max_tokens=50, config={"callbacks": [handler]})
    records = handler.records()
    assert records and {r.tenant for r in records} == {"acme"}
    assert guard.spent("daily", "acme") == pytest.approx(sum(r.cost_usd for r in records), abs=1e-12)
    assert guard.spent("daily", None) == 0


def test_the_default_tenant_is_no_named_tenant_for_the_cache() -> None:
    # A single-tenant app with a default tenant keeps its cache hits (require_tenant="auto"
    # has seen no named tenant) while the guard charges the default tenant.
    from langchain_core.globals import set_llm_cache
    from test_cache_require_tenant import OneVector, _config

    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.langchain._budget import GuardedChatModel
    from llm_cost_hooks.langchain._cache import SemanticCache

    cache = SemanticCache(path=":memory:", embedder=OneVector(), config=_config())
    set_llm_cache(cache)
    try:
        guard = _guard()
        handler = CostCallbackHandler(ledger="memory://", defaults={"tenant_id": "acme"})
        inner = FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"answer {i}" for i in range(10)])
        model = GuardedChatModel(inner=inner, guard=guard)
        config: Any = {"callbacks": [handler]}
        first = model.invoke("Where is my order?", config=config).content
        assert model.invoke("Where is my order?", config=config).content == first
        assert model.invoke("What is the status of my order?", config=config).content == first
        stats = cache.core.stats
        assert stats.exact_hits == 1 and stats.semantic_hits == 1 and stats.tenantless_bypassed == 0
        assert guard.spent("daily", "acme") > 0 and guard.spent("daily", None) == 0
    finally:
        set_llm_cache(None)
        cache.core.backend.close()


def test_unreadable_settings_do_not_break_a_tenantless_call(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from llm_cost_hooks import _settings
    from llm_cost_hooks.budget import _call

    monkeypatch.setenv("LLM_COST_HOOKS_EXIT_TIMEOUT", "soon")
    monkeypatch.setattr(_settings, "_settings", None)
    monkeypatch.setattr(_call, "_settings_warned", False)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        assert _call.Attribution.of({}).tenant is None
    assert "settings cannot be read" in caplog.text
    monkeypatch.delenv("LLM_COST_HOOKS_EXIT_TIMEOUT")
    get_settings(reload=True)
