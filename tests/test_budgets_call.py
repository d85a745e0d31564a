"""The framework-free guarded-call loop (budget/_call.py) that the LangChain and LiteLLM
adapters share: settle, release, retry, downgrade, breaker and streams, without a framework."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from llm_cost_hooks import BudgetExceeded, TokenUsage
from llm_cost_hooks.budget import AlertManager, DowngradeRequired, Limit, SpendGuard
from llm_cost_hooks.budget._call import (
    Attempt,
    Attribution,
    GuardedCall,
    Target,
    aguarded_call,
    aguarded_stream,
    guarded_call,
    guarded_stream,
)
from llm_cost_hooks.dedup import CircuitBreaker, RetryBudget

MODEL = "gpt-4o-mini"
USAGE = TokenUsage(input_tokens=100, output_tokens=20)


def _guard(*extra: Limit) -> SpendGuard:
    return SpendGuard([Limit.usd(10.0, per="day", scope="tenant"), *extra], alerts=AlertManager(log=False))


def _call(guard: SpendGuard | None, **kw: object) -> GuardedCall[str]:
    return GuardedCall(
        Target("handle", MODEL),
        guard=guard,
        input_tokens=100,
        max_tokens=200,
        scope=Attribution.of({"tenant_id": "acme"}),
        **kw,  # type: ignore[arg-type]
    )


def _spent(guard: SpendGuard) -> tuple[float, float]:
    return guard.usage(guard.limits[0], "acme")


def _usage(result: object, attempt: Attempt[str]) -> TokenUsage | None:
    return USAGE if result is not None else None


def test_a_plain_call_settles_its_real_cost_and_sends_the_reserved_cap() -> None:
    guard = _guard()
    call = _call(guard)
    caps: list[int | None] = []

    def perform(attempt: Attempt[str]) -> str:
        caps.append(attempt.cap)
        assert _spent(guard)[1] > 0  # held while the call runs
        return "answer"

    assert guarded_call(call, perform, _usage) == "answer"
    assert caps == [200]
    assert _spent(guard) == (pytest.approx(guard.cost_of(USAGE, MODEL)), 0.0)
    assert "budget.reserved_usd" in call.tags


def test_unknown_usage_settles_the_worst_case() -> None:
    guard = _guard()
    call = _call(guard)
    guarded_call(call, lambda a: "answer", lambda r, a: None)
    worst = guard.estimate(call.request(call.target))[2]
    assert _spent(guard)[0] == pytest.approx(worst, rel=1e-6)


def test_a_failure_releases_and_is_retried_within_the_retry_budget() -> None:
    guard = _guard()
    breaker = CircuitBreaker(failure_threshold=5)
    call = _call(guard, retry=RetryBudget(max_attempts=3), breaker=breaker, task_id="t1")
    attempts = []

    def perform(attempt: Attempt[str]) -> str:
        attempts.append(attempt)
        if len(attempts) < 3:
            raise ConnectionError("flaky")
        return "answer"

    assert guarded_call(call, perform, _usage) == "answer"
    assert len(attempts) == 3
    assert [a.reservation.state for a in attempts if a.reservation] == ["released", "released", "settled"]
    assert call.tags["retry.attempts"] == "3" and call.tags["breaker.state"] == "closed"


def test_retries_stop_when_the_budget_is_spent() -> None:
    call = _call(_guard(), retry=RetryBudget(max_attempts=2), task_id="t2")
    calls = []

    def perform(attempt: Attempt[str]) -> str:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        guarded_call(call, perform, _usage)
    assert len(calls) == 2


def test_own_refusals_are_not_retried_nor_counted_on_the_breaker() -> None:
    guard = _guard()
    breaker = CircuitBreaker(failure_threshold=1)
    call = _call(guard, retry=RetryBudget(max_attempts=3), breaker=breaker, task_id="t3")
    calls = []

    def perform(attempt: Attempt[str]) -> str:
        calls.append(1)
        raise BudgetExceeded("inner", limit=1.0, spent=1.0, requested=0.1)

    with pytest.raises(BudgetExceeded):
        guarded_call(call, perform, _usage)
    assert calls == [1]
    assert breaker.state(MODEL).value == "closed"
    assert _spent(guard) == (0.0, 0.0)  # the hold was released


def test_a_downgrade_switches_the_target_once() -> None:
    seen: list[str] = []

    def perform(attempt: Attempt[str]) -> str:
        seen.append(attempt.target.model)
        return "answer"

    guard = _guard(Limit.usd_per_request(0.0001, on_breach="downgrade", downgrade_to="gpt-4.1-nano"))
    call = _call(guard, downgrade=lambda d: Target("cheap", d.to_model or "", None))
    guarded_call(call, perform, _usage)
    assert seen == ["gpt-4.1-nano"]
    assert call.tags["budget.downgraded_from"] == MODEL

    # A target that still breaks the limit asks for a second downgrade: refused.
    call = _call(guard, downgrade=lambda d: Target("pricey", "gpt-4o", None))
    with pytest.raises(DowngradeRequired):
        guarded_call(call, perform, _usage)
    assert seen == ["gpt-4.1-nano"]


def test_without_a_downgrade_target_the_policy_raises() -> None:
    guard = _guard(Limit.usd_per_request(1e-6, on_breach="downgrade", downgrade_to="gpt-4.1-nano"))
    with pytest.raises(DowngradeRequired):
        guarded_call(_call(guard), lambda a: "answer", _usage)


def test_an_unpriced_model_is_let_through_only_when_allowed() -> None:
    guard = _guard()
    call: GuardedCall[str] = GuardedCall(Target("x", "no-such-model-xyz"), guard=guard, input_tokens=1)
    with pytest.raises(Exception, match="no-such-model-xyz"):
        guarded_call(call, lambda a: "answer", _usage)
    call = GuardedCall(Target("x", "no-such-model-xyz"), guard=guard, input_tokens=1, unpriced="allow")
    assert guarded_call(call, lambda a: "answer", _usage) == "answer"


def _chunks(n: int, fail_after: int | None = None) -> Iterator[str]:
    for i in range(n):
        if fail_after is not None and i == fail_after:
            raise ConnectionError("stream broke")
        yield f"c{i}"


def _count(aggregate: int | None, item: str) -> int:
    return (aggregate or 0) + 1


def _stream_usage(aggregate: int | None, attempt: Attempt[str]) -> TokenUsage | None:
    return TokenUsage(input_tokens=100, output_tokens=aggregate or 0)


def test_a_stream_stopped_early_settles_what_was_delivered() -> None:
    guard = _guard()
    call = _call(guard, stream=True)
    stream = guarded_stream(call, lambda a: _chunks(10), _count, _stream_usage)
    assert [next(stream), next(stream), next(stream)] == ["c0", "c1", "c2"]
    stream.close()
    partial = TokenUsage(input_tokens=100, output_tokens=3)
    assert _spent(guard) == (pytest.approx(guard.cost_of(partial, MODEL)), 0.0)
    assert call.tags["stream.outcome"] == "cancelled"
    assert call.tags["stream.partial_output_tokens"] == "3"


def test_a_stream_is_not_retried_after_its_first_chunk() -> None:
    call = _call(_guard(), stream=True, retry=RetryBudget(max_attempts=3), task_id="s1")
    attempts = []

    def perform(attempt: Attempt[str]) -> Iterator[str]:
        attempts.append(attempt)
        return _chunks(5, fail_after=2)

    got = []
    with pytest.raises(ConnectionError):
        for chunk in guarded_stream(call, perform, _count, _stream_usage):
            got.append(chunk)
    assert got == ["c0", "c1"] and len(attempts) == 1
    assert call.tags["stream.outcome"] == "error"


def test_async_call_and_stream_run_the_same_loop() -> None:
    guard = _guard()

    async def once(attempt: Attempt[str]) -> str:
        return "answer"

    async def achunks(attempt: Attempt[str]) -> AsyncIterator[str]:
        for chunk in _chunks(10):
            yield chunk

    async def main() -> None:
        assert await aguarded_call(_call(guard), once, _usage) == "answer"
        call = _call(guard, stream=True)
        stream = aguarded_stream(call, achunks, _count, _stream_usage)
        assert [await stream.__anext__() for _ in range(2)] == ["c0", "c1"]
        await stream.aclose()
        assert call.tags["stream.outcome"] == "cancelled"

    asyncio.run(main())
    settled = guard.cost_of(USAGE, MODEL) + guard.cost_of(
        TokenUsage(input_tokens=100, output_tokens=2), MODEL
    )
    assert _spent(guard) == (pytest.approx(settled), 0.0)


def test_a_cancelled_async_call_releases_its_hold() -> None:
    guard = _guard()

    async def slow(attempt: Attempt[str]) -> str:
        await asyncio.sleep(10)
        return "never"

    async def main() -> None:
        task = asyncio.ensure_future(aguarded_call(_call(guard), slow, _usage))
        await asyncio.sleep(0.01)
        assert _spent(guard)[1] > 0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _spent(guard) == (0.0, 0.0)
