"""A LiteLLM call whose pre-call event came and whose end never did: once the tracker has
ended its run (an hour after its start, see tests/test_tracking_stale_runs.py) the logger
forgets its call id too, and calls still open keep theirs."""

from __future__ import annotations

import uuid

import pytest

from llm_cost_hooks.tracking import _tracker

HOUR_NS = 3600 * 1_000_000_000
MSG = [{"role": "user", "content": "hi"}]


def _pre_call(logger: object, tenant: str) -> str:
    call_id = str(uuid.uuid4())
    kwargs = {
        "litellm_call_id": call_id,
        "call_type": "acompletion",
        "model": "gpt-4o-mini",
        "litellm_params": {"metadata": {"tenant_id": tenant}},
    }
    logger.log_pre_api_call("gpt-4o-mini", MSG, kwargs)  # type: ignore[attr-defined]
    return call_id


def test_call_ids_of_calls_that_never_ended_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    stale = {_pre_call(logger, f"t{i}") for i in range(1000)}
    assert stale <= set(logger._open)

    real = _tracker._perf_ns
    monkeypatch.setattr(_tracker, "_perf_ns", lambda: real() + HOUR_NS + 1)
    fresh = [_pre_call(logger, "acme") for _ in range(3000)]

    assert logger.tracker.open_runs == 3000
    assert not stale & set(logger._open)  # forgotten with their runs
    assert set(fresh) <= set(logger._open)  # calls still open keep their entry
    assert len(logger._open) == 3000
    stale_records = [r for r in logger.tracker.ledger.records() if r.error_type == "RunNotEnded"]
    assert len(stale_records) == 1000
