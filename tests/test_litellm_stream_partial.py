"""``litellm.completion(stream=True)`` and ``litellm.acompletion(stream=True)`` outside the
proxy, read to the end, left part-way (``break``) or ended by an exception in the
caller's loop: each call leaves one record, with the prompt and the output delivered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llm_cost_hooks import PriceBook, TokenUsage

ANSWER = " ".join(f"word{i}" for i in range(60))


def _kwargs(task: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Tell me a long story about " + task}],
        "mock_response": ANSWER,
        "stream": True,
        "metadata": {"tenant_id": "acme", "task_id": task},
    }


def _take(chunk: Any, delivered: list[str], how: str) -> None:
    piece = chunk.choices[0].delta.content if chunk.choices else None
    if piece:
        delivered.append(piece)
    if how != "full" and len(delivered) == 5:
        if how == "raise":
            raise ValueError("the caller's loop failed")
        raise StopIteration


def _consume(stream: Any, how: str, delivered: list[str]) -> None:
    for chunk in stream:
        try:
            _take(chunk, delivered, how)
        except StopIteration:
            break


async def _aconsume(stream: Any, how: str, delivered: list[str]) -> None:
    async for chunk in stream:
        try:
            _take(chunk, delivered, how)
        except StopIteration:
            break


def _check(cost_logger: Any, task: str, how: str, delivered: list[str]) -> None:
    [rec] = [r for r in cost_logger.records() if r.task_id == task]
    assert rec.tenant == "acme" and rec.model == "gpt-4o-mini"
    prompt = [{"role": "user", "content": "Tell me a long story about " + task}]
    assert rec.input_tokens == cost_logger.tracker.count_prompt_tokens(prompt, "gpt-4o-mini")[0]
    if how == "full":
        assert rec.success and rec.output_tokens >= 60
    else:  # the prompt and the text delivered before the loop stopped, counted
        text = "".join(delivered)
        assert 0 < len(text) < len(ANSWER)
        assert rec.output_tokens == cost_logger.tracker.token_counter.count_text(text, "gpt-4o-mini").tokens
        assert rec.tokens_estimated and not rec.success and rec.error_type == "GeneratorExit"
        assert rec.tags["stream.outcome"] == "cancelled" and rec.tags["litellm.cancelled"] == "stream"
    usage = TokenUsage(input_tokens=rec.input_tokens, output_tokens=rec.output_tokens)
    assert rec.cost_usd == pytest.approx(PriceBook.default().cost(usage, "gpt-4o-mini").total)


@pytest.mark.parametrize("how", ["full", "break", "raise"])
def test_sync_stream_leaves_one_record(litellm_clean: Any, how: str) -> None:
    import litellm

    from llm_cost_hooks.litellm import CostHooksLogger

    cost_logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [cost_logger]
    task = f"sync-{how}"
    delivered: list[str] = []
    try:
        _consume(litellm.completion(**_kwargs(task)), how, delivered)
    except ValueError:
        pass
    assert cost_logger.flush(timeout=60)  # returns once the call is recorded
    _check(cost_logger, task, how, delivered)


@pytest.mark.parametrize("how", ["full", "break", "raise"])
def test_async_stream_leaves_one_record(litellm_clean: Any, how: str) -> None:
    import litellm

    from llm_cost_hooks.litellm import CostHooksLogger

    cost_logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [cost_logger]
    task = f"async-{how}"
    delivered: list[str] = []

    async def call() -> None:
        try:
            await _aconsume(await litellm.acompletion(**_kwargs(task)), how, delivered)
        except ValueError:
            pass
        await cost_logger.aflush(timeout=2)

    asyncio.run(call())
    assert cost_logger.flush(timeout=60)  # returns once the call is recorded
    _check(cost_logger, task, how, delivered)


@pytest.mark.parametrize("how", ["break", "raise"])
def test_sync_stream_left_part_way_settles_its_hold(litellm_clean: Any, how: str) -> None:
    import litellm

    from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
    from llm_cost_hooks.litellm import CostHooksLogger

    guard = SpendGuard(
        [Limit.usd(1, per="day", scope="tenant", name="daily")],
        alerts=AlertManager(log=False, span_events=False),
    )
    cost_logger = CostHooksLogger(ledger="memory://", guard=guard)
    litellm.callbacks = [cost_logger]
    task = f"guarded-{how}"
    delivered: list[str] = []
    try:
        stream = cost_logger.completion(**_kwargs(task))
        assert guard.usage("daily", "acme")[1] > 0  # held while it is read
        _consume(stream, how, delivered)
    except ValueError:
        pass
    del stream
    assert cost_logger.flush(timeout=5)
    _check(cost_logger, task, how, delivered)
    [rec] = cost_logger.records()
    spent, held = guard.usage("daily", "acme")
    assert held == 0.0 and spent == pytest.approx(rec.cost_usd) and spent > 0


def test_sync_stream_still_held_at_exit_is_recorded(tmp_path: Any) -> None:
    import os
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "costs.db"
    script = (
        "import litellm\n"
        "from llm_cost_hooks.litellm import CostHooksLogger\n"
        f"litellm.callbacks = [CostHooksLogger(ledger={f'sqlite:///{db}'!r})]\n"
        f"stream = litellm.completion(**{_kwargs('held')!r})\n"
        "for i, chunk in enumerate(stream):\n"
        "    if i == 4:\n"
        "        break\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT error_type, output_tokens, tokens_estimated FROM cost_records").fetchall()
    assert len(rows) == 1 and rows[0][0] == "GeneratorExit" and rows[0][1] > 0 and rows[0][2]
