"""A run's identity and start time as the record path reads them: run ids as text, the
start read from the wall clock as an int and made a datetime only when read."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks._records import utc_datetime_ns, utc_isoformat_ns
from llm_cost_hooks.ledger._base import RECORD_COLUMNS, record_to_row
from llm_cost_hooks.tracking._builder import RawCall
from llm_cost_hooks.tracking._calls import run_id_text


def test_run_id_text_is_str_of_the_uuid() -> None:
    ids = [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.UUID(int=1), uuid.uuid1()]
    ids += [uuid.uuid4() for _ in range(2000)]
    for run_id in ids:
        assert run_id_text(run_id) == str(run_id)
    assert run_id_text("not-a-uuid") == "not-a-uuid"
    assert run_id_text(42) == "42"


def test_wall_clock_ints_give_the_datetime_and_text_of_now() -> None:
    for ns in (0, 999, 1_000, 10**9, 10**9 + 1_000, 1_765_000_000_123_456_789, time.time_ns()):
        expected = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=ns // 1000)
        assert utc_datetime_ns(ns) == expected
        assert utc_isoformat_ns(ns) == expected.isoformat()
    # The same second twice (the cached prefix), then the next one.
    base = 1_765_000_000 * 10**9
    for ns in (base + 5_000, base + 7_000, base + 10**9, base + 10**9 + 1):
        assert utc_isoformat_ns(ns) == utc_datetime_ns(ns).isoformat()


def test_a_runs_start_is_the_clock_at_its_start_and_its_records_timestamp() -> None:
    tracker = CostTracker(ledger="memory://")
    tracker.start_llm("r0", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm("r0", TokenUsage(input_tokens=1, output_tokens=1))  # the model's rates known
    before = datetime.now(timezone.utc)
    run = tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai")
    after = datetime.now(timezone.utc)
    assert run._start_time is None  # not made until read
    row = tracker._builder.row(RawCall(run, (10, 2, 0, 0, 0), "gpt-4o-mini", run.start_ns + 1), None)
    assert run._start_time is None  # the row's text comes from the int
    assert before - timedelta(microseconds=1) <= run.start_time <= after
    assert run.start_time is run.start_time  # made once
    record = tracker.end_llm("r1", TokenUsage(input_tokens=10, output_tokens=2))
    assert record is not None and record.timestamp == run.start_time
    assert row[RECORD_COLUMNS.index("timestamp")] == record_to_row(record)[3] == run.start_time.isoformat()
    tracker.close()


def test_a_start_time_set_on_the_run_is_the_one_recorded() -> None:
    tracker = CostTracker(ledger="memory://")
    run = tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai")
    ts = datetime(2026, 12, 6, 11, 59, 59, 250_000, tzinfo=timezone(timedelta(hours=2)))
    run.start_time = ts
    row = tracker._builder.row(RawCall(run, (10, 2, 0, 0, 0), "gpt-4o-mini", run.start_ns + 1), None)
    assert row[3] == ts.astimezone(timezone.utc).isoformat()
    record = tracker.end_llm("r1", TokenUsage(input_tokens=10, output_tokens=2))
    assert record is not None and record.timestamp == ts
    tracker.close()
