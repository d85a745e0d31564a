"""A Router fallback whose failed attempts' events arrive after the fallback started (the
LiteLLM proxy delivers events from its logging worker, late): each attempt keeps its own
record and the fallback is priced as the model that answered. Events are fed in the order
the proxy delivered them (tests/test_litellm_proxy_gateway.py runs the real proxy)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from llm_cost_hooks import PriceBook, TokenUsage

NOW = dt.datetime.now()


def _kwargs(model: str, error: BaseException | None = None) -> dict[str, Any]:
    return {
        "litellm_call_id": "call-1",
        "call_type": "acompletion",
        "model": model,
        "custom_llm_provider": "openai",
        "messages": [{"role": "user", "content": "hello there"}],
        "litellm_params": {"metadata": {"tenant_id": "acme", "model_group": "flaky-4o"}},
        "exception": error,
    }


def _feed(events: list[tuple[str, str]]) -> list[Any]:
    from litellm.types.utils import ModelResponse, Usage

    from llm_cost_hooks.litellm import CostHooksLogger

    cost_logger = CostHooksLogger(ledger="memory://")
    for event, model in events:
        if event == "pre":
            kwargs = _kwargs(model)
            cost_logger.log_pre_api_call(model, kwargs["messages"], kwargs)
        elif event == "fail":
            cost_logger.log_failure_event(_kwargs(model, RuntimeError("upstream 500")), None, NOW, NOW)
        else:
            usage = Usage(prompt_tokens=10, completion_tokens=3, total_tokens=13)
            cost_logger.log_success_event(_kwargs(model), ModelResponse(model=model, usage=usage), NOW, NOW)
    assert cost_logger.flush(2)
    return sorted(cost_logger.records(), key=lambda r: r.attempt)


def test_a_fallback_started_before_the_failed_attempts_events_is_a_run_of_its_own() -> None:
    recs = _feed([("pre", "gpt-4o"), ("fail", "gpt-4o"), ("pre", "gpt-4o"), ("pre", "gpt-4o-mini"),
                  ("fail", "gpt-4o"), ("ok", "gpt-4o-mini")])  # fmt: skip
    assert [(r.model, r.attempt, r.success) for r in recs] == [
        ("gpt-4o", 1, False),
        ("gpt-4o", 2, False),
        ("gpt-4o-mini", 3, True),
    ]
    usage = TokenUsage(input_tokens=10, output_tokens=3)
    assert recs[-1].cost_usd == pytest.approx(PriceBook.default().cost(usage, "gpt-4o-mini").total)


def test_a_fallback_that_fails_too_is_recorded_as_its_model() -> None:
    recs = _feed([("pre", "gpt-4o"), ("pre", "gpt-4o-mini"), ("fail", "gpt-4o"), ("fail", "gpt-4o-mini")])
    assert [(r.model, r.attempt, r.success) for r in recs] == [
        ("gpt-4o", 1, False),
        ("gpt-4o-mini", 2, False),
    ]
