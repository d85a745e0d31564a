"""An alert raised by the last records at exit (a threshold crossed in a tracker's final
flush) still reaches the user's sink: alert sinks close after every tracker and ledger
exit hook, whenever their manager registered its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_EVENT = """
from llm_cost_hooks.budget import AlertEvent

def event(name):
    return AlertEvent(kind="threshold", limit_name="daily", scope="tenant", scope_value="acme",
                      period="day", period_id=name, spent=1.0, limit=1.0, threshold=1.0)
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "alert_before_exit", [True, False], ids=["sink thread started", "first alert at exit"]
)
def test_an_alert_raised_by_a_flush_at_exit_reaches_the_user_sink(
    tmp_path: Path, alert_before_exit: bool
) -> None:
    out = tmp_path / "alerts.txt"
    code = _EVENT + textwrap.dedent(
        f"""
        import time
        from llm_cost_hooks import _shutdown
        from llm_cost_hooks.budget import AlertManager, CallbackSink

        def sink(e):  # slower than the call waits for it: delivered on the sink's thread
            time.sleep(0.3)
            with open({str(out)!r}, "a") as f:
                f.write(e.period_id + "\\n")

        manager = AlertManager(sinks=[CallbackSink(sink)], log=False, span_events=False, sink_timeout=0.01)
        if {alert_before_exit!r}:
            manager.emit(event("during the run"))  # the manager's exit hook is registered now

        def final_flush(_owner, _deadline):  # a tracker flushing its last records at exit
            manager.emit(event("at exit"))

        _shutdown.register(_shutdown.TRACKERS, None, final_flush)
        """
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert "not delivered" not in done.stderr, done.stderr
    expected = ["during the run", "at exit"] if alert_before_exit else ["at exit"]
    assert out.read_text().splitlines() == expected


_LITELLM = """
import sys, time
import litellm
from llm_cost_hooks.budget import AlertManager, CallbackSink, Limit, SpendGuard
from llm_cost_hooks.litellm import CostHooksLogger

OUT, SECOND_LOGGER, ALERT_AT = sys.argv[1], sys.argv[2] == "1", tuple(map(float, sys.argv[3:]))

def sink(e):  # slower than the call waits for it: delivered on the sink's thread
    time.sleep(0.3)
    with open(OUT, "a") as f:
        f.write(f"{e.kind} {e.threshold:g}\\n")

alerts = AlertManager(sinks=[CallbackSink(sink)], log=False, span_events=False, sink_timeout=0.01)
# 1 USD a day; the fractions are set around the cost of the calls below (the first one
# costs 1.35e-05 USD, the stream held at exit a little more).
guard = SpendGuard([Limit.usd(1.0, per="day", scope="tenant", alert_at=ALERT_AT)], alerts=alerts)
cl = CostHooksLogger(ledger="memory://", guard=guard)
litellm.callbacks = [cl]
kw = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello " * 50}],
          metadata={"tenant_id": "acme"}, max_tokens=500)
cl.completion(mock_response="word " * 40, **kw)
cl.flush()
if SECOND_LOGGER:  # made after the first alert: its exit hook registers after the manager's
    cl = CostHooksLogger(ledger="memory://", guard=guard)
    litellm.callbacks = [cl]
# A stream read in part and still held at exit: the logger records it in its exit hook,
# and that record crosses the last threshold.
held = cl.completion(mock_response="word " * 400, stream=True, **kw)
next(iter(held))
"""


@pytest.mark.parametrize(
    ("second_logger", "alert_at", "expected"),
    [
        (False, ["1.4e-5"], ["threshold 1.4e-05"]),
        (True, ["1e-5", "1.4e-5"], ["threshold 1e-05", "threshold 1.4e-05"]),
    ],
    ids=["first alert at exit", "logger made after the first alert"],
)
def test_litellm_a_threshold_crossed_by_a_stream_recorded_at_exit_is_delivered(
    tmp_path: Path, second_logger: bool, alert_at: list[str], expected: list[str]
) -> None:
    pytest.importorskip("litellm")
    out = tmp_path / "alerts.txt"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [sys.executable, "-c", _LITELLM, str(out), str(int(second_logger)), *alert_at],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "not delivered" not in done.stderr, done.stderr
    assert out.exists(), done.stderr
    assert out.read_text().splitlines() == expected
