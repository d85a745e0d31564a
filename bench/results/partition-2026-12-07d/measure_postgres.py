"""What the PostgreSQL ledger does while its server is black-holed, with the package's
defaults (run from the repository root; starts its own PostgreSQL cluster)."""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
import psycopg
from _netfault import NetFault
from _servers import PostgresServer

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger._postgres import PostgresLedger

logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)8.0f ms %(message)s")


def rows(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as c:
        n, d = c.execute("SELECT count(*), count(DISTINCT request_id) FROM cost_records").fetchone()
    return n, d


def main() -> None:
    server = PostgresServer()
    server.start()
    try:
        direct = server.create_database("part")
        with NetFault(server.port) as net, tempfile.TemporaryDirectory() as tmp:
            url = net.url("postgresql", "/part").replace("://", "://postgres@")
            ledger = PostgresLedger(url, dead_letter=f"{tmp}/dl.jsonl")
            for _ in range(50):
                ledger.write(CostRecord(model="gpt-4o-mini", tenant="a", cost_usd=0.01))
            t = time.monotonic()
            ok = ledger.flush(timeout=30)
            print(f"flush before: {ok} {time.monotonic() - t:.2f}s")
            net.blackhole()
            t = time.monotonic()
            for _ in range(50):
                ledger.write(CostRecord(model="gpt-4o-mini", tenant="a", cost_usd=0.01))
            print(f"50 writes during black hole: {time.monotonic() - t:.4f}s")
            t = time.monotonic()
            ok = ledger.flush(timeout=3)
            print(
                f"flush(timeout=3) during: {ok} {time.monotonic() - t:.2f}s stats={ledger.stats.last_error!r}"
            )
            mode = sys.argv[1] if len(sys.argv) > 1 else "close"
            if mode == "close":
                t = time.monotonic()
                ledger.close(timeout=2)
                print(
                    f"close(timeout=2) during: {time.monotonic() - t:.2f}s",
                    ledger.stats.model_dump(include={"written", "pending", "dead_lettered", "dropped"}),
                )
                net.heal()
                print("rows after heal", rows(direct))
                dl = Path(f"{tmp}/dl.jsonl")
                print("dead letter lines", len(dl.read_text().splitlines()) if dl.exists() else 0)
            else:
                t0 = time.monotonic()
                while time.monotonic() - t0 < 90 and ledger.stats.last_error is None:
                    time.sleep(0.2)
                print(f"writer noticed after {time.monotonic() - t0:.1f}s: {ledger.stats.last_error}")
                net.heal()
                t = time.monotonic()
                ok = ledger.flush(timeout=60)
                print(f"flush after heal: {ok} {time.monotonic() - t:.2f}s")
                ledger.close(timeout=5)
                print(
                    "rows after heal",
                    rows(direct),
                    ledger.stats.model_dump(
                        include={"written", "duplicates", "pending", "dead_lettered", "dropped"}
                    ),
                )
    finally:
        server.close()


main()
