"""The OTel observer read from the ledger's row (SQLite writer, no record built) exports the
same spans and metrics as from the record, attribute by attribute and in the same order."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks import CacheStatus, CostRecord, CostTracker, TokenUsage
from llm_cost_hooks.ledger._base import record_to_row
from llm_cost_hooks.telemetry import OTelObserver, _sdk
from llm_cost_hooks.tracking import RunInfo, RunObserver, TaskState

TAGS = {"budget.state": "ok", "team": "search", "a_first": "1"}
META = {"tenant_id": "acme", "feature": "qa", "route": "cheap", "prompt_version": "v3", "cost_tags": TAGS}


def _outputs(i: int) -> LLMResult:
    msg = AIMessage(
        content="Fine.",
        id=f"chatcmpl-{i}",
        response_metadata={"model_name": "x-2024", "finish_reason": "stop"},
    )
    return LLMResult(generations=[[ChatGeneration(message=msg)]])


# (model, provider, usage, end_llm keyword arguments, metadata): every branch of the span's
# cost attributes and of the builder's tags.
CALLS: list[tuple[str, str, Any, dict[str, Any], dict[str, Any]]] = [
    ("gpt-4o-mini", "openai", (412, 14, 256, 0, 0), {}, META),
    ("gpt-4o-mini", "openai", TokenUsage(input_tokens=900, output_tokens=40, reasoning_tokens=12), {}, {}),
    ("gpt-4o-mini", "openai", TokenUsage(input_tokens=10, output_tokens=2), {"tokens_estimated": True}, META),
    ("gpt-4o-mini", "openai", TokenUsage(input_tokens=10, output_tokens=2), {"billed_usd": 0.25}, META),
    (
        "gpt-4o-mini",
        "openai",
        TokenUsage(input_tokens=500, output_tokens=20),
        {"cache_status": CacheStatus.EXACT},
        META,
    ),
    ("no-such-model-xyz", "openai", TokenUsage(input_tokens=5, output_tokens=5), {}, {"tenant_id": "t2"}),
    # repaired usage (usage_invalid tag) and a cache-write premium: the builder's two tags
    (
        "claude-sonnet-4-5",
        "anthropic",
        TokenUsage.from_reported(
            input_tokens=3630, output_tokens=8, cache_write_tokens=3600, reasoning_tokens=-1
        ),
        {},
        META,
    ),
    (
        "claude-sonnet-4-5",
        "anthropic",
        TokenUsage(input_tokens=3628, output_tokens=9, cache_read_tokens=3600),
        {},
        {},
    ),
]


class Told(RunObserver):
    """A user's observer: reads records (reads_rows stays False)."""

    deferrable = True

    def __init__(self) -> None:
        self.records: list[CostRecord] = []

    def on_run_end(self, run: RunInfo, *, record: Any, error: Any, task: Any, outputs: Any = None) -> None:
        if record is not None:
            self.records.append(record)


class RowReader(RunObserver):
    deferrable = True
    reads_rows = True

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.tasks: list[TaskState | None] = []
        self.records = 0

    def on_model_row(self, run: RunInfo, *, row: Any, task: Any, outputs: Any = None) -> None:
        self.rows.append(row)
        self.tasks.append(task)

    def on_run_end(self, run: RunInfo, *, record: Any, error: Any, task: Any, outputs: Any = None) -> None:
        self.records += record is not None


def _export(ledger: str, extra: list[RunObserver], content: bool = False) -> tuple[Any, Any, Any]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    observer = OTelObserver(tracer_provider=tp, meter_provider=mp, capture_content=content)
    tracker = CostTracker(ledger=ledger, observers=[observer, *extra])
    for i, (model, provider, usage, kwargs, meta) in enumerate(CALLS):
        for attempt_parent in (None, "chain"):
            rid = f"r{i}-{attempt_parent}"
            if attempt_parent:
                tracker.start_run(f"c{i}", None, name="qa", metadata=meta)
            tracker.start_llm(
                rid,
                f"c{i}" if attempt_parent else None,
                model=model,
                provider=provider,
                metadata=meta,
                params={"temperature": 0.2},
                messages=[],
            )
            tracker.end_llm(rid, usage, outputs=_outputs(i), defer=True, **kwargs)
            if attempt_parent:
                tracker.end_run(f"c{i}")
    assert tracker.flush()
    spans = [
        (
            s.name,
            s.kind,
            s.status.status_code,
            [(k, v) for k, v in s.attributes.items() if k != "llm_cost_hooks.task_id"],
        )
        for s in exporter.get_finished_spans()
    ]
    metrics = []
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    if "duration" in m.name:  # the calls' real latencies: only their count
                        value: Any = p.count
                    elif hasattr(p, "bucket_counts"):
                        value = (p.sum, p.count, tuple(p.bucket_counts))
                    else:
                        value = p.value
                    metrics.append((m.name, sorted(p.attributes.items()), value))
    tracker.close()
    tp.shutdown()
    mp.shutdown()
    return spans, sorted(metrics, key=repr), observer


