"""RoutedChatModel(guard=..., shadow=...): the shadow call is reserved and settled on the
same spend guard as the answering call, so exploration cannot spend past a limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, RoutedChatModel
from llm_cost_hooks.routing import RuleRouter, ShadowMode


def _judge(request: Any, answers: dict[str, str]) -> dict[str, float]:
    return {tier: 1.0 for tier in answers}


def _llm(store: Path, guard: SpendGuard) -> RoutedChatModel:
    return RoutedChatModel(
        tiers={
            "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["4"]),
            "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["4"]),
        },
        strategy=RuleRouter([], default="small"),
        shadow=ShadowMode(_judge, share=1.0, budget_usd=5.0, store=store, seed=0),
        guard=guard,
    )


def test_shadow_spend_counts_against_the_guard(tmp_path: Path) -> None:
    limit = Limit.usd(1.0, per="day", scope="global")
    guard = SpendGuard([limit])
    llm = _llm(tmp_path / "ledger.db", guard)
    handler = CostCallbackHandler(ledger="memory://")
    llm.invoke("What is 2 + 2?", config={"callbacks": [handler]})
    records = {r.route: r for r in handler.records()}
    assert set(records) == {"small", "shadow:large"}
    total = sum(r.cost_usd for r in records.values())
    assert abs(guard.spent(limit) - total) < 1e-12


def test_a_shadow_call_the_limit_refuses_is_not_made(tmp_path: Path) -> None:
    # Enough for the small answer's worst case, not for the large tier's.
    guard = SpendGuard([Limit.usd_per_request(0.0005)])
    llm = _llm(tmp_path / "ledger.db", guard)
    handler = CostCallbackHandler(ledger="memory://")
    message = llm.invoke("What is 2 + 2?", max_tokens=100, config={"callbacks": [handler]})
    assert message.content == "4"
    assert llm.tiers["large"].call_count == 0
    assert llm.shadow.stats["call_errors"] == 1 and llm.shadow.stats["written"] == 0
    assert [r.route for r in handler.records() if r.success] == ["small"]
