"""Same-process A/B of the ledger write path: main's package (a copy importable as
``llm_cost_hooks_base``) against this tree's, time-ordered request ids (LangChain's
``str(uuid7())``) and random ones (``uuid4().hex``), all four in alternating rounds.

Each round writes N fresh prebuilt records (the ``python -m bench foundation`` ledger rows'
workload) into ``SQLiteLedger`` and flushes; process CPU per record (every thread).
``PREFILL=0``: a new file each round. ``PREFILL=1000000``: each of the four keeps one file,
filled once (untimed) with that many older records of its id kind through its own schema
and INSERT, and every round adds N more to it (the file grows by N a round on every side).
"""

import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/ledger-ab/basepkg"))
import llm_cost_hooks_base as B
import llm_cost_hooks_base.ledger._base as main_base
import llm_cost_hooks_base.ledger._stores as main_stores
from llm_cost_hooks_base.ledger import SQLiteLedger as Main

import llm_cost_hooks.ledger._base as new_base
import llm_cost_hooks.ledger._stores as new_stores
from bench.bench_foundation import REQUEST_IDS, _time_ordered_id, ledger_records
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger as New

N = int(os.environ.get("N", "100000"))
PREFILL = int(os.environ.get("PREFILL", "0"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
sides = {
    "main": (Main, B.CostRecord, main_base, main_stores),
    "new": (New, CostRecord, new_base, new_stores),
}
tmp = tempfile.mkdtemp(prefix="ab-time-key-")


def prefill(side: str, ids: str) -> str:
    """A file of PREFILL records a day old and older, in time order, written in 5,000-row
    transactions with the side's own INSERT (as its writer would leave it)."""
    cls, rec_cls, base, stores = sides[side]
    path = os.path.join(tmp, f"{side}-{ids}.db")
    cls(path).close()  # the side's schema
    template = base.record_to_row(ledger_records(1, rec_cls)[0])
    start = datetime.now(timezone.utc) - timedelta(days=1) - timedelta(milliseconds=PREFILL)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=NORMAL")
    for lo in range(0, PREFILL, 5000):
        rows = []
        for i in range(lo, min(lo + 5000, PREFILL)):
            rid = str(_time_ordered_id()) if ids == "time-ordered" else uuid.uuid4().hex
            ts = (start + timedelta(milliseconds=i)).isoformat()
            rows.append((rid, template[1], template[2], ts, *template[4:]))
        with conn:
            conn.executemany(stores.INSERT_RECORD, rows)
    conn.close()
    return path


print("load at start", os.getloadavg(), f"N={N} PREFILL={PREFILL} ROUNDS={ROUNDS}", flush=True)
keys = [(side, ids) for side in sides for ids in REQUEST_IDS]
files = {}
if PREFILL:
    for key in keys:
        t0 = time.perf_counter()
        files[key] = prefill(*key)
        print(f"prefilled {key} in {time.perf_counter() - t0:.0f}s", flush=True)
res: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
for rnd in range(ROUNDS):
    for key in keys if rnd % 2 == 0 else keys[::-1]:
        side, ids = key
        cls, rec_cls = sides[side][0], sides[side][1]
        records = ledger_records(N, rec_cls, request_ids=ids)  # fresh ids and timestamps
        path = files.get(key) or os.path.join(tmp, f"round{rnd}-{side}-{ids}.db")
        ledger = cls(path, max_buffer=N + 1)
        gc.collect()
        p0 = time.process_time()
        for r in records:
            ledger.write(r)
        assert ledger.flush(timeout=600)
        p = time.process_time() - p0
        assert ledger.stats.written == N and ledger.stats.dropped == 0
        ledger.close()
        if not PREFILL:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.unlink(path + suffix)
        res[key].append(p / N * 1e6)
        print(f"round {rnd} {side} {ids}: {p / N * 1e6:.2f} us/record process CPU", flush=True)
for key, path in files.items():
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()
    assert count == PREFILL + ROUNDS * N, (key, count)
    os.unlink(path)
for ids in REQUEST_IDS:
    m, b = statistics.median(res[("main", ids)]), statistics.median(res[("new", ids)])
    paired = statistics.median(x - y for x, y in zip(res[("new", ids)], res[("main", ids)]))
    print(
        f"{ids} ids: main {m:.2f} us/record ({1e6 / m:,.0f}/CPU-s), this tree {b:.2f} us/record "
        f"({1e6 / b:,.0f}/CPU-s), {b / m:.2f}x; paired median difference {paired:+.2f} us"
    )
print("load at end", os.getloadavg())
