"""Cascades under faults, as users deploy them: checks and scorers that misbehave, a strong
tier that fails after the weak answer was rejected, streaming. Every fault ends in a cost
record per paid call (tagged with its route) or a clear error."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, RoutedChatModel
from llm_cost_hooks.routing import Answer, AnswerScorer, Cascade


class _Down(FakeChatModelWithUsage):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("provider down")

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("provider down")


def _routed(checks: list[Any], large: FakeChatModelWithUsage | None = None) -> RoutedChatModel:
    small = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["42"] * 5)
    large = large or FakeChatModelWithUsage(model_name="gpt-4o", responses=["43"] * 5)
    return RoutedChatModel(tiers={"small": small, "large": large}, strategy=Cascade(), checks=checks)


def _trail(checks: list[Any]) -> tuple[str, list[tuple[str, str | None, int]]]:
    handler = CostCallbackHandler(ledger="memory://")
    msg = _routed(checks).invoke("What is 6 x 7?", config={"callbacks": [handler]})
    route = msg.response_metadata["llm_cost_hooks_route"]
    return route["tier"], [(r.model, r.route, r.attempt) for r in handler.records()]


def test_a_numpy_bool_verdict_is_read_as_the_bool_it_is() -> None:
    # `score > 0.5` on a numpy float is numpy's bool, not True: it must not escalate.
    assert _trail([lambda a: np.float64(0.9) > 0.5]) == ("small", [("gpt-4o-mini", "small", 1)])
    tier, records = _trail([lambda a: a.tier != "small" or np.float64(0.1) > 0.5])
    assert tier == "large" and [r[1] for r in records] == ["small", "large"]


@pytest.mark.parametrize(
    "value", [math.nan, 0.97, 1, "", np.float64(0.8)], ids=["nan", "score", "one", "empty", "np-float"]
)
def test_a_check_that_returns_no_verdict_fails_with_a_warning(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def scored(answer: Answer) -> Any:
        return value if answer.tier == "small" else True

    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        tier, records = _trail([scored])
    assert tier == "large" and [r[1:] for r in records] == [("small", 1), ("large", 2)]
    if value != "":
        assert "scored returned" in caplog.text and "counted as failed" in caplog.text


def test_async_checks_read_verdicts_the_same_way() -> None:
    async def check(answer: Answer) -> Any:
        return np.float64(0.9) > 0.5 if answer.tier == "small" else True

    handler = CostCallbackHandler(ledger="memory://")
    msg = asyncio.run(_routed([check]).ainvoke("q", config={"callbacks": [handler]}))
    assert msg.response_metadata["llm_cost_hooks_route"]["tier"] == "small"
    assert [r.route for r in handler.records()] == ["small"]


def _scorer(fn: Callable[..., Any]) -> AnswerScorer:
    scorer = AnswerScorer(
        mean=np.zeros(1), scale=np.ones(1), weights=np.zeros(1), bias=0.0, l2=1.0, threshold=None
    )
    scorer.score = fn  # type: ignore[method-assign]
    return scorer


@pytest.mark.parametrize("score", [lambda r, t: math.nan, lambda r, t: 1 / 0], ids=["nan", "raises"])
def test_a_scorer_that_gives_nan_or_raises_escalates_and_both_calls_are_recorded(score: Any) -> None:
    tier, records = _trail([_scorer(score).check(0.5, tiers=["small"])])
    assert tier == "large"
    assert records == [("gpt-4o-mini", "small", 1), ("gpt-4o", "large", 2)]


def test_a_strong_tier_failing_after_the_weak_answer_was_rejected_is_recorded() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    llm = _routed([lambda a: False], large=_Down(model_name="gpt-4o", responses=["x"]))
    msg = llm.invoke("q", config={"callbacks": [handler]})
    route = msg.response_metadata["llm_cost_hooks_route"]
    # The rejected answer is what there is; the caller is told it did not pass its checks.
    assert (msg.content, route["tier"], route["checks_passed"]) == ("42", "small", False)
    assert [(a["tier"], a["ok"]) for a in route["attempts"]] == [("small", False), ("large", False)]
    records = handler.records()
    assert [(r.route, r.attempt, r.success) for r in records] == [("small", 1, True), ("large", 2, False)]
    assert records[1].error_type == "RuntimeError"
    by_route = {row["route"]: row for row in handler.report(by="route")}
    assert by_route["small"]["calls"] == 1 and by_route["large"]["errors"] == 1


def test_a_stream_through_a_cascade_records_both_tiers() -> None:
    handler = CostCallbackHandler(ledger="memory://")
    chunks = list(_routed([lambda a: a.tier != "small"]).stream("q", config={"callbacks": [handler]}))
    assert "".join(str(c.content) for c in chunks) == "43"
    assert [(r.model, r.route, r.attempt) for r in handler.records()] == [
        ("gpt-4o-mini", "small", 1),
        ("gpt-4o", "large", 2),
    ]
    assert all(r.cost_usd > 0 for r in handler.records())


def test_a_router_cascade_whose_router_cannot_score_the_weak_tier_fails_at_construction() -> None:
    from llm_cost_hooks import ConfigurationError
    from llm_cost_hooks.routing import (
        HashingEmbedder,
        OutcomeDataset,
        RouterCascade,
        RouterModel,
        TrainedRouter,
    )

    data = OutcomeDataset(
        prompts=["2+2?", "prove fermat"],
        tiers=["gpt-4o-mini", "gpt-4o"],
        quality=np.array([[1.0, 1.0], [0.0, 1.0]]),
        cost=np.array([[1e-4, 1e-3], [1e-4, 1e-3]]),
    )
    emb = HashingEmbedder(32)
    tiers = {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["4"]),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["4"]),
    }
    partial = TrainedRouter(RouterModel.fit(data, emb), embedder=emb, tier_map={"large": "gpt-4o"})
    rc = RouterCascade(partial, None, weak="small", strong="large", direct_below=0.3)
    with pytest.raises(ConfigurationError, match="no prediction for weak tier 'small'.*tier_map"):
        RoutedChatModel(tiers=tiers, strategy=rc)
    full = TrainedRouter(
        RouterModel.fit(data, emb), embedder=emb, tier_map={"small": "gpt-4o-mini", "large": "gpt-4o"}
    )
    rc = RouterCascade(full, None, weak="small", strong="large", direct_below=0.3)
    assert RoutedChatModel(tiers=tiers, strategy=rc).invoke("2+2?").content == "4"


class _BrokenEmbedder:
    """Embeds training texts, then fails (an onnxruntime error at serving time)."""

    def __init__(self) -> None:
        from llm_cost_hooks.routing import HashingEmbedder

        self.inner = HashingEmbedder(32)
        self.name, self.dim = self.inner.name, self.inner.dim
        self.broken = False

    def embed(self, texts: Any) -> Any:
        if self.broken:
            raise RuntimeError("session failed")
        return self.inner.embed(texts)

    def embed_one(self, text: str) -> Any:
        return self.embed([text])[0]


def test_a_trained_router_that_cannot_read_a_request_sends_it_to_the_dearest_tier(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from llm_cost_hooks.routing import OutcomeDataset, RouterCascade, RouterModel, TrainedRouter

    data = OutcomeDataset(
        prompts=["2+2?", "prove fermat"],
        tiers=["small", "large"],
        quality=np.array([[1.0, 1.0], [0.0, 1.0]]),
        cost=np.array([[1e-4, 1e-3], [1e-4, 1e-3]]),
    )
    emb = _BrokenEmbedder()
    router = TrainedRouter(RouterModel.fit(data, emb), embedder=emb, knob=1000.0)  # type: ignore[arg-type]
    tiers = {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["4"] * 4),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=["4"] * 4),
    }
    llm = RoutedChatModel(tiers=tiers, strategy=router)
    cascade = RoutedChatModel(
        tiers=tiers, strategy=RouterCascade(router, None, weak="small", strong="large", direct_below=0.3)
    )
    assert llm.invoke("2+2?").response_metadata["llm_cost_hooks_route"]["tier"] == "small"
    emb.broken = True
    handler = CostCallbackHandler(ledger="memory://")
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.routing"):
        for model in (llm, cascade):
            route = model.invoke("2+2?", config={"callbacks": [handler]}).response_metadata[
                "llm_cost_hooks_route"
            ]
            assert route["tier"] == "large" and "trained:fallback:RuntimeError" in route["reason"]
    assert [r.route for r in handler.records()] == ["large", "large"]
    assert "could not route a request (RuntimeError)" in caplog.text and "2+2" not in caplog.text
