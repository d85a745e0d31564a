"""CPU of JSONLLedger._write_batch as shipped and as at the branch point (no torn-line
check), A/B interleaved in one process.

    python append_cost.py [batches] [repeats]

Batches of 1 record (the worst case: one check per record) appended to a file in a temp
folder; ``time.process_time`` per block of batches, the two variants alternating.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger._stores import JSONLLedger

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 9
rec = [CostRecord(model="gpt-4o-mini", input_tokens=1200, output_tokens=80, cost_usd=0.0002, tenant="acme")]


def branch_point(self, records, outcomes):  # type: ignore[no-untyped-def]
    """_write_batch as it was before the torn-line check (b045eb3)."""
    lines = [r.model_dump_json() for r in records]
    lines += [json.dumps({"task_outcome": json.loads(o.model_dump_json())}) for o in outcomes]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        done = 0
        try:
            while done < len(data):
                done += os.write(fd, data[done:])
        except BaseException:
            try:
                if os.fstat(fd).st_size == start + done:
                    os.ftruncate(fd, start)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)


shipped = JSONLLedger._write_batch
results: dict[str, list[float]] = {"shipped": [], "branch point": []}
with tempfile.TemporaryDirectory() as d:
    ledger = JSONLLedger(Path(d) / "a.jsonl", background=False)
    for _ in range(repeats):
        for name, fn in (("shipped", shipped), ("branch point", branch_point)):
            t = time.process_time()
            for _ in range(n):
                fn(ledger, rec, ())
            results[name].append((time.process_time() - t) / n * 1e6)
for name, xs in results.items():
    print(
        f"{name}: median {statistics.median(xs):.2f} us/batch, min {min(xs):.2f}, max {max(xs):.2f} ({repeats} blocks of {n})"
    )
