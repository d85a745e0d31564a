"""AlertManager.close(): queued alerts delivered, a hung sink reported, no thread left."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from llm_cost_hooks.budget import AlertEvent, AlertManager, CallbackSink, WebhookSink


def _event(i: int) -> AlertEvent:
    return AlertEvent(
        kind="threshold",
        limit_name="daily",
        scope="tenant",
        scope_value="acme",
        period="day",
        period_id=f"alert {i}",
        spent=1.0,
        limit=1.0,
        threshold=1.0,
    )


def _sink_threads() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name in {"llm-cost-hooks-alert-sink", "llm-cost-hooks-webhook"}
    ]


def test_close_delivers_alerts_queued_to_a_slow_sink_and_leaves_no_thread() -> None:
    before = set(_sink_threads())
    got: list[str] = []

    def slow(event: AlertEvent) -> None:
        time.sleep(0.1)
        got.append(event.period_id)

    manager = AlertManager(sinks=[CallbackSink(slow)], log=False, span_events=False, sink_timeout=0.01)
    for i in range(4):
        manager.emit(_event(i))
    assert len(got) < 4  # still queued when close() starts
    assert manager.close(timeout=30) is True
    assert got == ["alert 0", "alert 1", "alert 2", "alert 3"]
    assert manager.undelivered == 0
    assert set(_sink_threads()) <= before


def test_a_sink_hung_past_the_timeout_is_reported_not_waited_for(caplog: pytest.LogCaptureFixture) -> None:
    before = set(_sink_threads())  # other tests' managers may still hold theirs
    release = threading.Event()
    got: list[str] = []

    def hung(event: AlertEvent) -> None:
        release.wait(60)
        got.append(event.period_id)

    manager = AlertManager(sinks=[hung], log=False, span_events=False, sink_timeout=0.01)
    for i in range(3):
        manager.emit(_event(i))
    result: list[bool] = []
    closer = threading.Thread(target=lambda: result.append(manager.close(timeout=0.2)))
    with caplog.at_level(logging.ERROR, logger="llm_cost_hooks.budget"):
        closer.start()
        closer.join(30)  # close() returned on its own, long before the sink would
        assert not closer.is_alive()
    assert result == [False]
    assert manager.undelivered == 3
    errors = [
        r.getMessage() for r in caplog.records if "before AlertManager.close() timed out" in r.getMessage()
    ]
    assert len(errors) == 1
    assert all(f"alert {i}" in errors[0] for i in range(3))
    release.set()
    deadline = time.monotonic() + 30
    while set(_sink_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    # The send under way returns; the alerts reported lost are not sent after the report.
    assert got == ["alert 0"]
    assert set(_sink_threads()) <= before


def test_an_alert_after_close_is_refused_loudly_and_still_logged(caplog: pytest.LogCaptureFixture) -> None:
    before = set(_sink_threads())
    got: list[AlertEvent] = []
    seen: list[str] = []
    with AlertManager(
        sinks=[got.append], span_events=False, metric_hooks=[lambda n, v, a: seen.append(n)]
    ) as manager:
        manager.emit(_event(0))
        assert manager.flush(10)
    assert manager.closed
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.budget"):
        manager.emit(_event(1))
    assert [e.period_id for e in got] == ["alert 0"]
    assert manager.undelivered == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("after AlertManager.close()" in m and "alert 1" in m for m in messages)
    assert any(m.startswith("llm-cost-hooks alert:") and "alert 1" in m for m in messages)  # the log sink
    assert seen == ["llm_cost_hooks.budget.alerts", "llm_cost_hooks.budget.alerts"]
    assert set(_sink_threads()) <= before
    assert manager.close() is True  # again: nothing more to do


def test_close_stops_a_webhook_sink_it_was_given() -> None:
    webhook = WebhookSink("http://127.0.0.1:9/hook", retries=0, timeout=1.0)
    manager = AlertManager(sinks=[webhook], log=False, span_events=False)
    manager.emit(_event(0))
    assert manager.close(timeout=30) is True
    assert webhook.failed == 1  # nothing listens on port 9: given up, and said so by the sink
    assert not webhook._thread.is_alive()


def test_a_hung_sink_at_exit_is_named_and_does_not_hold_the_exit(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import threading
        from llm_cost_hooks.budget import AlertEvent, AlertManager

        manager = AlertManager(sinks=[lambda e: threading.Event().wait()], log=False, span_events=False,
                               sink_timeout=0.01)
        manager.emit(AlertEvent(kind="threshold", limit_name="daily", scope="tenant", scope_value="acme",
                                period="day", period_id="the last alert", spent=1.0, limit=1.0, threshold=1.0))
        """
    )
    env = {**os.environ, "LLM_COST_HOOKS_EXIT_TIMEOUT": "0.5"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "1 budget alert(s) not delivered" in done.stderr
    assert "the last alert" in done.stderr
