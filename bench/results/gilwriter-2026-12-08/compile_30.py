"""The release code's 30-row statements: milliseconds per _insert_rows call of 30 rows,
other rows and own-task rows (every parameter numbered); the first call prepares.

    PYTHONPATH=$PWD python compile_30.py
"""

import sys
import tempfile
import time

sys.path.insert(0, "tests")
from test_ledger_rows import rec

from llm_cost_hooks.ledger import SQLiteLedger, _stores
from llm_cost_hooks.ledger._base import RECORD_COLUMNS, record_to_row

for own in (False, True):
    led = SQLiteLedger(tempfile.mkdtemp() + "/x.db", background=False)
    led._writer_conn()
    cur = led._cursor
    rows = []
    for i in range(240):
        r = dict(zip(RECORD_COLUMNS, record_to_row(rec(i + 1000 * own))))
        if own:
            r["task_id"] = r["request_id"]
        rows.append(tuple(r[c] for c in RECORD_COLUMNS))
    ts = []
    for k in range(4):
        t = time.perf_counter()
        _stores._insert_rows(cur, rows[k * 30 : (k + 1) * 30])
        ts.append(round((time.perf_counter() - t) * 1e3, 3))
    print("own-task" if own else "other", "30 rows, ms per call (first prepares):", ts)
    led.close()
