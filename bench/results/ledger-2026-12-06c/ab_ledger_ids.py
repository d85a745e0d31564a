"""Same-process A/B of the ledger write path (the ``python -m bench foundation`` ledger
rows' workload: 100,000 prebuilt records into ``SQLiteLedger``, flushed): main's package
(a copy importable as ``llm_cost_hooks_base``) against this tree's, with time-ordered
request ids (LangChain's ``str(uuid7())``) and random ones (``uuid4().hex``), all four in
alternating rounds. Process CPU per record (every thread, queue drained in the window)."""

import gc
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/ledger-ab/basepkg"))
import llm_cost_hooks_base as B
from llm_cost_hooks_base.ledger import SQLiteLedger as Main

from bench.bench_foundation import REQUEST_IDS, ledger_records
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger as New

n = int(os.environ.get("N", "100000"))
sides = {"main": (Main, B.CostRecord), "new": (New, CostRecord)}
workloads = {
    (side, ids): ledger_records(n, rec_cls, request_ids=ids)
    for side, (_, rec_cls) in sides.items()
    for ids in REQUEST_IDS
}
res: dict[tuple[str, str], list[float]] = {k: [] for k in workloads}
print("load at start", os.getloadavg(), flush=True)
for rnd in range(int(os.environ.get("ROUNDS", 5))):
    keys = list(workloads) if rnd % 2 == 0 else list(workloads)[::-1]
    for key in keys:
        side, ids = key
        with tempfile.TemporaryDirectory() as tmp:
            ledger = sides[side][0](os.path.join(tmp, "b.db"), max_buffer=n + 1)
            gc.collect()
            p0 = time.process_time()
            for r in workloads[key]:
                ledger.write(r)
            assert ledger.flush(timeout=300)
            p = time.process_time() - p0
            assert ledger.stats.written == n and ledger.stats.dropped == 0
            ledger.close()
        res[key].append(p / n * 1e6)
        print(f"round {rnd} {side} {ids}: {p / n * 1e6:.2f} us/record process CPU", flush=True)
for ids in REQUEST_IDS:
    m, b = statistics.median(res[("main", ids)]), statistics.median(res[("new", ids)])
    paired = statistics.median(x - y for x, y in zip(res[("new", ids)], res[("main", ids)]))
    print(
        f"{ids} ids: main {m:.2f} us/record ({1e6 / m:,.0f}/CPU-s), this tree {b:.2f} us/record "
        f"({1e6 / b:,.0f}/CPU-s), {b / m:.2f}x; paired median difference {paired:+.2f} us"
    )
print("load at end", os.getloadavg())
