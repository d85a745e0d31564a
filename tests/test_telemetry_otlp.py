"""OTLP export to a real receiver process, delivery accounting and the one-call set-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _servers import ManagedProcess, free_port, start_process, tcp_ready
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks import MissingExtraError
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver, TelemetryStats, configure_otel
from llm_cost_hooks.telemetry._stats import CountingBatchSpanProcessor, CountingSpanExporter

RECEIVER = Path(__file__).resolve().parent / "otlp_receiver.py"
ANSWER = "Paris."


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "OTEL_SEMCONV_STABILITY_OPT_IN",
    ):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Receiver:
    proc: ManagedProcess
    http_port: int
    grpc_port: int
    out: Path

    def rows(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 20
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows()
            if predicate(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver did not get the expected data; got {len(rows)} rows")
            time.sleep(0.05)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    http_port, grpc_port = free_port(), free_port()
    out = tmp_path / "received.jsonl"
    http_ready, grpc_ready = tcp_ready(http_port), tcp_ready(grpc_port)
    proc = start_process(
        [
            sys.executable,
            str(RECEIVER),
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
            "--out",
            str(out),
        ],
        ready_check=lambda: http_ready() and grpc_ready(),
        timeout=30,
    )
    try:
        yield Receiver(proc, http_port, grpc_port, out)
    finally:
        proc.close()


def qa_chain() -> Any:
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    return prompt | model | StrOutputParser()


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_otlp_export_decoded_by_receiver_then_receiver_dies(receiver: Receiver, protocol: str) -> None:
    port = receiver.http_port if protocol == "http/protobuf" else receiver.grpc_port
    setup = configure_otel(
        "cost-hooks-test",
        exporter="otlp",
        endpoint=f"http://127.0.0.1:{port}",
        protocol=protocol,
        headers={"x-honeycomb-team": "not-a-real-key"},
        timeout=1.5,
        schedule_delay_ms=100,
        metric_export_interval_ms=3_600_000,
    )
    tp, mp = setup
    # A second, in-memory copy of every span: the ground truth for what was produced.
    produced = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(produced))
    observer = OTelObserver(tracer_provider=tp, meter_provider=mp)
    handler = CostCallbackHandler(ledger="memory://", observers=[observer])
    chain = qa_chain()
    config = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "feature": "faq"}}
    try:
        for _ in range(2):
            assert chain.invoke({"q": "Capital of France?"}, config=config) == ANSWER
        assert tp.force_flush() and mp.force_flush()
        rows = receiver.wait_for(
            lambda rows: (
                sum(r["name"] == "chat gpt-4o-mini" for r in rows) == 2
                and any(r["signal"] == "metric" for r in rows)
            )
        )
        records = handler.records()
        spans = [r for r in rows if r["signal"] == "span"]
        assert {r["transport"] for r in rows} == {"http" if protocol == "http/protobuf" else "grpc"}
        llm = [r for r in spans if r["name"] == "chat gpt-4o-mini"]
        a = llm[0]["attributes"]
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.system"] == "openai"
        assert a["gen_ai.usage.input_tokens"] == records[0].input_tokens > 0
        assert a["gen_ai.usage.cost.amount"] == pytest.approx(records[0].cost_usd) and records[0].cost_usd > 0
        assert a["gen_ai.usage.cost.currency"] == "USD"
        assert a["llm_cost_hooks.tenant"] == "acme"
        assert llm[0]["kind"] == 3  # SPAN_KIND_CLIENT
        assert llm[0]["resource"]["service.name"] == "cost-hooks-test"
        roots = [r for r in spans if r["name"] == "chain RunnableSequence"]
        assert len(roots) == 2
        assert {r["parent_span_id"] for r in llm} == {r["span_id"] for r in roots}
        assert roots[0]["attributes"]["llm_cost_hooks.task.cost_usd"] == pytest.approx(records[0].cost_usd)
        metrics = [r for r in rows if r["signal"] == "metric"]
        [cost] = [m for m in metrics if m["name"] == "llm_cost_hooks.cost"]
        assert cost["value"] == pytest.approx(sum(r.cost_usd for r in records))
        assert cost["attributes"]["llm_cost_hooks.tenant"] == "acme"
        assert cost["attributes"]["llm_cost_hooks.feature"] == "faq"
        assert cost["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
        usage = {
            m["attributes"]["gen_ai.token.type"]: m
            for m in metrics
            if m["name"] == "gen_ai.client.token.usage"
        }
        assert usage["input"]["count"] == 2 and usage["input"]["sum"] == sum(r.input_tokens for r in records)
        assert usage["input"]["bounds"][:3] == [1, 4, 16]
        [duration] = [m for m in metrics if m["name"] == "gen_ai.client.operation.duration"]
        assert duration["unit"] == "s" and duration["count"] == 2
        assert setup.stats.spans_exported == len(produced.get_finished_spans()) == 8
        assert setup.stats.spans_dropped == 0

        # The receiver dies mid-run: the chain keeps working, losses are counted.
        receiver.proc.stop()
        before = len(produced.get_finished_spans())
        for _ in range(3):
            assert chain.invoke({"q": "Capital of France?"}, config=config) == ANSWER
        tp.force_flush()
        mp.force_flush()
        lost = len(produced.get_finished_spans()) - before
        assert lost == 12
        assert setup.stats.spans_failed == lost
        assert observer.dropped_spans == lost
        assert setup.stats.spans_exported == 8
        assert setup.stats.metric_points_failed > 0
        assert len(handler.records()) == 5  # no cost record lost
    finally:
        setup.shutdown()


class BlockingExporter(SpanExporter):
    """An exporter stuck on a dead backend until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.exported = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.entered.set()
        self.release.wait(30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_stuck_exporter_does_not_block_the_chain_and_full_queue_is_counted() -> None:
    stats = TelemetryStats()
    exporter = BlockingExporter()
    tp = TracerProvider()
    tp.add_span_processor(
        CountingBatchSpanProcessor(
            CountingSpanExporter(exporter, stats),
            stats,
            max_queue_size=8,
            max_export_batch_size=4,
            schedule_delay_millis=10,
        )
    )
    produced = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(produced))
    handler = CostCallbackHandler(
        ledger="memory://", observers=[OTelObserver(tracer_provider=tp, metrics=False)]
    )
    chain = qa_chain()
    # If the chain waited for the exporter this loop would hang (the export blocks for 30 s).
    assert chain.invoke({"q": "hi"}, config={"callbacks": [handler]}) == ANSWER
    # Once the worker holds its first batch and is stuck, the queue only fills: whether it
    # is full when a span ends no longer depends on when the worker thread got the GIL.
    assert exporter.entered.wait(10)
    for _ in range(9):
        assert chain.invoke({"q": "hi"}, config={"callbacks": [handler]}) == ANSWER
    assert len(handler.records()) == 10
    assert exporter.exported == 0  # still stuck
    total = len(produced.get_finished_spans())
    assert total == 40
    # At most one batch in flight plus a full queue can survive; the rest was dropped and counted.
    assert stats.spans_dropped_queue_full >= total - 8 - 4
    exporter.release.set()
    tp.shutdown()
    assert stats.spans_exported + stats.spans_dropped_queue_full == total


