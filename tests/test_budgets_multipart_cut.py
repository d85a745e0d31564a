"""A last user message with an image over the history budget: cut within the budget, or refused."""

from __future__ import annotations

from typing import Any

import pytest

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import ContextBudget, SegmentBudgets

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/receipt.png", "detail": "low"}}


def _question(words: int) -> dict[str, Any]:
    text = "My flight AB123 from Oslo was cancelled. " + "Some details about the trip. " * words
    return {"role": "user", "content": [{"type": "text", "text": text + "Refund of 420 euros?"}, IMAGE]}


def test_image_message_is_cut_within_the_budget_and_keeps_its_image() -> None:
    budget = ContextBudget(SegmentBudgets(history=150))
    result = budget.apply([_question(120)])
    assert result.after["history"] <= 150
    assert result.last_user_cut > 0
    content = result.messages[-1]["content"]
    assert IMAGE in content
    assert "[... truncated" in content[0]["text"]


def test_image_larger_than_the_budget_is_refused_not_sent_over_it() -> None:
    # A low-detail image alone is 85 tokens: a 60-token history cannot hold it.
    with pytest.raises(BudgetExceeded) as info:
        ContextBudget(SegmentBudgets(history=60)).apply([_question(5)])
    assert info.value.limit_name == "context.history"


def test_truncated_system_message_keeps_its_image() -> None:
    system = {
        "role": "system",
        "content": [{"type": "text", "text": "You are ACME's support bot. " * 80}, IMAGE],
    }
    budget = ContextBudget(SegmentBudgets(system=150), oversize="truncate")
    result = budget.apply([system, {"role": "user", "content": "hi"}])
    assert IMAGE in result.messages[0]["content"]
    assert result.after["system"] <= 150
