"""What the tracker and the ledger's writer do per model call because an observer is attached,
without LangChain or threads: N calls ``start_llm`` + ``end_llm(defer=True)`` on a SQLite ledger
(background writer, so the call is queued), then the writer's ``_materialize`` of the queued
calls (``PendingRecord.ledger_row``: row + observer told) run on this thread. OBS=none | rows
(a no-op deferrable observer reading rows) | otel (OTelObserver, in-memory exporter/reader).

Under callgrind (CG=1) only the two loops are counted, each dumped on its own (``.1`` the
caller's part, ``.2`` the writer's part):

    CG=1 N=2000 OBS=rows PKG=llm_cost_hooks valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=cg.out python bench/results/otel-2026-12-06h/pieces_tracker.py
    grep ^summary cg.out.1 cg.out.2

Without CG it prints CPU µs per call of both parts (this thread's CPU; A/B interleaved via
``ab_pieces.py``).
"""

import importlib
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
pkg = os.environ.get("PKG", "llm_cost_hooks")
if pkg != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/otel-basepkg"))


def make(pkg, obs_kind, tmp):
    lch = importlib.import_module(pkg)
    tracking = importlib.import_module(pkg + ".tracking")

    class Rows(tracking.RunObserver):
        deferrable = True
        reads_rows = True

    observers = []
    if obs_kind == "rows":
        observers = [Rows()]
    elif obs_kind == "otel":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel-2026-12-06c"))
        from _events import pipeline

        pipe = pipeline()
        telemetry = importlib.import_module(pkg + ".telemetry")
        observers = [telemetry.OTelObserver(tracer_provider=pipe[0], meter_provider=pipe[3])]
    tracker = lch.CostTracker(ledger=f"sqlite:///{tmp}/{pkg}-{obs_kind}.db", observers=observers)
    tracker.ledger._wake_at = 10**9  # the writer is not woken by the queue; drained below
    tracker.ledger._flush_interval = 3600.0
    usage = lch.TokenUsage(input_tokens=120, output_tokens=40)
    return tracker, usage


def calls(tracker, usage, n, tag):
    meta = {"ls_provider": "openai"}
    for i in range(n):
        rid = f"{tag}-{i:08d}-0000-0000-000000000000"
        tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai", metadata=meta)
        tracker.end_llm(rid, usage, defer=True)


def writer_part(tracker):
    ledger = tracker.ledger
    with ledger._lock:
        queued = list(ledger._buffer)
        ledger._buffer.clear()
    return ledger._materialize(queued)


def one_round(tracker, usage, n, tag):
    t0 = time.thread_time_ns()
    calls(tracker, usage, n, tag)
    t1 = time.thread_time_ns()
    out = writer_part(tracker)
    t2 = time.thread_time_ns()
    assert len(out) == n, len(out)
    return (t1 - t0) / n / 1000, (t2 - t1) / n / 1000


if __name__ == "__main__":
    n = int(os.environ.get("N", "2000"))
    obs_kind = os.environ.get("OBS", "rows")
    tmp = tempfile.mkdtemp()
    tracker, usage = make(pkg, obs_kind, tmp)
    time.sleep(0.5)  # the writer's first timed wait (set before the interval above) runs out
    one_round(tracker, usage, 300, "w")  # warm-up
    if os.environ.get("CG"):
        pid = str(os.getpid())
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        calls(tracker, usage, n, "c")
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        out = writer_part(tracker)
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        assert len(out) == n
        os._exit(0)
    caller, writer = one_round(tracker, usage, n, "c")
    print(obs_kind, pkg, f"caller / writer us per call: {caller:.2f} / {writer:.2f}")
    os._exit(0)
