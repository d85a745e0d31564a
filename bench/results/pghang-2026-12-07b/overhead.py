"""CPU of the writer's client side per batch with the answer deadline on and off (A/B
interleaved in one process): a 5,000-record batch through PostgresLedger._send, and 2,000
connection checks (``conn.execute("")``). CPU of this process only (time.process_time).

    PYTHONPATH=.:tests /work/main/.venv/bin/python bench/results/pghang-2026-12-07b/overhead.py ROUNDS
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

from _servers import PostgresServer

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger._base import record_to_row
from llm_cost_hooks.ledger._postgres import PostgresLedger


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    pg = PostgresServer()
    pg.start()
    try:
        url = pg.create_database("o_" + uuid.uuid4().hex[:8])
        ledger = PostgresLedger(url, background=False)
        proto = [
            record_to_row(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.001)) for _ in range(5000)
        ]
        res: dict[str, dict[str, list[float]]] = {
            "on": {"batch": [], "check": []},
            "off": {"batch": [], "check": []},
        }
        for _ in range(rounds):
            for mode in ("off", "on"):
                ledger._answer_timeout = 30.0 if mode == "on" else None  # None: psycopg's own wait
                rows = [(uuid.uuid4().hex,) + r[1:] for r in proto]
                t = time.process_time()
                ledger._send(rows, [])
                res[mode]["batch"].append((time.process_time() - t) * 1e3)
                with ledger._conn_lock:
                    conn = ledger._connection()
                    t = time.process_time()
                    for _ in range(2000):
                        conn.execute("")
                    res[mode]["check"].append((time.process_time() - t) / 2000 * 1e6)
        for what, unit in (("batch", "ms CPU per 5,000-record batch"), ("check", "us CPU per check")):
            for mode in ("off", "on"):
                v = res[mode][what]
                print(
                    f"{what} deadline {mode}: median {statistics.median(v):.2f} {unit} (min {min(v):.2f}, max {max(v):.2f}, n={len(v)})"
                )
        ledger._closed = True
        ledger._close_storage()
    finally:
        pg.close()


if __name__ == "__main__":
    main()
