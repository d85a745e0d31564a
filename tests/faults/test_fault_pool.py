"""A SIGTERM that reaches a process while it writes its queued records at exit: what
multiprocessing's ``with Pool() as pool:`` does to its workers (``terminate()`` on the way
out signals workers that are already exiting). The records are still written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fault_tools import child_env, ledger_ids

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

_SIGTERM_DURING_EXIT = """
import logging, os, signal, sys
from llm_cost_hooks import CostTracker, TokenUsage, _shutdown

logging.basicConfig(level=logging.INFO)

tracker = CostTracker(ledger="sqlite:///" + sys.argv[1])
for i in range(300):
    tracker.start_llm(f"r{i}", None, model="gpt-4o-mini", provider="openai")
    tracker.end_llm(f"r{i}", TokenUsage(input_tokens=100, output_tokens=10))
sent = []


def sigterm_once(owner, deadline):
    # Runs first among the exit hooks: the signal lands while the exit is under way.
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGTERM)


_shutdown.register(_shutdown.TRACKERS, None, sigterm_once)
"""

_POOL = """
import multiprocessing, sys
from llm_cost_hooks import CostTracker, TokenUsage

tracker = CostTracker(ledger="sqlite:///" + sys.argv[1])


def task(i):
    for k in range(20):
        rid = f"t{i}-{k}"
        tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai")
        tracker.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=10))
    return 20


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(3) as pool:  # __exit__ calls terminate()
        print(sum(pool.map(task, range(30))))
"""

# The SIGTERM lands as the child starts its exit, before the exit hooks run: here a
# finalizer that runs before ours sends it (Pool.terminate() can land in that moment too).
# The writer waits a minute between writes, so the records are still queued then.
_SIGTERM_AS_THE_CHILD_EXITS = """
import multiprocessing, os, signal, sys
from multiprocessing.util import Finalize
from llm_cost_hooks.ledger import SQLiteLedger
from llm_cost_hooks import CostRecord

ledger = SQLiteLedger(sys.argv[1], flush_interval=60)


def child():
    for i in range(50):
        ledger.write(CostRecord(request_id=f"c{i}", model="gpt-4o-mini", input_tokens=10, output_tokens=1))
    Finalize(None, os.kill, args=(os.getpid(), signal.SIGTERM), exitpriority=1000)


if __name__ == "__main__":
    p = multiprocessing.get_context("fork").Process(target=child)
    p.start()
    p.join(60)
    print(p.exitcode)
"""

# The state a pool worker hung in: Python takes a SIGTERM (its C handler runs) while the
# main thread waits on a multiprocessing lock, which only runs Python's handler when its
# wait is interrupted. Taking it on another thread makes that state every time.
# A spawned child makes its ledger itself (this module runs again there).
_SIGTERM_TAKEN_ON_ANOTHER_THREAD = """
import multiprocessing, signal, sys, threading, time
from llm_cost_hooks.ledger import SQLiteLedger
from llm_cost_hooks import CostRecord

ledger = SQLiteLedger(sys.argv[1], flush_interval=60)


def child(lock):
    for i in range(50):
        ledger.write(CostRecord(request_id=f"c{i}", model="gpt-4o-mini", input_tokens=10, output_tokens=1))
    threading.Thread(target=lambda: (time.sleep(0.5), signal.pthread_kill(threading.get_ident(), signal.SIGTERM))).start()
    lock.acquire()  # held by the parent: like an idle pool worker's wait for a task


if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[2])
    lock = ctx.Lock()
    lock.acquire()
    p = ctx.Process(target=child, args=(lock,))
    p.start()
    p.join(60)
    print(p.exitcode)
    if p.exitcode is None:
        p.kill()
"""


def test_sigterm_while_the_exit_hooks_write_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_DURING_EXIT, str(db)],
        capture_output=True, text=True, timeout=60, env=child_env(),
    )  # fmt: skip
    assert len(ledger_ids(db)) == 300, done.stderr[-2000:]
    assert "SIGTERM while writing queued records at exit" in done.stderr


def test_pool_workers_terminated_by_the_with_block_write_their_records(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    script = tmp_path / "pool_app.py"
    script.write_text(_POOL)
    done = subprocess.run(
        [sys.executable, str(script), str(db)], capture_output=True, text=True, timeout=120, env=child_env()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["600"]
    ids = ledger_ids(db)
    assert len(ids) == len(set(ids)) == 600, done.stderr[-2000:]


def test_sigterm_as_a_multiprocessing_child_starts_its_exit_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "costs.db"
    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_AS_THE_CHILD_EXITS, str(db)],
        capture_output=True, text=True, timeout=120, env=child_env(),
    )  # fmt: skip
    assert sorted(ledger_ids(db)) == sorted(f"c{i}" for i in range(50)), done.stderr[-2000:]
    # The child was already ending normally: the signal does not change how it ends.
    assert done.stdout.split() == ["0"], done.stderr[-2000:]


@pytest.mark.parametrize("start", ["fork", "spawn", "forkserver"])
def test_sigterm_python_takes_while_a_child_waits_on_a_multiprocessing_lock_ends_it(
    tmp_path: Path, start: str
) -> None:
    db = tmp_path / "costs.db"
    script = tmp_path / "app.py"  # spawn imports the main module again: a file, not -c
    script.write_text(_SIGTERM_TAKEN_ON_ANOTHER_THREAD)
    done = subprocess.run(
        [sys.executable, str(script), str(db), start],
        capture_output=True, text=True, timeout=120, env=child_env(),
    )  # fmt: skip
    assert done.stdout.split() == ["143"], done.stderr[-2000:]
    assert sorted(ledger_ids(db)) == sorted(f"c{i}" for i in range(50)), done.stderr[-2000:]
