"""Plain usage counts on the record path: the same rows and records as a TokenUsage, the
row's timestamp text, and which model calls keep a task's running totals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from llm_cost_hooks import CacheStatus, CostTracker, TokenUsage
from llm_cost_hooks._records import counts_of, usage_invalid
from llm_cost_hooks.ledger._base import record_to_row
from llm_cost_hooks.tracking import RunObserver
from llm_cost_hooks.tracking._builder import RawCall
from llm_cost_hooks.tracking._usage import counts_from_metadata, usage_from_metadata

_CALLS = [
    ("gpt-4o-mini", "openai", TokenUsage(input_tokens=412, output_tokens=14, cache_read_tokens=256), {}),
    (
        "claude-sonnet-4-5",
        "anthropic",
        TokenUsage(input_tokens=5000, output_tokens=900, cache_write_tokens=3000, reasoning_tokens=400),
        {},
    ),
    ("gpt-4o-mini", "openai", TokenUsage(input_tokens=10, output_tokens=2), {"cache_status": "exact"}),
    ("gpt-4o-mini", "openai", TokenUsage(input_tokens=10, output_tokens=2), {"billed_usd": 0.5}),
    ("no-such-model-xyz", None, TokenUsage(input_tokens=10, output_tokens=2), {}),
    ("gpt-4o-mini", "openai", TokenUsage(input_tokens=900_000_000, output_tokens=1), {}),
]


def _call(run: object, usage: object, model: str, kw: dict[str, object]) -> RawCall:
    return RawCall(
        run,  # type: ignore[arg-type]
        usage,  # type: ignore[arg-type]
        model,
        run.start_ns + 2_000_000,  # type: ignore[attr-defined]
        CacheStatus(kw.get("cache_status", "miss")),
        None,
        False,
        kw.get("billed_usd"),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("case", range(len(_CALLS)))
def test_counts_give_the_row_and_record_of_the_usage(case: int) -> None:
    model, provider, usage, kw = _CALLS[case]
    tracker = CostTracker(ledger="memory://", defaults={"tenant_id": "acme"})
    run = tracker.start_llm("r", None, model=model, provider=provider, metadata={"user_id": "u1"})
    builder = tracker._builder
    expected = builder.build(_call(run, usage, model, kw))
    for _ in range(2):  # the second time priced at flat rates, where the model has them
        assert builder.row(_call(run, counts_of(usage), model, kw), None) == record_to_row(expected)
        row, record = builder.row_and_record(_call(run, counts_of(usage), model, kw), None)
        assert row == record_to_row(expected) and record == expected
        assert builder.build(_call(run, counts_of(usage), model, kw)) == expected


@pytest.mark.parametrize("micro", [0, 1, 999_999, 123_456])
def test_the_rows_timestamp_is_the_records_iso_text(micro: int) -> None:
    tracker = CostTracker(ledger="memory://")
    run = tracker.start_llm("r", None, model="gpt-4o-mini", provider="openai")
    builder = tracker._builder
    usage = TokenUsage(input_tokens=10, output_tokens=2)
    start = datetime(2026, 12, 6, 11, 59, 59, micro, tzinfo=timezone.utc)
    # Same second, the next second, and an offset time zone: each row says what isoformat says.
    for ts in (start, start + timedelta(microseconds=1), start + timedelta(seconds=1), start.astimezone()):
        run.start_time = ts
        expected = ts.astimezone(timezone.utc).isoformat()
        assert builder.row(_call(run, counts_of(usage), "gpt-4o-mini", {}), None)[3] == expected
        assert record_to_row(builder.build(_call(run, usage, "gpt-4o-mini", {})))[3] == expected


def test_counts_from_metadata_are_plain_only_when_nothing_needs_repair() -> None:
    um = {"input_tokens": 412, "output_tokens": 14, "input_token_details": {"cache_read": 256}}
    assert counts_from_metadata(um) == (412, 14, 256, 0, 0)
    assert usage_from_metadata(um) == TokenUsage(input_tokens=412, output_tokens=14, cache_read_tokens=256)
    bad = counts_from_metadata({"input_tokens": 5, "output_tokens": -1})
    assert isinstance(bad, TokenUsage) and bad.output_tokens == 0 and usage_invalid(bad) is not None
    over = counts_from_metadata(
        {"input_tokens": 5, "output_tokens": 1, "input_token_details": {"cache_read": 9}}
    )
    assert isinstance(over, TokenUsage) and over.cache_read_tokens == 5


def test_a_lone_call_keeps_no_task_but_a_model_run_with_runs_under_it_does() -> None:
    tracker = CostTracker(ledger="memory://")
    tracker.start_llm("lone", None, model="gpt-4o-mini", provider="openai")
    assert not tracker._tasks
    tracker.end_llm("lone", (1000, 200, 0, 0, 0))
    # A router's run: its tier calls are counted in its task, which its end hands back.
    tracker.start_llm("router", None, model="router", provider=None)
    tracker.start_llm("tier", "router", model="gpt-4o-mini", provider="openai")
    tracker.end_llm("tier", TokenUsage(input_tokens=1000, output_tokens=200))
    task = tracker.end_llm_delegated("router")
    assert task is not None and task.calls == 1 and round(task.cost_usd, 6) == 0.00027
    assert [r.input_tokens for r in tracker.ledger.records()] == [1000, 1000]


def test_observers_still_get_a_lone_calls_task() -> None:
    seen: list[object] = []

    class Watch(RunObserver):
        def on_run_end(self, run, *, record, error, task, outputs=None):  # type: ignore[no-untyped-def]
            seen.append(task)

    tracker = CostTracker(ledger="memory://", observers=[Watch()])
    tracker.start_llm("r", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm("r", (1000, 200, 0, 0, 0))
    (task,) = seen
    assert task is not None and task.calls == 1 and task.input_tokens == 1000  # type: ignore[attr-defined]
