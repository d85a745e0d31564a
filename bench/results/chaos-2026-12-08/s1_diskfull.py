"""Scenario 1: the SQLite ledger's file cannot grow (RLIMIT_FSIZE, SIGXFSZ ignored) mid-run,
then space comes back. Every call must end as a row, a dead-letter line or an error seen."""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import capture_logs, dead_letter_lines, fresh_dir, make_chain, sqlite_rows, verdict

N_BEFORE, N_FULL, N_AFTER = 40, 60, 40


def main() -> None:
    work = fresh_dir("s1")
    lines = capture_logs()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger=f"sqlite:///{work}/llm_costs.db")
    call = make_chain(handler)
    errors = 0
    for i in range(N_BEFORE):
        call(i)
    handler.flush()
    sizes = {p: os.path.getsize(p) for p in os.listdir(".") if p.startswith("llm_costs.db")}
    limit = max(sizes.values())
    print("files before the limit:", sizes, "limit", limit)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    for i in range(N_BEFORE, N_BEFORE + N_FULL):
        try:
            call(i)
        except Exception as e:  # an error the user sees
            errors += 1
            print("call raised:", type(e).__name__, e)
    time.sleep(3)  # the writer retries meanwhile
    stats_full = handler.tracker.ledger.stats if hasattr(handler, "tracker") else None
    print("stats while full:", stats_full)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    print("space back")
    for i in range(N_BEFORE + N_FULL, N_BEFORE + N_FULL + N_AFTER):
        call(i)
    flushed = handler.flush(timeout=30)
    ledger = handler.tracker.ledger
    ledger.close(timeout=10)
    s = ledger.stats
    n = N_BEFORE + N_FULL + N_AFTER
    rows = sqlite_rows(work / "llm_costs.db")
    dl = dead_letter_lines(ledger.dead_letter_path)
    print("flush ->", flushed, "stats:", s)
    print(f"N={n} rows={rows} dead_letter_lines={dl} errors={errors} dropped={s.dropped}")
    warns = lines.at_least(logging.WARNING)
    print(f"{len(warns)} warning/error lines:")
    for w in warns:
        print("  ", w[:400])
    verdict(
        "s1 disk full",
        rows + dl + errors == n and s.dropped == 0,
        f"rows+set aside+errors={rows + dl + errors} of {n}",
    )


if __name__ == "__main__":
    main()
