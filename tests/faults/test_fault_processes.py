"""Processes: fork (multiprocessing, a pre-forking gunicorn) and several writers on one file.
Every record any process makes is in the ledger, and each process's last log line says so."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fault_tools import ROOT, child_env, closed_counts, dead_letter_ids, ledger_ids

from llm_cost_hooks import CostTracker, TokenUsage

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _call(tracker: CostTracker, rid: str) -> None:
    tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=10))


def _forked_worker(tracker: CostTracker, name: str, n: int, check_flush: bool) -> None:
    for i in range(n):
        _call(tracker, f"{name}-{i}")
    if check_flush and not tracker.flush(20):
        os._exit(3)  # flush in the child must work (it returned False before fork support)
    # multiprocessing ends the child with os._exit(): no atexit; the records queued
    # after the flush above (none) or without it must still be written.


def test_multiprocessing_fork_children_records_are_written(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    tracker = CostTracker(ledger=f"sqlite:///{db}")
    for i in range(50):
        _call(tracker, f"parent-{i}")  # queued, maybe not yet written, at fork time
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_forked_worker, args=(tracker, f"child{k}", 200, k == 0)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert tracker.flush(20)
    ids = ledger_ids(db)
    assert len(ids) == len(set(ids)) == 450
    assert {i.split("-")[0] for i in ids} == {"parent", "child0", "child1"}
    tracker.close()


_APP = """
import logging
import os
import sys
from llm_cost_hooks import CostTracker, TokenUsage

log = logging.getLogger("llm_cost_hooks")
log.addHandler(logging.StreamHandler(sys.stderr))
log.setLevel(logging.INFO)

# Built in the gunicorn master (--preload), before the workers are forked.
tracker = CostTracker(ledger="sqlite:///" + os.environ["FAULT_DB"])
tracker.start_llm("master-0", None, model="gpt-4o-mini", provider="openai")
tracker.end_llm("master-0", TokenUsage(input_tokens=100, output_tokens=10))


def app(environ, start_response):
    rid = environ["PATH_INFO"].strip("/")
    tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=10))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gunicorn_preload_workers_records_are_written(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    (tmp_path / "fault_app.py").write_text(_APP)
    db = tmp_path / "costs.db"
    port = _free_port()
    env = child_env(FAULT_DB=str(db), PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "20",
            "fault_app:app",
        ],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/warmup", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        pids = {
            urllib.request.urlopen(f"http://127.0.0.1:{port}/req-{i}", timeout=10).read() for i in range(60)
        }
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful stop: workers exit, then the master
        _, stderr = proc.communicate(timeout=60)
    ids = set(ledger_ids(db))
    assert {f"req-{i}" for i in range(60)} | {"warmup", "master-0"} <= ids, stderr[-3000:]
    assert len(ids) == 62
    assert pids  # served by the forked workers
    # One "closed:" line per process that recorded something; none set anything aside.
    lines = [closed_counts(line) for line in stderr.splitlines() if "closed:" in line]
    assert sum(w for w, _, _, _ in lines) == 62 and all(a == 0 and lost == 0 for _, a, _, lost in lines)


_WRITER = """
import sys, logging
logging.basicConfig(level=logging.INFO)
from llm_cost_hooks import CostTracker, TokenUsage
tracker = CostTracker(ledger="sqlite:///" + sys.argv[1])
for i in range(int(sys.argv[3])):
    rid = f"{sys.argv[2]}-{i}"
    tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=10))
"""


def test_four_processes_into_one_ledger(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), f"p{k}", "500"],
            env=child_env(),
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(tmp_path),
        )
        for k in range(4)
    ]
    outs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    assert [closed_counts(o)[:2] for o in outs] == [(500, 0)] * 4
    ids = ledger_ids(db)
    assert len(ids) == len(set(ids)) == 2000


def _child_writes(tracker: CostTracker, name: str) -> None:
    for i in range(50):
        _call(tracker, f"{name}-{i}")


