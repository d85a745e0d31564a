"""Milliseconds per _insert_rows call of one statement size for own-task rows (task id is
the request id), 4 calls a size: the first prepares the statement. Needs the tried
variant's _insert_rows (tried_256_rows.diff; its sizes argument).

    PYTHONPATH=$PWD python compile_own_task.py
"""

import sys
import tempfile
import time

sys.path.insert(0, "tests")
from test_ledger_rows import rec

from llm_cost_hooks.ledger import SQLiteLedger, _stores
from llm_cost_hooks.ledger._base import RECORD_COLUMNS, record_to_row

led = SQLiteLedger(tempfile.mkdtemp() + "/x.db", background=False)
led._writer_conn()
cur = led._cursor
rows = []
for i in range(256 * 8):
    r = dict(zip(RECORD_COLUMNS, record_to_row(rec(i))))
    r["task_id"] = r["request_id"]
    rows.append(tuple(r[c] for c in RECORD_COLUMNS))
for size in (16, 64, 128, 200, 256):
    ts = []
    for k in range(4):
        t = time.perf_counter()
        _stores._insert_rows(cur, rows[k * size : (k + 1) * size], (size,))  # type: ignore[call-arg]
        ts.append(round((time.perf_counter() - t) * 1e3, 2))
    shape = _stores._SHAPES[_stores._empty_columns(rows[0])]
    print(size, len(shape.statement(size)), ts)  # type: ignore[attr-defined]
