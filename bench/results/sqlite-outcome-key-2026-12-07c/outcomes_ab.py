"""Writing a batch to the SQLite ledger: the previous release (schema version 3, outcomes
inserted with a plain INSERT, an index on task_outcomes(task_id)) against this one (version 4,
INSERT OR IGNORE against the unique key on all of an outcome's fields, which replaces that
index). The previous release's _stores.py is loaded from git (commit 63763d6). Interleaved
rounds in one process, each writing one fresh batch to each ledger's own file, in rotating
order; time is the wall and thread CPU time of _write_batch (one transaction, synchronous=NORMAL,
WAL), as the background writer calls it.

    PYTHONPATH=$PWD python bench/results/sqlite-outcome-key-2026-12-07c/outcomes_ab.py ROUNDS RECORDS OUTCOMES [WARM_OUTCOMES]

WARM_OUTCOMES: outcomes put in each file before the rounds (both files the same), so the
index is not tiny. AB_ONLY=old or AB_ONLY=new writes the batches to that ledger only (both
modules are loaded all the same): run under valgrind --tool=callgrind, the two runs differ
by the write path alone.
"""

from __future__ import annotations

import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import llm_cost_hooks.ledger as package
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import TaskOutcome
from llm_cost_hooks.ledger._base import record_to_row
from llm_cost_hooks.ledger._stores import SQLiteLedger

PREVIOUS = "63763d6"


def _previous_module() -> Any:
    source = subprocess.run(
        ["git", "show", f"{PREVIOUS}:llm_cost_hooks/ledger/_stores.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    name = "llm_cost_hooks.ledger._stores_previous"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package.__name__
    sys.modules[name] = module
    exec(compile(source, f"{PREVIOUS}:_stores.py", "exec"), module.__dict__)
    return module


T0 = datetime(2026, 12, 7, tzinfo=timezone.utc)
_n = 0
# Random ids from a fixed seed: every run writes the same batches (for instruction counts).
_rng = random.Random(7)


def _id() -> str:
    return f"{_rng.getrandbits(128):032x}"


def _batch(records: int, outcomes: int) -> tuple[list[tuple[object, ...]], list[TaskOutcome]]:
    global _n
    rows = []
    for _ in range(records):
        _n += 1
        rows.append(
            record_to_row(
                CostRecord(
                    request_id=_id(),
                    task_id=_id(),
                    model="gpt-4o-mini",
                    provider="openai",
                    input_tokens=120,
                    output_tokens=30,
                    cost_usd=0.0001,
                    latency_ms=420.0,
                    timestamp=T0 + timedelta(milliseconds=_n),
                )
            )
        )
    outs = []
    for i in range(outcomes):
        _n += 1
        outs.append(
            TaskOutcome(
                task_id=_id(),
                success=i % 7 != 0,
                reason=None if i % 7 else "wrong answer",
                timestamp=T0 + timedelta(milliseconds=_n),
            )
        )
    return rows, outs


def _timed(ledger: Any, rows: list[tuple[object, ...]], outs: list[TaskOutcome]) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.thread_time()
    ledger._write_batch(rows, outs)
    return (time.perf_counter() - w0) * 1e3, (time.thread_time() - c0) * 1e3


def main() -> None:
    rounds, records, outcomes = (int(a) for a in sys.argv[1:4])
    warm = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    previous = _previous_module()
    with tempfile.TemporaryDirectory() as d:
        ledgers = {
            "old": previous.SQLiteLedger(Path(d) / "old.db", background=False),
            "new": SQLiteLedger(Path(d) / "new.db", background=False),
        }
        for start in range(0, warm, 1000):
            rows, outs = _batch(0, min(1000, warm - start))
            for ledger in ledgers.values():
                ledger._write_batch(rows, outs)
        wall: dict[str, list[float]] = {k: [] for k in ledgers}
        cpu: dict[str, list[float]] = {k: [] for k in ledgers}
        names = [n for n in ledgers if os.environ.get("AB_ONLY", n) == n]
        for r in range(rounds + 3):
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                rows, outs = _batch(records, outcomes)
                w, c = _timed(ledgers[name], rows, outs)
                if r >= 3:  # the first rounds warm the caches and statements
                    wall[name].append(w)
                    cpu[name].append(c)
        for ledger in ledgers.values():
            ledger.close()
    print(f"{rounds} rounds, {records} records + {outcomes} outcomes a batch, {warm} outcomes before")
    if len(names) < 2:
        return
    for kind, data in (("wall", wall), ("cpu", cpu)):
        diff = [n - o for n, o in zip(data["new"], data["old"])]
        for name in names:
            v = data[name]
            print(
                f"  {kind} {name}: median {statistics.median(v):.3f} ms (min {min(v):.3f}, max {max(v):.3f})"
            )
        print(
            f"  {kind} new - old per round: median {statistics.median(diff):+.3f} ms "
            f"(min {min(diff):+.3f}, max {max(diff):+.3f})"
        )


if __name__ == "__main__":
    main()
