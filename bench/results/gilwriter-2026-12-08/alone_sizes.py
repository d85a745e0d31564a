"""The tried variant's _insert_rows alone (tried_256_rows.diff applied), one thread:
260-row batches (BEGIN .. COMMIT) of rows of one shape, for several sets of statement
sizes; "first" is one call that prepares a statement of every size.

    TESTS=$PWD/tests PYTHONPATH=$PWD python alone_sizes.py
"""

import os
import sys
import tempfile
import time

from llm_cost_hooks.ledger import SQLiteLedger, _stores
from llm_cost_hooks.ledger._base import record_to_row

sys.path.insert(0, os.environ["TESTS"])
from test_ledger_rows import rec

rows = [record_to_row(rec(i)) for i in range(256 * 40)]
for sizes in [
    (30, 16, 8, 4, 2, 1),
    (256, 128, 64, 32, 16, 8, 4, 2, 1),
    (64, 32, 16, 8, 4, 2, 1),
    (128, 64, 32, 16, 8, 4, 2, 1),
]:
    led = SQLiteLedger(tempfile.mkdtemp() + "/x.db", background=False)
    led._writer_conn()
    cur = led._cursor
    t = time.perf_counter()
    _stores._insert_rows(cur, rows[: sum(sizes)], sizes)
    first = time.perf_counter() - t
    best = []
    for _ in range(3):
        t = time.thread_time()
        for b in range(0, len(rows) - 256, 260):
            cur.execute("BEGIN")
            _stores._insert_rows(cur, rows[b : b + 260], sizes)
            cur.execute("COMMIT")
        best.append((time.thread_time() - t) / len(rows) * 1e6)
    print(
        sizes[0],
        f"first (prepare all sizes) {first * 1e3:.1f} ms; per row {min(best):.2f} us (all {[round(x, 2) for x in best]})",
    )
    led.close()
