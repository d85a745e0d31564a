"""The SQLite store's work per row, in instructions (run with count_pieces.sh): rows with the
values and empty columns of the writer's row of a cheap bench model's call (each with its own
request id and timestamp), written with ``_write_batch`` one row a
transaction (a writer that finds one call per wake-up) and 256 rows a transaction (a busy
writer). The file already holds 20,000 rows. PKG=llm_cost_hooks_base measures main's copy."""

import functools
import importlib
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.getcwd())
PKG = os.environ.get("PKG", "llm_cost_hooks")
if PKG != "llm_cost_hooks":
    sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/callcpu/basepkg"))
records = importlib.import_module(PKG + "._records")
ledger_mod = importlib.import_module(PKG + ".ledger")
base = importlib.import_module(PKG + ".ledger._base")
tmp = tempfile.mkdtemp()
# The row the writer makes of a cheap bench model's call (its values and its empty columns).
template = base.record_to_row(
    records.CostRecord(
        request_id=str(uuid.uuid4()),
        task_id="t",
        tenant="acme",
        feature="bench",
        prompt_version="v1",
        provider="openai",
        model="gpt-4o-mini-2024-07-18",
        input_tokens=412,
        output_tokens=14,
        cache_read_tokens=256,
        cost_usd=5.1e-05,
        cost_breakdown=records.CostBreakdown(input=2.34e-05, cache_read=1.92e-05, output=8.4e-06),
        saved_usd=1.92e-05,
        cache_status=records.CacheStatus.PROVIDER_PREFIX,
        latency_ms=0.75,
    )
)
print("template", template)

ledger = ledger_mod.SQLiteLedger(os.path.join(tmp, "store.db"), background=False)
counter = iter(range(10**7))


def fresh_row() -> tuple:
    i = next(counter)
    ts = f"2026-12-06T10:{i // 60_000_000 % 60:02d}:{i // 1_000_000 % 60:02d}.{i % 1_000_000:06d}+00:00"
    return (str(uuid.uuid4()), template[1], template[2], ts, *template[4:])


ledger._write_batch([fresh_row() for _ in range(20_000)], [])
one = [[fresh_row()] for _ in range(1000)]
many = [[fresh_row() for _ in range(256)] for _ in range(20)]


def m(label, f, n=2000, per=None):
    print("LABEL", label, per or n, flush=True)
    functools.reduce(lambda acc, _: (f(), acc)[1], range(n), 0)


m("empty", lambda: None, 1000)
it1 = iter(one)
m("_write_batch, 1 row", lambda: ledger._write_batch(next(it1), []), 1000)
itn = iter(many)
m("_write_batch, 256 rows (per row)", lambda: ledger._write_batch(next(itn), []), 20, 20 * 256)
ledger.close()
