"""A LiteLLM call the spend guard refuses leaves the same record as a refused LangChain
call (tests/test_budgets_refused_call_cost.py): failed, ``error_type`` ``BudgetExceeded``,
no tokens, no cost, the call's attribution; ``llm-cost report --show budget`` counts
refusals from it on both adapters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard

KWARGS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "a question " * 200}],
    "mock_response": "ok",
    "metadata": {"tenant_id": "acme", "feature": "faq"},
}


def _logger(litellm: Any) -> Any:
    from llm_cost_hooks.litellm import CostHooksLogger

    guard = SpendGuard(
        [Limit.usd(0.000001, per="day", scope="tenant")], alerts=AlertManager(log=False, span_events=False)
    )
    cost_logger = CostHooksLogger(ledger="memory://", guard=guard)
    litellm.callbacks = [cost_logger]
    return cost_logger


def _assert_refused(cost_logger: Any) -> None:
    assert cost_logger.flush(timeout=30)
    [record] = cost_logger.records()
    assert record.error_type == "BudgetExceeded" and not record.success
    assert record.cost_usd == 0.0 and record.input_tokens == 0 and record.output_tokens == 0
    assert (record.tenant, record.feature, record.model) == ("acme", "faq", "gpt-4o-mini")
    assert record.tags == {}  # as the LangChain adapter's refused record


@pytest.mark.parametrize("stream", [False, True])
def test_refused_completion_through_the_logger_is_recorded_at_no_cost(
    litellm_clean: Any, stream: bool
) -> None:
    import litellm

    cost_logger = _logger(litellm)
    with pytest.raises(BudgetExceeded):
        cost_logger.completion(**KWARGS, stream=stream)
    _assert_refused(cost_logger)


@pytest.mark.parametrize("through", ["litellm", "logger"])
def test_refused_acompletion_is_recorded_at_no_cost(litellm_clean: Any, through: str) -> None:
    import litellm

    cost_logger = _logger(litellm)
    call = litellm.acompletion if through == "litellm" else cost_logger.acompletion

    async def main() -> None:
        with pytest.raises(BudgetExceeded):
            await call(**KWARGS)
        await cost_logger.aflush(timeout=5)

    asyncio.run(main())
    _assert_refused(cost_logger)


class _StoreDown:
    """A shared spend store that cannot answer (with ``fail_mode="closed"`` the guard refuses)."""

    def __getattr__(self, name: str) -> Any:
        from llm_cost_hooks import SpendStoreUnavailable

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise SpendStoreUnavailable("the shared spend store is unreachable")

        async def afail(*args: Any, **kwargs: Any) -> Any:
            fail()

        return afail if name.startswith("a") else fail


def _closed_logger(litellm: Any) -> Any:
    from llm_cost_hooks.litellm import CostHooksLogger

    guard = SpendGuard(
        [Limit.usd(10.0, per="day", scope="tenant")],
        store=_StoreDown(),
        alerts=AlertManager(log=False, span_events=False),
    )
    cost_logger = CostHooksLogger(ledger="memory://", guard=guard)
    litellm.callbacks = [cost_logger]
    return cost_logger


def _assert_store_refusal(cost_logger: Any) -> None:
    assert cost_logger.flush(timeout=30)
    [record] = cost_logger.records()  # one record: not a second one from LiteLLM's failure event
    assert record.error_type == "SpendStoreUnavailable" and not record.success
    assert record.cost_usd == 0.0 and record.input_tokens == 0 and record.output_tokens == 0
    assert (record.tenant, record.feature, record.model) == ("acme", "faq", "gpt-4o-mini")


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_refused_by_an_unreachable_spend_store_is_recorded_at_no_cost(
    litellm_clean: Any, stream: bool
) -> None:
    from llm_cost_hooks import SpendStoreUnavailable

    cost_logger = _closed_logger(litellm_clean)
    with pytest.raises(SpendStoreUnavailable):
        cost_logger.completion(**KWARGS, stream=stream)
    _assert_store_refusal(cost_logger)


@pytest.mark.parametrize("through", ["litellm", "logger", "proxy"])
def test_an_async_call_refused_by_an_unreachable_spend_store_is_recorded_once(
    litellm_clean: Any, through: str
) -> None:
    from llm_cost_hooks import SpendStoreUnavailable

    cost_logger = _closed_logger(litellm_clean)

    async def main() -> None:
        with pytest.raises(SpendStoreUnavailable):
            if through == "proxy":
                await cost_logger.async_pre_call_hook(None, None, dict(KWARGS), "completion")
            else:
                call = litellm_clean.acompletion if through == "litellm" else cost_logger.acompletion
                await call(**KWARGS)
        await cost_logger.aflush(timeout=5)

    asyncio.run(main())
    _assert_store_refusal(cost_logger)


# -- guarded_completion / aguarded_completion: the guard sits around the call, before LiteLLM --


def _tight_guard() -> SpendGuard:
    return SpendGuard(
        [Limit.usd(0.000001, per="day", scope="tenant")], alerts=AlertManager(log=False, span_events=False)
    )


def _down_guard() -> SpendGuard:
    return SpendGuard(
        [Limit.usd(10.0, per="day", scope="tenant")],
        store=_StoreDown(),
        alerts=AlertManager(log=False, span_events=False),
    )


@pytest.mark.parametrize("refusal", ["budget", "store"])
@pytest.mark.parametrize("mode", ["sync", "sync-stream", "async", "async-stream"])
def test_a_call_guarded_completion_refuses_is_recorded_by_the_registered_logger(
    litellm_clean: Any, mode: str, refusal: str
) -> None:
    from llm_cost_hooks import SpendStoreUnavailable
    from llm_cost_hooks.litellm import CostHooksLogger, aguarded_completion, guarded_completion

    cost_logger = CostHooksLogger(ledger="memory://")  # records only; the guard is the helper's
    litellm_clean.callbacks = [cost_logger]
    guard, error = (
        (_tight_guard(), BudgetExceeded) if refusal == "budget" else (_down_guard(), SpendStoreUnavailable)
    )
    kwargs = {**KWARGS, "stream": mode.endswith("stream")}
    with pytest.raises(error):
        if mode.startswith("sync"):
            guarded_completion(guard, **kwargs)
        else:
            asyncio.run(aguarded_completion(guard, **kwargs))
    assert cost_logger.flush(timeout=30)
    [record] = cost_logger.records()
    assert record.error_type == error.__name__ and not record.success
    assert record.cost_usd == 0.0 and record.input_tokens == 0 and record.output_tokens == 0
    assert (record.tenant, record.feature, record.model) == ("acme", "faq", "gpt-4o-mini")


def test_a_logger_passed_with_the_call_records_the_refusal_too(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger, guarded_completion

    cost_logger = CostHooksLogger(ledger="memory://")
    with pytest.raises(BudgetExceeded):
        guarded_completion(_tight_guard(), **KWARGS, callbacks=[cost_logger])
    assert cost_logger.flush(timeout=30)
    [record] = cost_logger.records()
    assert record.error_type == "BudgetExceeded" and record.cost_usd == 0.0


def test_a_refusal_with_the_logger_guarding_too_is_recorded_once(litellm_clean: Any) -> None:
    # The logger's own guard refuses inside LiteLLM (its pre-call hook) and records that;
    # the helper's guard let the call through, so it adds nothing.
    from llm_cost_hooks.litellm import aguarded_completion

    cost_logger = _logger(litellm_clean)
    roomy = SpendGuard([Limit.usd(10.0, per="day")], alerts=AlertManager(log=False, span_events=False))

    async def main() -> None:
        with pytest.raises(BudgetExceeded):
            await aguarded_completion(roomy, **KWARGS)
        assert await cost_logger.aflush(timeout=30)

    asyncio.run(main())
    _assert_refused(cost_logger)


def test_without_a_logger_of_ours_a_refusal_is_only_the_error(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import guarded_completion

    litellm_clean.callbacks = []
    with pytest.raises(BudgetExceeded):
        guarded_completion(_tight_guard(), **KWARGS)