def test_configure_otel_leaves_globals_alone() -> None:
    before = trace.get_tracer_provider()
    tp, mp = configure_otel("svc", exporter="console")
    assert trace.get_tracer_provider() is before
    assert tp is not before and tp.resource.attributes["service.name"] == "svc"
    tp.shutdown()
    mp.shutdown()


def test_configure_otel_env_service_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    tp, _ = configure_otel("from-arg", exporter=None, metrics=False)
    assert tp.resource.attributes["service.name"] == "from-env"


def test_set_global_never_replaces_an_app_provider(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from llm_cost_hooks.telemetry import configure_otel
        import sys
        if sys.argv[1] == "preset":
            app = TracerProvider(); trace.set_tracer_provider(app)
            tp, _ = configure_otel("x", exporter=None, set_global=True)
            print(trace.get_tracer_provider() is app)
        else:
            tp, _ = configure_otel("x", exporter=None, set_global=True)
            print(trace.get_tracer_provider() is tp)
    """)
    path = tmp_path / "g.py"
    path.write_text(script)
    for mode in ("preset", "empty"):
        out = subprocess.run([sys.executable, str(path), mode], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "True", out.stderr


def test_missing_exporter_raises_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(MissingExtraError) as info:
        configure_otel("x", exporter="otlp", protocol="http/protobuf")
    assert info.value.extra == "otlp"
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)
    with pytest.raises(MissingExtraError) as info:
        configure_otel("x", exporter="otlp", protocol="grpc")
    assert info.value.extra == "otlp-grpc"


def test_bad_protocol_and_headers_are_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_cost_hooks import ConfigurationError

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ConfigurationError, match="http/protobuf"):
        configure_otel("x")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_PROTOCOL")
    with pytest.raises(ConfigurationError, match="key=value"):
        configure_otel("x", headers="x-honeycomb-team")


_FORKING_APP = """
import multiprocessing as mp, sys
from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver, configure_otel

providers = configure_otel(service_name="forking-app")
observer = OTelObserver(tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider)
tracker = CostTracker(ledger="memory://", observers=[observer])


def call(run_id):
    tracker.start_llm(run_id, None, model="gpt-4o-mini", provider="openai", messages=[], params={}, metadata={})
    tracker.end_llm(run_id, TokenUsage(input_tokens=100, output_tokens=20))


def child(i):
    call(f"child-{i}")
    tracker.flush()


for i in range(3):
    call(f"parent-{i}")
tracker.flush()
providers.meter_provider.force_flush()  # exported before the fork, as a periodic export would
for i in range(2):
    call(f"late-{i}")  # not exported yet when the process forks
tracker.flush()
workers = [mp.get_context("fork").Process(target=child, args=(i,)) for i in range(2)]
for w in workers:
    w.start()
for w in workers:
    w.join()
sys.exit(max(w.exitcode for w in workers))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_workers_export_their_own_calls_once(receiver: Receiver, tmp_path: Path) -> None:
    """Seven calls (five in the parent, one in each of two ``multiprocessing`` workers forked
    after it exported three): summed over the instances as a backend does, the last
    exported latency histogram of each process counts seven calls, not the parent's again
    per worker, and no worker's call is missing."""
    script = tmp_path / "app.py"
    script.write_text(_FORKING_APP)
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.http_port}",
    }
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    def last_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
        last: dict[str, int] = {}  # per service.instance.id: cumulative, the last export holds all
        for r in rows:
            if r["signal"] == "metric" and r["name"] == "gen_ai.client.operation.duration":
                last[r["resource"]["service.instance.id"]] = r["count"]
        return last

    rows = receiver.wait_for(lambda rows: len(last_counts(rows)) == 3)
    assert sorted(last_counts(rows).values()) == [1, 1, 5]


class FlakyExporter(SpanExporter):
    """Answers FAILURE while ``down`` is set, SUCCESS otherwise (a collector that goes away)."""

    def __init__(self) -> None:
        self.down = True

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.FAILURE if self.down else SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def test_a_collector_outage_is_logged_once_while_running_and_its_end_with_the_loss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Spans lost to failed exports during the run were only counted: the log said nothing
    # until the exit (and nothing at all when the exit itself went well).
    stats = TelemetryStats()
    flaky = FlakyExporter()
    exporter = CountingSpanExporter(flaky, stats)
    spans = [object()] * 3
    with caplog.at_level("INFO", logger="llm_cost_hooks.telemetry"):
        for _ in range(4):
            exporter.export(spans)
        flaky.down = False
        exporter.export(spans)
        exporter.export(spans)
    ours = [r for r in caplog.records if r.name == "llm_cost_hooks.telemetry"]
    assert [r.levelname for r in ours] == ["WARNING", "INFO"]
    assert "3 span(s) lost" in ours[0].getMessage()
    assert "12 span(s) were lost meanwhile" in ours[1].getMessage()
    assert (stats.spans_failed, stats.spans_exported, stats.span_exports_failed) == (12, 6, 4)
