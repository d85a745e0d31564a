"""Runs that start and never end (LangChain on some errors, a dropped callback manager) do
not stay in memory for the life of the process: an hour after its start such a model call
(a day after, a chain) is ended as failed (error type RunNotEnded) and dropped with its
task."""

from __future__ import annotations

import uuid

import pytest

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.tracking import _tracker

HOUR_NS = 3600 * 1_000_000_000


def _later(monkeypatch: pytest.MonkeyPatch, ns: int) -> None:
    """Move the tracker's run clock forward by ``ns`` (no waiting)."""
    real = _tracker._perf_ns
    monkeypatch.setattr(_tracker, "_perf_ns", lambda: real() + ns)


def test_runs_without_an_end_are_recorded_failed_and_dropped_after_an_hour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker = CostTracker(ledger="memory://")
    for i in range(1000):  # model calls and chains, each its own task, none ended
        tracker.start_run(f"chain-{i}", None, metadata={"task_id": f"task-{i}", "tenant_id": f"t{i}"})
        tracker.start_llm(f"llm-{i}", f"chain-{i}", model="gpt-4o-mini", provider="openai", messages="hi")
        tracker.start_llm(f"lone-{i}", None, model="gpt-4o-mini", provider="openai", messages="hi")
    # Within the hour nothing is dropped, however many runs are open.
    assert tracker.open_runs == 3000
    assert len(tracker._tasks) == 1000  # a lone model call without observers has no task

    _later(monkeypatch, HOUR_NS + 1)
    for i in range(300):  # new traffic, ended normally
        tracker.start_llm(f"new-{i}", None, model="gpt-4o-mini", provider="openai")
        if i < 299:
            tracker.end_llm(f"new-{i}", TokenUsage(input_tokens=5, output_tokens=1))
    tracker.start_llm("open-now", None, model="gpt-4o-mini", provider="openai")
    # Open runs are checked when their count doubles from what the last check left.
    for i in range(1200):
        tracker.start_llm(f"more-{i}", None, model="gpt-4o-mini", provider="openai")

    # The stale model calls are gone; their chains (an agent may run for hours) stay a day.
    assert tracker.open_runs == 1202 + 1000
    assert len(tracker._tasks) == 1000
    records = tracker.ledger.records()
    stale = [r for r in records if r.error_type == "RunNotEnded"]
    assert len(stale) == 2000  # every stale model call has its failed record
    assert all(not r.success for r in stale)
    # attributed as their chains were (the lone calls to the default tenant)
    assert sorted(r.tenant for r in stale if (r.tenant or "").startswith("t")) == sorted(
        f"t{i}" for i in range(1000)
    )
    outcomes = tracker.ledger._task_outcomes
    assert not any(o.reason == "RunNotEnded" for o in outcomes)

    # A call whose end comes after all is not recorded twice.
    assert tracker.end_llm("lone-5", TokenUsage(input_tokens=5, output_tokens=1)) is None
    assert tracker.end_llm("open-now", TokenUsage(input_tokens=5, output_tokens=1)) is not None

    # A day after their start the chains end as failed, and their tasks go.
    _later(monkeypatch, 24 * HOUR_NS + 1)
    for i in range(5000):
        tracker.start_llm(f"day-{i}", None, model="gpt-4o-mini", provider="openai")
    assert len(tracker._tasks) == 0
    assert sum(1 for o in outcomes if not o.success and o.reason == "RunNotEnded") == 1000
    assert not any(run_id.startswith(("chain-", "more-")) for run_id in tracker._runs)


def test_many_open_runs_younger_than_an_hour_stay() -> None:
    tracker = CostTracker(ledger="memory://")
    for i in range(5000):
        tracker.start_llm(f"r{i}", None, model="gpt-4o-mini", provider="openai")
    assert tracker.open_runs == 5000
    for i in range(5000):
        assert tracker.end_llm(f"r{i}", TokenUsage(input_tokens=1, output_tokens=1)) is not None
    assert tracker.open_runs == 0 and len(tracker.ledger.records()) == 5000


def test_an_observer_sees_stale_runs_end_and_keeps_nothing_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.messages import HumanMessage
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llm_cost_hooks.langchain import CostCallbackHandler
    from llm_cost_hooks.telemetry import OTelObserver

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    observer = OTelObserver(tracer_provider=tp, metrics=False)
    handler = CostCallbackHandler(ledger="memory://", observers=[observer])
    stale = [uuid.uuid4() for _ in range(300)]
    for i, run_id in enumerate(stale):  # LangChain's start of a chat model call, and nothing after it
        handler.on_chat_model_start(
            {"kwargs": {"model_name": "gpt-4o-mini"}, "name": "ChatOpenAI"},
            [[HumanMessage(content="hi")]],
            run_id=run_id,
            metadata={"tenant_id": f"t{i}"},
            invocation_params={"model_name": "gpt-4o-mini", "_type": "openai-chat"},
        )
    assert handler.tracker.open_runs == 300
    assert {str(r) for r in stale} <= set(observer._pending) | set(observer._spans)
    _later(monkeypatch, HOUR_NS + 1)
    for i in range(300):
        handler.tracker.start_llm(f"new-{i}", None, model="gpt-4o-mini", provider="openai")
    handler.flush()
    tp.force_flush()

    assert handler.tracker.open_runs == 300  # only the new ones
    held = set(observer._pending) | set(observer._spans)
    assert not held & {str(r) for r in stale}  # the observer holds none of them
    failed = [s for s in exporter.get_finished_spans() if s.attributes.get("error.type") == "RunNotEnded"]
    assert len(failed) == 300
    tp.shutdown()
