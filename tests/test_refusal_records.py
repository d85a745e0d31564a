"""Every refusal leaves one record: a call refused by an open circuit, a fail-closed spend
store that cannot answer or a ``downgrade`` policy with nowhere to go is recorded as a
refused budget call is (tests/test_budgets_refused_call_cost.py): failed, ``error_type``
the refusal's type, no tokens, no cost, once; on ``invoke``, ``stream``, ``ainvoke`` and
``astream`` of ``GuardedChatModel`` and ``RoutedChatModel``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_cost_hooks import CircuitOpenError, DowngradeRequired, SpendStoreUnavailable
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.dedup import CircuitBreaker
from llm_cost_hooks.langchain import (
    CostCallbackHandler,
    FakeChatModelWithUsage,
    GuardedChatModel,
    RoutedChatModel,
)
from llm_cost_hooks.routing import RuleRouter

HOW = ["invoke", "stream", "ainvoke", "astream"]


class _StoreDown:
    """A shared spend store that cannot answer."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise SpendStoreUnavailable("the shared spend store is unreachable")

        async def afail(*args: Any, **kwargs: Any) -> Any:
            fail()

        return afail if name.startswith("a") else fail


def _model(name: str = "gpt-4o-mini") -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name=name, responses=["an answer"] * 5)


def _guard(limit: Limit, **kw: Any) -> SpendGuard:
    return SpendGuard([limit], alerts=AlertManager(log=False, span_events=False), **kw)


def _call(model: Any, how: str, handler: CostCallbackHandler) -> None:
    config: Any = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "feature": "faq"}}
    prompt = "a question " * 50
    if how == "invoke":
        model.invoke(prompt, config=config)
    elif how == "stream":
        list(model.stream(prompt, config=config))
    elif how == "ainvoke":
        asyncio.run(model.ainvoke(prompt, config=config))
    else:

        async def consume() -> None:
            async for _ in model.astream(prompt, config=config):
                pass

        asyncio.run(consume())


def _refused(model: Any, how: str, error: type[Exception]) -> Any:
    handler = CostCallbackHandler(ledger="memory://")
    with pytest.raises(error):
        _call(model, how, handler)
    handler.tracker.flush()
    [record] = handler.records()  # once: not again by the router's or the guard's run
    assert (record.success, record.error_type, record.cost_usd) == (False, error.__name__, 0.0)
    assert (record.input_tokens, record.output_tokens, record.tenant, record.feature) == (0, 0, "acme", "faq")
    return record


@pytest.mark.parametrize("how", HOW)
def test_an_open_circuit_leaves_one_failed_record_at_no_cost(how: str) -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    breaker.record_failure("gpt-4o-mini")
    record = _refused(GuardedChatModel(inner=_model(), breaker=breaker), how, CircuitOpenError)
    assert record.model == "gpt-4o-mini" and record.tags["breaker.state"] == "open"


@pytest.mark.parametrize("how", HOW)
def test_a_spend_store_that_cannot_answer_leaves_one_failed_record_at_no_cost(how: str) -> None:
    guard = _guard(Limit.usd(10.0, per="day"), store=_StoreDown())
    _refused(GuardedChatModel(inner=_model(), guard=guard), how, SpendStoreUnavailable)


@pytest.mark.parametrize("how", HOW)
def test_a_downgrade_with_no_cheaper_model_leaves_one_failed_record(how: str) -> None:
    guard = _guard(Limit.usd_per_request(1e-9, on_breach="downgrade"))
    _refused(GuardedChatModel(inner=_model(), guard=guard), how, DowngradeRequired)


@pytest.mark.parametrize("how", HOW)
def test_a_router_downgraded_to_its_cheapest_tier_and_refused_there_leaves_one_record(how: str) -> None:
    # The large tier is refused and hands the call down (no record of its own); the small
    # tier is refused too and nothing is cheaper: the refusal is recorded once, on it.
    guard = _guard(Limit.usd_per_request(1e-9, on_breach="downgrade"))
    llm = RoutedChatModel(
        tiers={"small": _model("gpt-4o-mini"), "large": _model("gpt-4o")},
        guard=guard,
        strategy=RuleRouter([], default="large"),
    )
    record = _refused(llm, how, DowngradeRequired)
    assert (record.model, record.route) == ("gpt-4o-mini", "small")
