"""Records from multiprocessing children, counted against calls.

    python mp_scenarios.py KIND MODE WORKDIR
KIND: sqlite, jsonl, postgres (FORK_PG_URL). MODE: pool-, proc-, ppe- + fork/spawn/forkserver,
or crash-exit / crash-kill / crash-killlate (a fork child ending with os._exit(1) right
after its calls / SIGKILL right after them / SIGKILL 1 s after them).
The handler is built at import (spawned and forkserver children build their own)."""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import call, counts, fake_model, ledger_url

from llm_cost_hooks.langchain import CostCallbackHandler

KIND, MODE, WORK = sys.argv[1], sys.argv[2], Path(sys.argv[3])
os.chdir(WORK)
handler = CostCallbackHandler(ledger=ledger_url(KIND, WORK))
CALLS = 25


def task(name: str) -> int:
    model = fake_model(CALLS)
    for _ in range(CALLS):
        call(handler, model, name)
    return CALLS


def crash_child(name: str, how: str, ready) -> None:
    model = fake_model(CALLS)
    for _ in range(CALLS):
        call(handler, model, name)
    if how == "exit":
        os._exit(1)
    ready.set()
    time.sleep(60)


def main() -> None:
    parent_model = fake_model(5)
    for _ in range(5):
        call(handler, parent_model, "parent")
    expected = 5
    kind, _, method = MODE.partition("-")
    if kind == "pool":
        with multiprocessing.get_context(method).Pool(2) as pool:
            expected += sum(pool.map(task, [f"pool{i}" for i in range(6)]))
    elif kind == "proc":
        ctx = multiprocessing.get_context(method)
        ps = [ctx.Process(target=task, args=(f"proc{i}",)) for i in range(3)]
        for p in ps:
            p.start()
        for p in ps:
            p.join(120)
        assert [p.exitcode for p in ps] == [0, 0, 0], [p.exitcode for p in ps]
        expected += 3 * CALLS
    elif kind == "ppe":
        ctx = multiprocessing.get_context(method)
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
            expected += sum(ex.map(task, [f"ppe{i}" for i in range(6)]))
    elif kind == "crash":
        ctx = multiprocessing.get_context("fork")
        ready = ctx.Event()
        p = ctx.Process(target=crash_child, args=("crashed", method, ready))
        p.start()
        if method in ("kill", "killlate"):
            ready.wait(60)
            if method == "killlate":  # past the writer's 0.25 s interval
                time.sleep(1.0)
            os.kill(p.pid, signal.SIGKILL)
        p.join(60)
        print("child exitcode", p.exitcode, file=sys.stderr)
        expected += CALLS
    handler.flush(30)
    handler.tracker.close()
    print(json.dumps({"kind": KIND, "mode": MODE, "calls": expected, **counts(KIND, WORK)}))


if __name__ == "__main__":
    main()
