"""The routed run loop over plain callables (routing/_run.py), the outcome replay lookup
(routing/_replay.py) and the reply usage of the test chat models (tokens/_reply.py):
framework-free, so no chat model is involved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llm_cost_hooks import BudgetExceeded, ConfigurationError, ReplayMissError
from llm_cost_hooks.budget import Downgrade, DowngradeRequired
from llm_cost_hooks.routing import Answer, FixedTier, RouteRequest, ShadowMode
from llm_cost_hooks.routing._run import (
    RoutedRun,
    arun_tiers,
    astream_tiers,
    request_of,
    run_tiers,
    stream_tiers,
    tier_answer,
)
from llm_cost_hooks.routing._tiers import TierPlan

PRICES = {
    "small": SimpleNamespace(input_per_token=1e-7, output_per_token=4e-7),
    "large": SimpleNamespace(input_per_token=5e-6, output_per_token=2e-5),
}


def _plan(**kwargs: Any) -> TierPlan:
    return TierPlan(PRICES, model_names={"small": "gpt-4o-mini", "large": "gpt-4o"}, **kwargs)


def _answer(tier: str, text: str) -> tuple[str, Answer]:
    return f"{tier}:{text}", tier_answer(tier, text, None)


def _downgrade_error(limit: str = "daily") -> DowngradeRequired:
    breach = BudgetExceeded(limit, limit=1.0, spent=1.0, requested=0.5)
    return DowngradeRequired(Downgrade(limit_name=limit, to_model=None, from_model="gpt-4o", error=breach))


def test_request_of_reads_the_last_user_turn_and_the_one_before() -> None:
    request = request_of(
        ["system", "earlier answer", "and the refund?"], 2, {"feature": "x"}, structured=True
    )
    assert request.text == "system\nearlier answer\nand the refund?"
    assert (request.query, request.context) == ("and the refund?", "earlier answer")
    assert request.metadata == {"feature": "x"} and request.structured
    assert request_of(["only"], None, None, structured=False).query is None


def test_tier_answer_expects_json_and_reads_structured_output() -> None:
    plain = tier_answer("small", "{}", None, response_metadata={"stop_reason": "max_tokens"})
    assert plain.finish_reason == "max_tokens" and not plain.expects_json
    as_json = tier_answer("small", "{}", None, params={"response_format": {"type": "json_object"}})
    assert as_json.expects_json
    missing = tier_answer("small", "", None, structured=(None, None))
    assert missing.expects_json and missing.parse_error == "no structured output"


def test_run_tiers_escalates_on_a_failed_check_and_reports_the_route() -> None:
    plan = _plan(strategy=None)  # a cascade from the cheapest tier
    calls: list[tuple[str, int]] = []

    def perform(tier: str, attempt: int) -> tuple[str, Answer]:
        calls.append((tier, attempt))
        return _answer(tier, "" if tier == "small" else "Paris.")

    run = RoutedRun(plan, RouteRequest("Capital of France?"))
    result, route = run_tiers(run, perform)
    assert calls == [("small", 1), ("large", 2)]
    assert result == "large:Paris."
    assert route["tier"] == "large" and route["delegated"] is True
    assert [a["ok"] for a in route["attempts"]] == [False, True]


def test_a_spend_limit_downgrade_moves_the_call_to_a_cheaper_tier_and_is_noted() -> None:
    run = RoutedRun(_plan(strategy=FixedTier("large"), builtin_checks=False), RouteRequest("hi"))
    tried: list[str] = []

    def perform(tier: str, attempt: int) -> tuple[str, Answer]:
        tried.append(tier)
        if tier == "large":
            raise _downgrade_error()
        return _answer(tier, "ok")

    result, route = run_tiers(run, perform)
    assert tried == ["large", "small"] and result == "small:ok"
    assert route["downgrades"] == [{"from": "large", "to": "small", "limit": "daily"}]


def test_a_plain_breach_is_raised_marked_as_delegated() -> None:
    run = RoutedRun(_plan(), RouteRequest("hi"))

    def perform(tier: str, attempt: int) -> tuple[str, Answer]:
        raise BudgetExceeded("monthly", limit=1.0, spent=1.0, requested=0.1)

    with pytest.raises(BudgetExceeded) as info:
        run_tiers(run, perform)
    assert getattr(info.value, "llm_cost_hooks_delegated", False) is True


def _shadow(tmp_path: Path, judge: Any = None) -> ShadowMode:
    return ShadowMode(
        judge or (lambda q, answers: {t: 1.0 for t in answers}),
        share=1.0,
        store=str(tmp_path / "ledger.db"),
        seed=1,
    )


def _read(result: Any) -> tuple[str, Any]:
    from llm_cost_hooks import TokenUsage

    return str(result), TokenUsage(input_tokens=10, output_tokens=5)


def test_shadow_mode_asks_the_other_tier_and_records_the_pair(tmp_path: Path) -> None:
    shadow = _shadow(tmp_path)
    run = RoutedRun(_plan(shadow=shadow, builtin_checks=False), RouteRequest("q"), read=_read)
    asked: list[str] = []

    def ask(other: str) -> str:
        asked.append(other)
        return "large answer"

    result, _ = run_tiers(run, lambda tier, attempt: _answer(tier, "ok"), ask)
    assert result == "small:ok" and asked == ["large"]
    assert shadow.stats["shadowed"] == 1 and shadow.stats["written"] == 1
    assert shadow.stats["spent_usd"] == pytest.approx(10 * 5e-6 + 5 * 2e-5)


def test_a_failed_shadow_call_is_counted_and_the_answer_stands(tmp_path: Path) -> None:
    shadow = _shadow(tmp_path)
    run = RoutedRun(_plan(shadow=shadow, builtin_checks=False), RouteRequest("q"), read=_read)

    def ask(other: str) -> str:
        raise RuntimeError("provider down")

    result, _ = run_tiers(run, lambda tier, attempt: _answer(tier, "ok"), ask)
    assert result == "small:ok"
    assert shadow.stats["call_errors"] == 1 and shadow.stats["shadowed"] == 0


def test_structured_requests_are_never_shadowed(tmp_path: Path) -> None:
    shadow = _shadow(tmp_path)
    run = RoutedRun(_plan(shadow=shadow), RouteRequest("q"), structured=True, read=_read)
    run_tiers(run, lambda tier, attempt: _answer(tier, "ok"), lambda other: pytest.fail("asked"))
    assert shadow.stats["shadowed"] == 0


def test_async_run_follows_the_same_loop() -> None:
    run = RoutedRun(_plan(strategy=FixedTier("large"), builtin_checks=False), RouteRequest("hi"))

    async def perform(tier: str, attempt: int) -> tuple[str, Answer]:
        if tier == "large":
            raise _downgrade_error()
        return _answer(tier, "ok")

    result, route = asyncio.run(arun_tiers(run, perform))
    assert result == "small:ok" and route["downgrades"][0]["to"] == "small"


def _deliver(piece: str, route: dict[str, Any] | None) -> tuple[str, str | None]:
    return piece, None if route is None else route["tier"]


def test_stream_falls_back_before_the_first_chunk_and_marks_only_the_first() -> None:
    run = RoutedRun(_plan(), RouteRequest("hi"))

    def open_stream(tier: str, attempt: int) -> Iterator[str]:
        if tier == "small":
            raise ConnectionError("reset")
        yield from ["a", "b"]

    # the error comes from inside the stream, before its first chunk: the next tier takes over
    assert list(stream_tiers(run, open_stream, _deliver)) == [("a", "large"), ("b", None)]


def test_stream_error_after_the_first_chunk_is_raised_delegated() -> None:
    run = RoutedRun(_plan(), RouteRequest("hi"))

    def open_stream(tier: str, attempt: int) -> Iterator[str]:
        yield "a"
        raise ConnectionError("cut")

    chunks: list[Any] = []
    with pytest.raises(ConnectionError) as info:
        for chunk in stream_tiers(run, open_stream, _deliver):
            chunks.append(chunk)
    assert chunks == [("a", "small")]
    assert getattr(info.value, "llm_cost_hooks_delegated", False) is True


def test_an_error_preparing_a_stream_is_raised_as_is() -> None:
    run = RoutedRun(_plan(), RouteRequest("hi"))

    def open_stream(tier: str, attempt: int) -> Iterator[str]:
        raise NotImplementedError("no tools on this tier")

    with pytest.raises(NotImplementedError):
        list(stream_tiers(run, open_stream, _deliver))


def test_async_stream_downgrades_as_the_same_attempt() -> None:
    run = RoutedRun(_plan(strategy=FixedTier("large")), RouteRequest("hi"))
    attempts: list[tuple[str, int]] = []

    async def open_stream(tier: str, attempt: int) -> AsyncIterator[str]:
        attempts.append((tier, attempt))
        if tier == "large":
            raise _downgrade_error()
        yield "x"

    async def deliver(piece: str, route: dict[str, Any] | None) -> Any:
        return _deliver(piece, route)

    async def collect() -> list[Any]:
        return [c async for c in astream_tiers(run, open_stream, deliver)]

    assert asyncio.run(collect()) == [("x", "small")]
    assert attempts == [("large", 1), ("small", 1)]
    assert run.extras.downgrades == [{"from": "large", "to": "small", "limit": "daily"}]


def test_priced_plan_checks_the_given_prices_and_gives_overrides() -> None:
    plan = TierPlan.priced(
        {"a": ("model-a", None), "b": ("model-b", None)},
        prices={"a": {"input_per_million": 1.0, "output_per_million": 2.0}, "b": PRICES["large"]},
    )
    assert plan.order == ["a", "b"]
    assert plan.price_overrides(["a"]) == {
        "model-a": {"input_cost_per_token": pytest.approx(1e-6), "output_cost_per_token": pytest.approx(2e-6)}
    }
    with pytest.raises(ConfigurationError, match="unknown tiers"):
        TierPlan.priced({"a": ("model-a", None)}, prices={"zz": PRICES["small"]})


# -- replay ---------------------------------------------------------------------------------
def _outcomes() -> Any:
    np = pytest.importorskip("numpy")
    from llm_cost_hooks.routing import OutcomeDataset

    return OutcomeDataset(
        prompts=["2+2?", "Capital  of France?"],
        tiers=["m", "n"],
        quality=np.array([[1.0, 0.0], [0.5, 1.0]]),
        cost=np.array([[0.002, 0.01], [0.003, 0.02]]),
        responses={"m": ["4", "Paris"], "n": ["5", None]},
    )


def test_replay_finds_a_recorded_prompt_whitespace_normalised() -> None:
    from llm_cost_hooks.routing._replay import OutcomeReplay

    replay = OutcomeReplay(_outcomes(), "m")
    row = replay.row_of(" Capital of\nFrance? ")
    text, usage, cost, meta = replay.answer(row)
    assert (row, text, cost) == (1, "Paris", 0.003)
    assert meta == {"quality": 0.5, "cost_usd": 0.003, "row": 1}
    assert (
        usage["input_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    )
    with pytest.raises(ReplayMissError):
        replay.row_of("not recorded")


def test_replay_price_blends_the_recorded_dollars() -> None:
    from llm_cost_hooks.routing._replay import OutcomeReplay

    price = OutcomeReplay(_outcomes(), "n").blended_price("n")
    assert price.input_per_token == price.output_per_token > 0


def test_replay_rejects_unknown_tiers_and_other_data() -> None:
    from llm_cost_hooks.routing._replay import OutcomeReplay

    with pytest.raises(ConfigurationError, match="not in the outcomes"):
        OutcomeReplay(_outcomes(), "zz")
    with pytest.raises(ConfigurationError, match="OutcomeDataset"):
        OutcomeReplay({"prompts": []}, "m")


# -- reply usage ----------------------------------------------------------------------------
def test_reply_usage_counts_prompt_answer_tool_calls_and_reasoning() -> None:
    from llm_cost_hooks.tokens import default_counter
    from llm_cost_hooks.tokens._reply import reply_usage

    messages = [{"role": "user", "content": "Capital of France?"}]
    counter = default_counter()
    prompt = counter.count_messages(messages, "gpt-4o").tokens
    plain = reply_usage(messages, "Paris.", "gpt-4o")
    assert (
        plain.input_tokens == prompt and plain.output_tokens == counter.count_text("Paris.", "gpt-4o").tokens
    )
    tool = reply_usage(messages, "", "gpt-4o", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "1"}])
    assert tool.output_tokens > 0
    detailed = reply_usage(messages, "Paris.", "gpt-4o", reasoning_tokens=7, cached_fraction=0.5)
    assert detailed.reasoning_tokens == 7 and detailed.output_tokens == plain.output_tokens + 7
    assert detailed.cache_read_tokens == int(prompt * 0.5)
