"""Ledger.write() on the normal path (queue not full): this release against the previous one
(its write() copied below), interleaved in one process. The writer never runs during a
round (no wake-up, a one-hour flush interval), so only the caller's cost is timed.

    python bench/results/ledger-overflow-2026-12-07c/write_ab.py [rounds] [records]
    python bench/results/ledger-overflow-2026-12-07c/write_ab.py callgrind {old,new} records
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger


def _previous_write(self: Any, record: CostRecord) -> None:  # the write() of the release before
    buffer = self._buffer
    with self._lock:
        if len(buffer) >= self._max_buffer:
            self._stats.dropped += 1
            overflow = True
        else:
            buffer.append(record)
            overflow = False
    if overflow:
        return
    if not self._background:
        self._drain_once()
    elif len(buffer) >= self._wake_at and not self._wake.is_set():
        self._wake.set()


def _ledger(folder: str, name: str) -> SQLiteLedger:
    ledger = SQLiteLedger(Path(folder) / f"{name}.db", max_buffer=10**8, flush_interval=3600)
    ledger._wake_at = 10**9  # the writer is not woken: the caller's cost alone
    return ledger


def _round(ledger: SQLiteLedger, write: Any, records: list[CostRecord]) -> float:
    ledger._buffer.clear()
    t0 = time.perf_counter_ns()
    for r in records:
        write(ledger, r)
    return (time.perf_counter_ns() - t0) / len(records)


def main() -> None:
    if sys.argv[1:2] == ["callgrind"]:
        which, n = sys.argv[2], int(sys.argv[3])
        with tempfile.TemporaryDirectory() as folder:
            ledger = _ledger(folder, which)
            records = [CostRecord(model="gpt-4o-mini") for _ in range(n)]
            _round(ledger, _previous_write if which == "old" else SQLiteLedger.write, records)
            ledger._buffer.clear()
            ledger.close()
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    records = [CostRecord(model="gpt-4o-mini") for _ in range(n)]
    with tempfile.TemporaryDirectory() as folder:
        old, new = _ledger(folder, "old"), _ledger(folder, "new")
        times: dict[str, list[float]] = {"old": [], "new": []}
        for i in range(rounds):
            pair = [("old", old, _previous_write), ("new", new, SQLiteLedger.write)]
            for name, ledger, write in pair if i % 2 == 0 else pair[::-1]:
                times[name].append(_round(ledger, write, records))
        for ledger in (old, new):
            ledger._buffer.clear()
            ledger.close()
    for name, ts in times.items():
        print(
            f"{name}: median {statistics.median(ts):.1f} ns/write, min {min(ts):.1f}, "
            f"max {max(ts):.1f} ({rounds} rounds of {n})"
        )
    diffs = [b - a for a, b in zip(times["old"], times["new"])]
    print(
        f"new - old per round: median {statistics.median(diffs):+.1f} ns, min {min(diffs):+.1f}, max {max(diffs):+.1f}"
    )


if __name__ == "__main__":
    main()
