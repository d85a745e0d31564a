"""A queued model call digested on the caller (RunObserver.digests_calls): the observer gets
its digest back on the writer, the tracker keeps none of the call's objects meanwhile, and the
OTel observer's spans are the ones it makes from the LangChain result itself."""

from __future__ import annotations

import logging
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver
from llm_cost_hooks.tracking import RunInfo, RunObserver


def _outputs(reason: str = "stop") -> LLMResult:
    msg = AIMessage(
        content="Fine.", id="chatcmpl-1", response_metadata={"model_name": "x-2024", "finish_reason": reason}
    )
    return LLMResult(generations=[[ChatGeneration(message=msg)]])


class Digesting(RunObserver):
    deferrable = True
    reads_rows = True
    digests_calls = True

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[tuple[Any, Any, Any]] = []  # (outputs, messages, metadata) on the writer

    def digest_call(self, run: RunInfo, outputs: Any) -> Any:
        if self.fail:
            raise RuntimeError("digest failed")
        return ("digest", outputs.generations[0][0].message.id)

    def on_model_row(self, run: RunInfo, *, row: Any, task: Any, outputs: Any = None) -> None:
        self.seen.append((outputs, run.messages, dict(run.metadata)))


def _call(tracker: CostTracker, rid: str, messages: Any) -> None:
    tracker.start_llm(
        rid, None, model="gpt-4o-mini", provider="openai", metadata={"k": "v"}, messages=messages
    )
    tracker.end_llm(rid, TokenUsage(input_tokens=10, output_tokens=2), outputs=_outputs(), defer=True)


def test_the_only_observer_gets_its_digest_and_the_call_objects_are_dropped(tmp_path: Any) -> None:
    observer = Digesting()
    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'a.db'}", observers=[observer])
    _call(tracker, "chat", [HumanMessage(content="hi")])
    _call(tracker, "text", "a text prompt")
    assert tracker.flush()
    assert observer.seen == [
        (("digest", "chatcmpl-1"), None, {}),  # chat messages and metadata dropped
        (("digest", "chatcmpl-1"), "a text prompt", {}),  # a text prompt stays: it names the operation
    ]
    assert tracker.ledger.stats.written == 2
    tracker.close()


def test_no_digest_beside_another_observer_or_when_it_fails(tmp_path: Any, caplog: Any) -> None:
    observer, other = Digesting(), Digesting()
    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'a.db'}", observers=[observer, other])
    messages = [HumanMessage(content="hi")]
    _call(tracker, "r1", messages)
    assert tracker.flush()
    [(outputs, kept, metadata)] = observer.seen
    assert isinstance(outputs, LLMResult) and kept is messages and metadata == {"k": "v"}
    tracker.close()
    failing = Digesting(fail=True)
    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / 'b.db'}", observers=[failing])
    with caplog.at_level(logging.ERROR, logger="llm_cost_hooks"):
        _call(tracker, "r2", messages)
        assert tracker.flush()
    [(outputs, kept, metadata)] = failing.seen  # told with the call as it was
    assert isinstance(outputs, LLMResult) and kept is messages and metadata == {"k": "v"}
    assert "failed to digest a call" in caplog.text
    assert tracker.ledger.stats.written == 1  # the record is written all the same
    tracker.close()


def _spans(tmp_path: Any, name: str, digest: bool, messages: Any, rows: bool = True) -> list[Any]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    observer = OTelObserver(tracer_provider=tp, metrics=False)
    assert observer.digests_calls
    observer.digests_calls = digest
    digests: list[Any] = []
    digest_call = observer.digest_call
    observer.digest_call = lambda run, outputs: digests.append(digest_call(run, outputs)) or digests[-1]  # type: ignore[method-assign]
    tracker = CostTracker(ledger=f"sqlite:///{tmp_path / name}", observers=[observer])
    if not rows:  # a background ledger that stores records: the observer is told with the record
        tracker.ledger._writes_rows = False  # type: ignore[attr-defined]
    for i, reason in enumerate(("stop", "length")):
        tracker.start_llm(f"r{i}", None, model="gpt-4o-mini", provider="openai", messages=messages)
        tracker.end_llm(
            f"r{i}", TokenUsage(input_tokens=10, output_tokens=2), outputs=_outputs(reason), defer=True
        )
    assert tracker.flush()
    tracker.close()
    assert observer.stats.observer_errors == 0
    assert len(digests) == (2 if digest else 0)
    return [
        (s.name, [(k, v) for k, v in s.attributes.items() if k != "llm_cost_hooks.task_id"])
        for s in exporter.get_finished_spans()
    ]


@pytest.mark.parametrize("rows", [True, False])
@pytest.mark.parametrize("messages", [[HumanMessage(content="hi")], "a text prompt"])
def test_otel_spans_from_the_digest_are_the_ones_from_the_result(
    tmp_path: Any, messages: Any, rows: bool
) -> None:
    digested = _spans(tmp_path, "a.db", True, messages, rows)
    kept = _spans(tmp_path, "b.db", False, messages, rows)
    assert digested == kept
    op = "chat" if isinstance(messages, list) else "text_completion"
    assert [name for name, _ in digested] == [f"{op} gpt-4o-mini"] * 2
    reasons = [dict(attrs)["gen_ai.response.finish_reasons"] for _, attrs in digested]
    assert reasons == [("stop",), ("length",)]
    assert dict(digested[0][1])["gen_ai.response.id"] == "chatcmpl-1"


def test_otel_digests_only_deferred_calls_without_content_capture() -> None:
    assert OTelObserver(metrics=False).digests_calls
    assert not OTelObserver(metrics=False, capture_content=True).digests_calls
    assert not OTelObserver(metrics=False, deferred=False).digests_calls
    observer = OTelObserver(metrics=False)
    observer.capture_content = True  # prompts and answers are read on the writer then
    assert not observer.digests_calls and observer.capture_content is True
    observer.capture_content = False
    assert observer.digests_calls
