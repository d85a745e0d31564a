"""A sync ``litellm.completion(stream=True)`` whose stream is never read, or is closed or
dropped before its first chunk: the request went out, so the call is recorded once, as
cancelled, with its prompt priced, and its budget hold is settled on that record at once
(not after ``max_hold_seconds``)."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
from typing import Any

import pytest
from test_litellm_stream_partial import _kwargs

from llm_cost_hooks import PriceBook, TokenUsage


def _logger(litellm: Any, **options: Any) -> Any:
    from llm_cost_hooks.litellm import CostHooksLogger

    cost_logger = CostHooksLogger(ledger="memory://", **options)
    litellm.callbacks = [cost_logger]
    return cost_logger


def _check_unread(cost_logger: Any, task: str) -> Any:
    assert cost_logger.flush(timeout=5)
    [rec] = [r for r in cost_logger.records() if r.task_id == task]
    prompt = [{"role": "user", "content": "Tell me a long story about " + task}]
    assert (rec.success, rec.error_type, rec.tenant, rec.model) == (
        False,
        "GeneratorExit",
        "acme",
        "gpt-4o-mini",
    )
    assert rec.input_tokens == cost_logger.tracker.count_prompt_tokens(prompt, "gpt-4o-mini")[0] > 0
    assert rec.output_tokens == 0 and rec.tokens_estimated
    assert rec.tags["stream.outcome"] == "cancelled" and rec.tags["litellm.cancelled"] == "stream"
    usage = TokenUsage(input_tokens=rec.input_tokens)
    assert (
        rec.cost_usd == pytest.approx(PriceBook.default().cost(usage, "gpt-4o-mini").total)
        and rec.cost_usd > 0
    )
    return rec


@pytest.mark.parametrize("how", ["dropped", "closed", "cycle"])
def test_a_sync_stream_never_read_is_recorded_with_its_prompt(litellm_clean: Any, how: str) -> None:
    cost_logger = _logger(litellm_clean)
    task = f"unread-{how}"
    stream = litellm_clean.completion(**_kwargs(task))
    if how == "closed":
        stream.close()
    elif how == "cycle":
        stream.me = stream  # freed only by the garbage collector
    del stream
    gc.collect()
    _check_unread(cost_logger, task)


def test_a_guarded_sync_stream_never_read_settles_its_hold_at_once(litellm_clean: Any) -> None:
    from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard

    guard = SpendGuard(
        [Limit.usd(1, per="day", scope="tenant", name="daily")],
        alerts=AlertManager(log=False, span_events=False),
    )
    cost_logger = _logger(litellm_clean, guard=guard)
    stream = cost_logger.completion(**_kwargs("unread-guarded"))
    assert guard.usage("daily", "acme")[1] > 0  # held while the stream is alive
    del stream
    rec = _check_unread(cost_logger, "unread-guarded")
    spent, held = guard.usage("daily", "acme")
    assert held == 0.0 and spent == pytest.approx(rec.cost_usd)


@pytest.mark.parametrize("read", ["all", "one"])
def test_a_sync_stream_read_is_recorded_once(litellm_clean: Any, read: str) -> None:
    cost_logger = _logger(litellm_clean)
    task = f"read-{read}"
    stream = litellm_clean.completion(**_kwargs(task))
    if read == "all":
        list(stream)
    else:
        next(iter(stream))
    del stream
    gc.collect()
    assert cost_logger.flush(timeout=5)
    [rec] = [r for r in cost_logger.records() if r.task_id == task]
    assert rec.success if read == "all" else rec.output_tokens > 0  # the delivered text counted
    assert not cost_logger._unread


def test_a_plain_call_is_not_watched(litellm_clean: Any) -> None:
    cost_logger = _logger(litellm_clean)
    litellm_clean.completion(**{**_kwargs("plain"), "stream": False})
    assert cost_logger.flush(timeout=5) and not cost_logger._unread
    [rec] = cost_logger.records()
    assert rec.success


def test_a_sync_stream_never_read_and_held_at_exit_is_recorded(tmp_path: Any) -> None:
    db = tmp_path / "costs.db"
    script = (
        "import litellm\n"
        "from llm_cost_hooks.litellm import CostHooksLogger\n"
        f"litellm.callbacks = [CostHooksLogger(ledger={f'sqlite:///{db}'!r})]\n"
        f"stream = litellm.completion(**{_kwargs('held-unread')!r})\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT error_type, input_tokens, output_tokens FROM cost_records").fetchall()
    assert len(rows) == 1 and rows[0][0] == "GeneratorExit" and rows[0][1] > 0 and rows[0][2] == 0


def test_a_sync_stream_from_a_server_never_read_is_recorded(litellm_clean: Any, openai_stub: Any) -> None:
    # A real HTTP stream: LiteLLM sent the request and got the response's headers when
    # completion() returned; nothing was read from it.
    cost_logger = _logger(litellm_clean)
    kwargs = {**_kwargs("unread-http"), "model": "openai/gpt-4o-mini"}
    del kwargs["mock_response"]
    stream = litellm_clean.completion(**kwargs, api_base=openai_stub.base, api_key="sk-test")
    del stream
    gc.collect()
    _check_unread(cost_logger, "unread-http")
