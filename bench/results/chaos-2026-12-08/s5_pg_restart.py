"""Scenario 5: the PostgreSQL fleet ledger's server is restarted (a fast shutdown, 2 s down,
started again on the same data) while calls go on in 2 processes. Every call must end as a
row (once) or a counted dead-letter line.

Uses tests/_servers.py of the repository (it does not import the package) to run a
throwaway cluster as the postgres user."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, str(Path(HERE).parents[2] / "tests"))
from _servers import PostgresServer  # noqa: E402
from common import fresh_dir, verdict  # noqa: E402

WORKER = r"""
import os, sys, time, logging
sys.path.insert(0, sys.argv[1])
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from common import make_chain
from llm_cost_hooks.langchain import CostCallbackHandler
handler = CostCallbackHandler(ledger=sys.argv[2])
call = make_chain(handler)
n, tag = int(sys.argv[3]), sys.argv[4]
for i in range(n):
    call(i, feature=tag)
    time.sleep(0.02)
print("calls done", n, flush=True)
print("flush ->", handler.flush(timeout=30), flush=True)
"""


def main() -> None:
    work = fresh_dir("s5")
    os.environ["LLM_COST_HOOKS_STATE_DIR"] = str(work / "state")
    pg = PostgresServer().start()
    url = pg.create_database("llm_costs")
    n = 300
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, HERE, url, str(n), f"w{k}"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for k in range(2)
    ]  # fmt: skip
    time.sleep(3)  # both workers are recording
    t0 = time.monotonic()
    pg.stop()
    time.sleep(2)
    pg.start()
    print(f"server down for {time.monotonic() - t0:.1f}s")
    outs = [p.communicate(timeout=180)[0] for p in procs]
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("select count(*), count(distinct request_id) from cost_records").fetchone()
    dl = sum(
        sum(1 for line in p.read_text().splitlines() if '"record"' in line)
        for p in (work / "state").rglob("*dead-letter*.jsonl")
    )
    for k, out in enumerate(outs):
        print(f"--- worker {k} (rc {procs[k].returncode})")
        print(
            "\n".join(
                ln
                for ln in out.splitlines()
                if "WARNING" in ln or "ERROR" in ln or "closed" in ln or "flush" in ln or "resumed" in ln
            )[-2500:]
        )
    total = 2 * n
    print(f"N={total} rows={rows[0]} distinct={rows[1]} set_aside={dl}")
    pg.close()
    verdict(
        "s5 pg restart",
        rows[0] == rows[1] and rows[0] + dl == total,
        f"{rows[0]} rows ({rows[1]} distinct) + {dl} set aside of {total}",
    )


if __name__ == "__main__":
    main()
