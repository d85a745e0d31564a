"""A call the budget refused was never sent: its ledger row bills nothing.

The row stays (``llm-cost report --show budget`` counts refusals from it), but a fleet
run where a tenant hit its limit showed every refused call priced at its prompt's input
tokens: 291 refusals, 11 % of the ledger's total, for requests no provider received.
"""

from __future__ import annotations

import pytest

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel


def test_refused_call_is_recorded_with_no_cost() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    guard = SpendGuard([Limit.usd(0.000001, per="day", scope="tenant")])
    model = GuardedChatModel(
        inner=FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"]), guard=guard
    )
    with pytest.raises(BudgetExceeded):
        model.invoke("a question " * 200, config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
    handler.flush()
    [record] = list(handler.tracker.ledger.records())
    assert record.error_type == "BudgetExceeded" and not record.success
    assert record.cost_usd == 0.0
