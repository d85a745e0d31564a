"""A context budget that cannot be met says which setting to change."""

from __future__ import annotations

import pytest

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import ContextBudget, SegmentBudgets

SYSTEM = {"role": "system", "content": "You are ACME's support bot. " * 50}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/receipt.png", "detail": "low"}}


def test_a_system_prompt_over_its_budget_names_the_setting_and_the_size_needed() -> None:
    with pytest.raises(BudgetExceeded) as info:
        ContextBudget(SegmentBudgets(system=50)).apply([SYSTEM, {"role": "user", "content": "hi"}])
    message = str(info.value)
    assert "SegmentBudgets(system=...)" in message and f"at least {info.value.requested:g}" in message
    assert "oversize='truncate'" in message


def test_a_last_message_that_cannot_fit_names_the_setting() -> None:
    question = {"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]}
    with pytest.raises(BudgetExceeded) as info:
        ContextBudget(SegmentBudgets(history=20)).apply([question])
    assert "SegmentBudgets(history=...)" in str(info.value) and "images" in str(info.value)
    long = {"role": "user", "content": "Details about the trip. " * 100}
    with pytest.raises(BudgetExceeded) as info:
        ContextBudget(SegmentBudgets(history=60), strict=True).apply([long])
    assert "SegmentBudgets(history=...)" in str(info.value) and "strict=True" in str(info.value)
