"""What a write() costs the caller while the queue is full (the record is appended to the
dead-letter file and fsync'd on the caller's thread): wall and CPU time per record.

    python bench/results/ledger-overflow-2026-12-07c/overflow_cost.py [records]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger, TaskOutcome


class _Stuck(SQLiteLedger):
    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> None:
        self.entered.set()
        self.release.wait(600)
        super()._write_batch(records, outcomes)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as folder:
        _Stuck.entered, _Stuck.release = threading.Event(), threading.Event()  # type: ignore[attr-defined]
        ledger = _Stuck(Path(folder) / "c.db", max_buffer=10, flush_interval=0.01)
        ledger.write(CostRecord(model="gpt-4o-mini"))
        ledger.entered.wait(30)  # type: ignore[attr-defined]
        for _ in range(10):
            ledger.write(CostRecord(model="gpt-4o-mini"))  # fills the queue
        records = [CostRecord(model="gpt-4o-mini") for _ in range(n)]
        wall, cpu = [], []
        for r in records:
            w0, c0 = time.perf_counter(), time.thread_time()
            ledger.write(r)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.thread_time() - c0)
        assert ledger.stats.dead_lettered == n, ledger.stats
        ledger.release.set()  # type: ignore[attr-defined]
        ledger.close()
    q = statistics.quantiles
    print(
        f"{n} writes into a full queue: wall median {statistics.median(wall) * 1e6:.0f} us, "
        f"p90 {q(wall, n=10)[-1] * 1e6:.0f} us; caller CPU median {statistics.median(cpu) * 1e6:.0f} us, "
        f"p90 {q(cpu, n=10)[-1] * 1e6:.0f} us"
    )


if __name__ == "__main__":
    main()
