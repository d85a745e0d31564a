"""A process that writes cost records to a SQLite ledger while a fault is injected.

Run as ``python fault_child.py MODE DB N``; prints progress lines the test reads and
exits through the package's normal exit path (so the exit hooks run).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")


def rec(i: int) -> CostRecord:
    return CostRecord(
        request_id=f"r{i}",
        model="gpt-4o-mini",
        tenant="acme",
        input_tokens=100 + i,
        output_tokens=20,
        cost_usd=1e-5,
    )


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    mode, db, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "fill":
        ledger = SQLiteLedger(db, flush_interval=0.01)
        for i in range(n):
            ledger.write(rec(i))
        say(f"queued {n}")
        return
    ledger = SQLiteLedger(db, flush_interval=0.01)
    half = n // 2
    for i in range(half):
        ledger.write(rec(i))
    assert ledger.flush(20)
    say(f"written_before {ledger.stats.written}")
    if mode == "deleted":
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(db + suffix)
            except FileNotFoundError:
                pass
    elif mode == "corrupted":
        with open(db + ".garbage", "wb") as fh:
            fh.write(os.urandom(16384))
        for suffix in ("-wal", "-shm"):
            try:
                os.unlink(db + suffix)
            except FileNotFoundError:
                pass
        os.replace(db + ".garbage", db)
    elif mode == "read_only":
        # The file is replaced by a read-only copy (what a restore or a remount does).
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(db, "rb") as src, open(db + ".ro", "wb") as dst:
            dst.write(src.read())
        os.chmod(db + ".ro", 0o444)
        os.replace(db + ".ro", db)
        os.chmod(os.path.dirname(db), 0o555)  # no new -wal/-shm files either
    elif mode == "burst":
        # SIGTERM arrives from the test while records are being queued.
        say("bursting")
        i = half
        while True:
            ledger.write(rec(i))
            i += 1
            if i % 100 == 0:
                time.sleep(0.001)
    for i in range(half, n):
        ledger.write(rec(i))
    say(f"queued {n}")


if __name__ == "__main__":
    main()
