"""Alerts queued for a user's sink (delivered on a thread of its own) reach it at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_alerts_queued_for_a_slow_sink_are_delivered_at_exit(tmp_path: Path) -> None:
    out = tmp_path / "alerts.txt"
    code = textwrap.dedent(
        f"""
        import time
        from llm_cost_hooks.budget import AlertEvent, AlertManager, CallbackSink

        def slow(event):
            time.sleep(0.3)
            with open({str(out)!r}, "a") as f:
                f.write(event.period_id + "\\n")

        manager = AlertManager(sinks=[CallbackSink(slow)], log=False, span_events=False, sink_timeout=0.01)
        for i in range(3):
            manager.emit(AlertEvent(kind="threshold", limit_name="daily", scope="tenant", scope_value="acme",
                                   period="day", period_id=f"alert {{i}}", spent=1.0, limit=1.0, threshold=1.0))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines() == ["alert 0", "alert 1", "alert 2"]