@pytest.mark.parametrize(("content", "shims"), [(False, True), (True, True), (False, False)])
def test_row_path_exports_what_the_record_path_does(
    tmp_path: Any, content: bool, shims: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # shims off: the SDK's public API only (the row's span through start_span / end)
    monkeypatch.setattr(_sdk, "SHIMS_ON", shims)
    # memory:// ledger: the record on the caller; SQLite with a record-reading observer beside:
    # the record on the writer; SQLite alone: the row, no record.
    by_record, metrics_record, _ = _export("memory://", [], content)
    told = Told()
    by_writer_record, metrics_writer, _ = _export(f"sqlite:///{tmp_path / 'a.db'}", [told], content)
    by_row, metrics_row, observer = _export(f"sqlite:///{tmp_path / 'b.db'}", [], content)
    assert observer.reads_rows and observer.stats.observer_errors == 0
    assert len(told.records) == 2 * len(CALLS)  # the user's observer still gets every record
    assert len(by_row) == 3 * len(CALLS)  # two model spans and a chain span per call
    assert by_row == by_writer_record == by_record
    assert metrics_row == metrics_writer == metrics_record
    attrs = [dict(a) for _, _, _, a in by_row]
    # the branches CALLS is meant to cover did show up
    assert any(
        "llm_cost_hooks.tag.usage_invalid" in a and "llm_cost_hooks.tag.prompt_cache.write_premium_usd" in a
        for a in attrs
    )
    assert any(a.get("llm_cost_hooks.cache.status") == "provider_prefix" for a in attrs)
    assert any(
        a.get("llm_cost_hooks.cache.status") == "exact" and a.get("llm_cost_hooks.cost.saved_usd")
        for a in attrs
    )
    assert any(a.get("llm_cost_hooks.tokens_estimated") for a in attrs)
    assert any(a.get("llm_cost_hooks.price_estimated") for a in attrs)
    assert any(a.get("llm_cost_hooks.budget.state") == "ok" for a in attrs)
    assert any(a.get("gen_ai.usage.reasoning.output_tokens") == 12 for a in attrs)
    assert any(a.get("gen_ai.response.id") == "chatcmpl-0" for a in attrs)
    assert any("llm_cost_hooks.task.cost_usd" in a for a in attrs)


def test_row_readers_get_the_stored_row_and_record_readers_the_record(tmp_path: Any) -> None:
    rows = RowReader()
    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'l.db'}", observers=[rows])
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai", metadata=META)
    tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200), defer=True)
    assert tracker.flush()
    [stored] = list(tracker.ledger.records())
    assert rows.rows == [record_to_row(stored)] and rows.records == 0
    assert rows.tasks[0] is not None and rows.tasks[0].cost_usd == stored.cost_usd
    tracker.close()
    # beside an observer that reads records, it gets the record through on_run_end
    rows, told = RowReader(), Told()
    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'm.db'}", observers=[rows, told])
    tracker.start_llm("r2", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm("r2", TokenUsage(input_tokens=1000, output_tokens=200), defer=True)
    assert tracker.flush()
    assert rows.rows == [] and rows.records == 1 and len(told.records) == 1
    tracker.close()


def test_failing_row_observer_is_counted_and_the_row_still_written(tmp_path: Any) -> None:
    class Broken(RowReader):
        def on_model_row(self, run: RunInfo, *, row: Any, task: Any, outputs: Any = None) -> None:
            raise RuntimeError("boom")

    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'l.db'}", observers=[Broken()])
    tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm("r1", TokenUsage(input_tokens=10, output_tokens=2), defer=True)
    assert tracker.flush()
    assert len(list(tracker.ledger.records())) == 1
    tracker.close()