def test_fork_while_the_writer_is_inside_sqlite(tmp_path: Path) -> None:
    # A child forked while the parent's writer is in the middle of a SQLite call would
    # inherit SQLite's locks held by a thread it does not have, and hang on its first write.
    import threading

    db = tmp_path / "costs.db"
    tracker = CostTracker(ledger=f"sqlite:///{db}")
    # Priced once first: a thread importing a module (the price book is imported on first
    # use) while another forks leaves the child waiting on that import forever, a limit of
    # Python's fork, not of the ledger.
    _call(tracker, "warm-up")
    stop = threading.Event()

    def busy_parent() -> None:
        i = 0
        while not stop.is_set():
            _call(tracker, f"parent-{i}")
            i += 1
            if i % 50 == 0:
                time.sleep(0.001)

    writer = threading.Thread(target=busy_parent)
    writer.start()
    ctx = multiprocessing.get_context("fork")
    try:
        exit_codes = []
        for k in range(12):
            p = ctx.Process(target=_child_writes, args=(tracker, f"child{k}"))
            p.start()
            p.join(30)
            if p.is_alive():
                p.kill()
            exit_codes.append(p.exitcode)
    finally:
        stop.set()
        writer.join()
    assert exit_codes == [0] * 12
    assert tracker.flush(30)
    # A child that could not get the database's write lock from the busy parent before
    # its exit deadline sets its records aside: in the ledger or the dead-letter file.
    ids = ledger_ids(db) + dead_letter_ids(tracker.ledger.dead_letter_path)
    assert len(ids) == len(set(ids))
    assert {i for i in ids if i.startswith("child")} == {
        f"child{k}-{i}" for k in range(12) for i in range(50)
    }
    tracker.close()


_CELERY_TASKS = """
import os
from celery import Celery
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.ledger import SQLiteLedger

work = os.environ["FAULT_WORK"]
app = Celery("fault_celery")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={"data_folder_in": work + "/broker", "data_folder_out": work + "/broker"},
    result_backend="file://" + work + "/results",
    worker_hijack_root_logger=False,
)
# Built in the worker's main process, before its pool forks. The writer waits a minute
# between writes (a store that is slow or down): every record is still held at child exit.
handler = CostCallbackHandler(ledger=SQLiteLedger(os.environ["FAULT_DB"], flush_interval=60))


@app.task
def ask(name):
    usage = {"input_tokens": 1200, "output_tokens": 150, "total_tokens": 1350}
    model = GenericFakeChatModel(messages=iter([AIMessage("ok", usage_metadata=usage)] * 3))
    for i in range(3):
        model.invoke("hi", config={"callbacks": [handler],
                     "metadata": {"ls_model_name": "gpt-4o-mini", "task": name}})
    return 3
"""


def test_celery_prefork_children_write_what_they_hold_at_exit(tmp_path: Path) -> None:
    # Celery's pool ends a child with os._exit() inside its task loop, before
    # multiprocessing's finalizers: the records the child held were lost, without a line.
    pytest.importorskip("celery")
    (tmp_path / "fault_celery.py").write_text(_CELERY_TASKS)
    for d in ("broker", "results"):
        (tmp_path / d).mkdir()
    db = tmp_path / "costs.db"
    env = child_env(FAULT_DB=str(db), FAULT_WORK=str(tmp_path), PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    worker = [sys.executable, "-m", "celery", "-A", "fault_celery", "worker", "--pool=prefork", "-c", "2"]
    proc = subprocess.Popen(
        [*worker, "--loglevel=INFO"], cwd=str(tmp_path), env=env, stderr=subprocess.PIPE, text=True
    )
    client = (
        "import fault_celery as t\n"
        "results = [t.ask.delay(f'task{i}') for i in range(8)]\n"
        "print(sum(r.get(timeout=60) for r in results))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", client],
            cwd=str(tmp_path),
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        proc.send_signal(signal.SIGTERM)  # a warm shutdown: the pool's children exit
        _, stderr = proc.communicate(timeout=60)
    assert done.stdout.strip() == "24", done.stderr[-2000:]
    ids = ledger_ids(db)
    assert len(ids) == len(set(ids)) == 24, stderr[-3000:]
    # Each child says where its records went.
    lines = [
        closed_counts(line) for line in stderr.splitlines() if "ForkPoolWorker" in line and "closed:" in line
    ]
    assert sum(w for w, _, _, _ in lines) == 24
