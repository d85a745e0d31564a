"""The OTLP collector is down (closed port) or black-holed (accepts, never answers): the
process still exits within the exit deadline, with every record in the ledger and the
spans it could not export counted."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_tools import child_env, closed_counts, ledger_ids

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

_APP = """
import logging, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver, configure_otel

tp, mp = configure_otel("fault", endpoint=sys.argv[2], schedule_delay_ms=60000)
tracker = CostTracker(ledger="sqlite:///" + sys.argv[1])
OTelObserver(tracer_provider=tp, meter_provider=mp).bind(tracker)
for i in range(200):
    tracker.start_llm(f"r{i}", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm(f"r{i}", TokenUsage(input_tokens=100, output_tokens=10))
print("exiting", flush=True)
"""


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


@pytest.fixture
def black_hole() -> Iterator[int]:
    # Listens (the kernel completes connections in the backlog) but never reads or answers.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    try:
        yield int(s.getsockname()[1])
    finally:
        s.close()


def _exit_seconds(tmp_path: Path, port: int, exit_timeout: str | None) -> tuple[float, str]:
    extra = {"LLM_COST_HOOKS_EXIT_TIMEOUT": exit_timeout} if exit_timeout else {}
    proc = subprocess.Popen(
        [sys.executable, "-c", _APP, str(tmp_path / "costs.db"), f"http://127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(**extra),
        cwd=str(tmp_path),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "exiting", proc.communicate(timeout=120)[1][-3000:]
    start = time.monotonic()
    _, stderr = proc.communicate(timeout=120)
    took = time.monotonic() - start
    assert proc.returncode == 0, stderr[-3000:]
    return took, stderr


@pytest.mark.parametrize("collector", ["closed_port", "black_hole"])
def test_exit_is_bounded_when_the_collector_is_down(
    tmp_path: Path, collector: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(collector)
    took, stderr = _exit_seconds(tmp_path, port, None)
    # The default deadline is 5 s for everything; without it the exporters' retries and
    # timeouts held the exit for tens of seconds.
    assert took < 5.0 + 3.0, f"exit took {took:.1f} s\n{stderr[-2000:]}"
    written, aside, _, lost = closed_counts(stderr)
    assert (written, aside, lost) == (200, 0, 0)  # records first: all in the ledger
    assert sorted(ledger_ids(tmp_path / "costs.db")) == sorted(f"r{i}" for i in range(200))
    assert "were not exported" in stderr  # the unexported spans are reported


_COUNTED_APP = """
import atexit, sys
from opentelemetry.sdk.trace import SpanProcessor
from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver, configure_otel

ended = [0]
class Ended(SpanProcessor):
    def on_end(self, span):
        ended[0] += 1

def report():  # registered first: runs after the package's exit hook
    s = providers.stats
    print("ended", ended[0], "exported", s.spans_exported, "dropped", s.spans_dropped, flush=True)
atexit.register(report)
providers = configure_otel("fault", endpoint=sys.argv[2], schedule_delay_ms=int(sys.argv[3]), metrics=False)
providers.tracer_provider.add_span_processor(Ended())
tracker = CostTracker(ledger="sqlite:///" + sys.argv[1])
OTelObserver(tracer_provider=providers.tracer_provider).bind(tracker)
for i in range(300):
    tracker.start_llm(f"r{i}", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm(f"r{i}", TokenUsage(input_tokens=100, output_tokens=10))
tracker.flush()
"""


@pytest.mark.parametrize("schedule_delay_ms", [60000, 10])
def test_spans_the_exit_left_behind_are_all_counted_and_named(
    tmp_path: Path, closed_port: int, schedule_delay_ms: int
) -> None:
    # The batch the exporter is still retrying when the deadline comes was taken off the
    # queue: it was neither counted nor named (the warning said 0 with everything in it).
    proc = subprocess.run(
        [sys.executable, "-c", _COUNTED_APP, str(tmp_path / "costs.db"), f"http://127.0.0.1:{closed_port}",
         str(schedule_delay_ms)],
        capture_output=True, text=True, timeout=120, env=child_env(LLM_COST_HOOKS_EXIT_TIMEOUT="1"),
        cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = re.search(r"ended (\d+) exported (\d+) dropped (\d+)", proc.stdout)
    assert got, proc.stdout + proc.stderr[-3000:]
    ended, exported, dropped = map(int, got.groups())
    assert ended == 300 and exported == 0
    assert dropped == ended, proc.stderr[-3000:]
    named = re.findall(r"(\d+) span\(s\) were not exported", proc.stderr)
    failed_during_run = re.findall(r"(\d+) more span\(s\) were lost", proc.stderr)
    assert named, proc.stderr[-3000:]
    assert int(named[-1]) + sum(map(int, failed_during_run)) == ended, proc.stderr[-3000:]


_FAILING_APP = """
import sys, time
from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver, configure_otel

providers = configure_otel("fault", endpoint=sys.argv[2], schedule_delay_ms=10, timeout=1, metrics=False)
tracker = CostTracker(ledger="sqlite:///" + sys.argv[1])
OTelObserver(tracer_provider=providers.tracer_provider).bind(tracker)
for i in range(300):
    tracker.start_llm(f"r{i}", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm(f"r{i}", TokenUsage(input_tokens=100, output_tokens=10))
tracker.flush()
deadline = time.monotonic() + 60
while providers.stats.spans_failed < 300 and time.monotonic() < deadline:
    time.sleep(0.1)  # every export fails while the process runs
print("failed", providers.stats.spans_failed, flush=True)
"""


def test_spans_lost_to_failed_exports_are_named_at_exit_when_the_collector_is_still_down(
    tmp_path: Path, closed_port: int
) -> None:
    # Only the first failed export of the outage was logged (with its own batch's count):
    # when the exit itself had nothing left to wait for, the log never said the rest.
    proc = subprocess.run(
        [sys.executable, "-c", _FAILING_APP, str(tmp_path / "costs.db"), f"http://127.0.0.1:{closed_port}"],
        capture_output=True, text=True, timeout=120, env=child_env(), cwd=str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "failed 300" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    got = re.findall(r"(\d+) span\(s\) were lost to failed exports since it began", proc.stderr)
    assert got == ["300"], proc.stderr[-3000:]


def test_exit_deadline_is_configurable(tmp_path: Path, black_hole: int) -> None:
    took, stderr = _exit_seconds(tmp_path, black_hole, "1")
    assert took < 1.0 + 3.0, f"exit took {took:.1f} s\n{stderr[-2000:]}"
    assert closed_counts(stderr)[0] == 200
