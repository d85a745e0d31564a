"""RetryBudget(max_retry_usd=...) prices attempts with the guard: without one, it says so."""

from __future__ import annotations

import logging

import pytest

from llm_cost_hooks.budget import SpendGuard, _call
from llm_cost_hooks.dedup import RetryBudget
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel


def test_a_dollar_cap_without_a_guard_is_reported_once(caplog, monkeypatch) -> None:
    monkeypatch.setattr(_call, "_retry_usd_warned", False)  # once per process: start afresh
    boom = TimeoutError("provider timeout")
    model = GuardedChatModel(
        inner=FakeChatModelWithUsage(errors=[boom] * 6),
        retry=RetryBudget(max_attempts=3, max_retry_usd=0.0),
    )
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.budget"):
        for _ in range(2):
            with pytest.raises(TimeoutError):
                model.invoke("hi", config={"metadata": {"task_id": "t1"}})
    notes = [r for r in caplog.records if "max_retry_usd" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.WARNING
    assert "guard" in notes[0].getMessage()


def test_a_guard_with_no_limits_makes_the_dollar_cap_work() -> None:
    boom = TimeoutError("provider timeout")
    inner = FakeChatModelWithUsage(errors=[boom] * 6, max_tokens=20)
    model = GuardedChatModel(
        inner=inner, guard=SpendGuard([]), retry=RetryBudget(max_attempts=5, max_retry_usd=0.0)
    )
    handler = CostCallbackHandler(ledger="memory://")
    with pytest.raises(TimeoutError):
        model.invoke("hi", config={"callbacks": [handler], "metadata": {"task_id": "t2"}})
    # No retry: the next attempt's worst case is over the $0 cap.
    assert handler.ledger.records()[-1].tags["retry.attempts"] == "1"
