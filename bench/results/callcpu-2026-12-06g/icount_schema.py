"""What the records table's shape costs per inserted row, in instructions (run with
``../callcpu-2026-12-06c/count_pieces.sh``): 256-row transactions of the cheap bench call's
row through the store's ``_insert_rows``, into files holding 20,000 rows, for the table as it
is (rowid table + unique (timestamp, request_id) index), the same table without any index
(a lower bound: no uniqueness), and a WITHOUT ROWID table keyed by (timestamp, request_id)."""

import functools
import os
import sqlite3
import sys
import tempfile
import uuid

sys.path.insert(0, os.getcwd())
from llm_cost_hooks.ledger import _stores
from llm_cost_hooks.ledger._base import RECORD_COLUMNS

template = (
    "x", "t", None, "ts", "acme", None, "bench", None, "v1", "openai", "gpt-4o-mini-2024-07-18",
    412, 14, 256, 0, 0, 5.1e-05, 2.34e-05, 1.92e-05, 0.0, 8.4e-06, 0.0, "USD", 1.92e-05,
    "provider_prefix", 0.75, 1, None, 1, None, 0, 0,
)  # fmt: skip
cols = ", ".join(f"{c} {_stores._COLUMN_TYPES.get(c, 'TEXT')}" for c in RECORD_COLUMNS)
cols_pk = cols.replace("request_id TEXT NOT NULL", "request_id TEXT NOT NULL", 1)
SCHEMAS = {
    "rowid + unique index (as is)": [
        f"CREATE TABLE cost_records ({cols})",
        "CREATE UNIQUE INDEX ux ON cost_records(timestamp, request_id)",
    ],
    "rowid, no index (lower bound)": [f"CREATE TABLE cost_records ({cols})"],
    "WITHOUT ROWID, key (timestamp, request_id)": [
        f"CREATE TABLE cost_records ({cols}, PRIMARY KEY (timestamp, request_id)) WITHOUT ROWID"
    ],
}
counter = iter(range(10**7))


def fresh_row() -> tuple:
    i = next(counter)
    ts = f"2026-12-06T10:{i // 60_000_000 % 60:02d}:{i // 1_000_000 % 60:02d}.{i % 1_000_000:06d}+00:00"
    return (str(uuid.uuid4()), template[1], template[2], ts, *template[4:])


def m(label, f, n, per):
    print("LABEL", label, per, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None, 1000, 1000)
tmp = tempfile.mkdtemp()
for k, (name, ddl) in enumerate(SCHEMAS.items()):
    conn = sqlite3.connect(os.path.join(tmp, f"{k}.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for stmt in ddl:
        conn.execute(stmt)
    cur = conn.cursor()

    def batch(rows, cur=cur):
        cur.execute("BEGIN")
        _stores._insert_rows(cur, rows)
        cur.execute("COMMIT")

    batch([fresh_row() for _ in range(20_000)])
    many = iter([[fresh_row() for _ in range(256)] for _ in range(20)])
    m(f"256 rows a transaction, per row: {name}", lambda it=many, b=batch: b(next(it)), 20, 20 * 256)
    one = iter([[fresh_row()] for _ in range(300)])
    m(f"1 row a transaction: {name}", lambda it=one, b=batch: b(next(it)), 300, 300)
    conn.close()
