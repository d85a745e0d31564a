"""Shadow mode asks its second tier for streamed plain-chat answers too: a chat app that
streams every answer (through a rule or trained router, whose chunks pass straight
through) would otherwise never explore, and the outcomes it records would not stand for
its traffic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, RoutedChatModel
from llm_cost_hooks.routing import RuleRouter, ShadowMode, outcomes_from_ledger


def _judge(request: Any, answers: dict[str, str]) -> dict[str, float]:
    return {tier: float(answer.strip() == "4") for tier, answer in answers.items()}


def _llm(store: Path) -> RoutedChatModel:
    return RoutedChatModel(
        tiers={
            "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["the answer is 4"]),
            "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["4"]),
        },
        strategy=RuleRouter([], default="small"),
        shadow=ShadowMode(_judge, share=1.0, budget_usd=5.0, store=store, seed=0),
    )


def test_a_streamed_answer_is_shadowed_after_its_last_chunk(tmp_path: Path) -> None:
    llm = _llm(tmp_path / "ledger.db")
    handler = CostCallbackHandler(ledger="memory://")
    chunks = list(llm.stream("What is 2 + 2?", config={"callbacks": [handler]}))
    assert "".join(str(c.content) for c in chunks) == "the answer is 4"
    assert sorted(r.route or "" for r in handler.records()) == ["shadow:large", "small"]
    assert llm.shadow.stats["written"] == 1
    [outcome] = outcomes_from_ledger(tmp_path / "ledger.db").quality.tolist()
    assert outcome == [0.0, 1.0]  # the streamed answer itself was judged, whole


def test_an_astreamed_answer_is_shadowed(tmp_path: Path) -> None:
    llm = _llm(tmp_path / "ledger.db")
    handler = CostCallbackHandler(ledger="memory://")

    async def consume() -> str:
        return "".join(
            [str(c.content) async for c in llm.astream("What is 2 + 2?", config={"callbacks": [handler]})]
        )

    assert asyncio.run(consume()) == "the answer is 4"
    assert sorted(r.route or "" for r in handler.records()) == ["shadow:large", "small"]
    assert llm.shadow.stats["written"] == 1


def test_a_stream_stopped_early_is_not_shadowed(tmp_path: Path) -> None:
    llm = _llm(tmp_path / "ledger.db")
    stream = llm.stream("What is 2 + 2?")
    next(stream)
    stream.close()
    assert llm.shadow.stats["shadowed"] == 0
