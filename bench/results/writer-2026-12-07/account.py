"""Where the SQLite ledger writer's CPU goes, per record, in ``python -m bench foundation``'s
harness (no handler / UsageMetadataCallbackHandler / CostCallbackHandler alternating every 20
calls, the ledger flushed at the end of every round), and the same work done alone.

Thread CPU (``time.thread_time_ns``) and context switches (``getrusage(RUSAGE_THREAD)``) of
the writer around each part of a wake-up: the wait (and the GIL taken back after it), the
dequeue (``_drain_once`` outside the parts below), the deferred build (``_materialize``), BEGIN,
the INSERT statements (``executemany`` of ``_insert_rows``, and its Python around them), COMMIT,
and the rest of ``_write_batch``. Wake-ups are split by whether the caller was busy calling
the model (the writer woke on its timer or at 256 queued) or waiting in ``flush()``. The
caller thread's context switches are counted per side. Then the same batches are built and
written again on one thread alone.

    PYTHONPATH=$PWD MODEL=cheap|realistic ROUNDS=20 python bench/results/writer-2026-12-07/account.py
"""

import os
import resource
import statistics
import tempfile
import time

from langchain_core.callbacks import UsageMetadataCallbackHandler

import llm_cost_hooks.ledger._stores as stores
from bench._common import fixed_usage_model, realistic_model, threads_started_by
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.ledger import SQLiteLedger

tns = time.thread_time_ns
RT = resource.RUSAGE_THREAD
PARTS = ("wait", "dequeue", "build", "begin", "insert_sql", "insert_py", "commit", "batch_rest")


def LOAD():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def ru():
    r = resource.getrusage(RT)
    return r.ru_nvcsw, r.ru_nivcsw


class Acc:
    def __init__(self):
        self.cpu = dict.fromkeys(PARTS, 0)
        self.vcs = dict.fromkeys(PARTS, 0)
        self.ivcs = dict.fromkeys(PARTS, 0)
        self.rows = 0
        self.batches = 0
        self.sizes = []

    def add(self, part, t0, r0):
        self.cpu[part] += tns() - t0
        r1 = ru()
        self.vcs[part] += r1[0] - r0[0]
        self.ivcs[part] += r1[1] - r0[1]


state = {"flushing": False, "cur": None, "pending_wait": None, "capture": True}
accs = {"busy": Acc(), "flush": Acc(), "alone": Acc()}
captured = []  # (pending objects, built rows) per batch


class WakeProxy:
    def __init__(self, ev):
        self.ev = ev

    def is_set(self):
        return self.ev.is_set()

    def set(self):
        self.ev.set()

    def clear(self):
        self.ev.clear()

    def wait(self, timeout=None):
        t0, r0 = tns(), ru()
        out = self.ev.wait(timeout)
        state["pending_wait"] = (tns() - t0, *(b - a for a, b in zip(r0, ru())))
        return out


class CursorProxy:
    def __init__(self, cur):
        self.cur = cur
        self.sql_cpu = 0

    def execute(self, sql, *a):
        acc = state["cur"]
        part = {"BEGIN": "begin", "COMMIT": "commit"}.get(sql, "insert_sql")
        t0, r0 = tns(), ru()
        out = self.cur.execute(sql, *a)
        if acc is not None:
            acc.add(part, t0, r0)
        self.sql_cpu += tns() - t0
        return out

    def executemany(self, sql, it):
        acc = state["cur"]
        t0, r0 = tns(), ru()
        out = self.cur.executemany(sql, it)
        if acc is not None:
            acc.add("insert_sql", t0, r0)
        self.sql_cpu += tns() - t0
        return out


orig_insert = stores._insert_rows


def timed_insert(cur, rows, *args):
    acc = state["cur"]
    t0, r0 = tns(), ru()
    sql0 = cur.sql_cpu if isinstance(cur, CursorProxy) else 0
    v0 = acc.vcs["insert_sql"] if acc else 0
    iv0 = acc.ivcs["insert_sql"] if acc else 0
    orig_insert(cur, rows, *args)
    if acc is not None:
        acc.add("insert_py", t0, r0)
        # the statements' own share was counted in insert_sql
        acc.cpu["insert_py"] -= cur.sql_cpu - sql0
        acc.vcs["insert_py"] -= acc.vcs["insert_sql"] - v0
        acc.ivcs["insert_py"] -= acc.ivcs["insert_sql"] - iv0


stores._insert_rows = timed_insert


def instrument(led):
    led._wake = WakeProxy(led._wake)
    o_drain, o_mat, o_wb = led._drain_once, led._materialize, led._write_batch

    def mat(recs):
        acc = state["cur"]
        t0, r0 = tns(), ru()
        out = o_mat(recs)
        if acc is not None:
            acc.add("build", t0, r0)
            if state["capture"]:
                captured.append((list(recs), list(out)))
        return out

    def wb(r, o):
        acc = state["cur"]
        if led._cursor is not None and not isinstance(led._cursor, CursorProxy):
            led._cursor = CursorProxy(led._cursor)
        t0, r0 = tns(), ru()
        cpu0 = {p: acc.cpu[p] for p in PARTS} if acc else None
        v0 = {p: acc.vcs[p] for p in PARTS} if acc else None
        iv0 = {p: acc.ivcs[p] for p in PARTS} if acc else None
        out = o_wb(r, o)
        if acc is not None:
            acc.add("batch_rest", t0, r0)
            for p in ("begin", "insert_sql", "insert_py", "commit"):
                acc.cpu["batch_rest"] -= acc.cpu[p] - cpu0[p]
                acc.vcs["batch_rest"] -= acc.vcs[p] - v0[p]
                acc.ivcs["batch_rest"] -= acc.ivcs[p] - iv0[p]
        return out

    def drain():
        acc = accs["flush" if state["flushing"] else "busy"] if state["measuring"] else None
        state["cur"] = acc
        n = len(led._buffer)
        t0, r0 = tns(), ru()
        cpu0 = dict(acc.cpu) if acc else None
        v0 = dict(acc.vcs) if acc else None
        iv0 = dict(acc.ivcs) if acc else None
        out = o_drain()
        if acc is not None and n:
            acc.add("dequeue", t0, r0)
            for p in ("build", "begin", "insert_sql", "insert_py", "commit", "batch_rest"):
                acc.cpu["dequeue"] -= acc.cpu[p] - cpu0[p]
                acc.vcs["dequeue"] -= acc.vcs[p] - v0[p]
                acc.ivcs["dequeue"] -= acc.ivcs[p] - iv0[p]
            w = state["pending_wait"]
            if w is not None:
                acc.cpu["wait"] += w[0]
                acc.vcs["wait"] += w[1]
                acc.ivcs["wait"] += w[2]
                state["pending_wait"] = None
            acc.rows += min(n, led._batch_size)
            acc.batches += 1
            acc.sizes.append(min(n, led._batch_size))
        state["cur"] = None
        return out

    led._drain_once = drain
    led._materialize = mat
    led._write_batch = wb


def main():
    kind = os.environ.get("MODEL", "cheap")
    rounds = int(os.environ.get("ROUNDS", "20"))
    model = fixed_usage_model() if kind == "cheap" else realistic_model()
    tmp = tempfile.mkdtemp()
    state["measuring"] = False
    led = SQLiteLedger(f"{tmp}/a.db")
    h, writer = threads_started_by(lambda: CostCallbackHandler(ledger=led, defaults={"feature": "bench"}))
    # threads_started_by around the handler alone finds nothing: the ledger started its thread
    writer = [led._thread]
    instrument(led)
    meta = {"tenant_id": "acme", "prompt_version": "v1"}
    prompt = "When will my card arrive?"
    cfgs = {
        "bare": {"metadata": meta},
        "usage": {"callbacks": [UsageMetadataCallbackHandler()], "metadata": meta},
        "ours": {"callbacks": [h], "metadata": meta},
    }
    names = list(cfgs)
    for n in names:
        for _ in range(200):
            model.invoke(prompt, config=cfgs[n])
    h.flush()
    led._wake.set()
    time.sleep(0.3)
    wclock = time.pthread_getcpuclockid(writer[0].ident)
    tid = writer[0].native_id
    caller = {n: [0, 0, 0, 0] for n in names}  # cpu ns, vcs, ivcs, calls
    state["measuring"] = True
    block, bpr = 20, 20
    w0 = time.clock_gettime_ns(wclock)
    load0 = LOAD().split()
    import gc

    for r in range(rounds):
        gc.collect()
        for b in range(bpr):
            k = (r * bpr + b) % 3
            for n in names[k:] + names[:k]:
                cfg = cfgs[n]
                t0, r0 = tns(), ru()
                for _ in range(block):
                    model.invoke(prompt, config=cfg)
                r1 = ru()
                c = caller[n]
                c[0] += tns() - t0
                c[1] += r1[0] - r0[0]
                c[2] += r1[1] - r0[1]
                c[3] += block
        state["flushing"] = True
        h.flush()
        state["flushing"] = False
    writer_total = time.clock_gettime_ns(wclock) - w0
    state["measuring"] = False
    load1 = LOAD().split()
    nrec = caller["ours"][3]
    print(
        f"MODEL={kind} rounds={rounds} x {block * bpr} calls a side; load {' '.join(load0)} -> {' '.join(load1)}"
    )
    print(f"records {nrec}, writer thread CPU {writer_total / nrec / 1e3:.2f} us/record (its clock)")
    for n in names:
        c = caller[n]
        print(
            f"  caller [{n:5s}] {c[0] / c[3] / 1e3:7.1f} us/call, voluntary cs {c[1] / c[3] * 1000:.1f}/1000 calls, involuntary {c[2] / c[3] * 1000:.1f}/1000"
        )

    # alone: the same batches built again and written again by one thread, no caller
    state["capture"] = False
    led2 = SQLiteLedger(f"{tmp}/alone.db", background=False)
    led2._writer_conn()
    led2._cursor = CursorProxy(led2._cursor)
    a = accs["alone"]
    state["cur"] = a
    for pend, built in captured:
        t0, r0 = tns(), ru()
        rows = [p.ledger_row() for p in pend]
        a.add("build", t0, r0)
        t0, r0 = tns(), ru()
        cpu0, v0, iv0 = dict(a.cpu), dict(a.vcs), dict(a.ivcs)
        SQLiteLedger._write_batch(led2, rows, [])
        a.add("batch_rest", t0, r0)
        for p in ("begin", "insert_sql", "insert_py", "commit"):
            a.cpu["batch_rest"] -= a.cpu[p] - cpu0[p]
            a.vcs["batch_rest"] -= a.vcs[p] - v0[p]
            a.ivcs["batch_rest"] -= a.ivcs[p] - iv0[p]
        a.rows += len(rows)
        a.batches += 1
        a.sizes.append(len(rows))
    state["cur"] = None
    led2.close()
    print(
        "part           | "
        + " | ".join(f"{k}: us/rec (vol cs, invol cs per 100 rec)" for k in ("busy", "flush", "alone"))
    )
    for p in PARTS:
        cells = []
        for k in ("busy", "flush", "alone"):
            x = accs[k]
            if x.rows:
                cells.append(
                    f"{x.cpu[p] / x.rows / 1e3:6.2f} ({x.vcs[p] / x.rows * 100:5.1f}, {x.ivcs[p] / x.rows * 100:5.1f})"
                )
            else:
                cells.append("-")
        print(f"{p:14s} | " + " | ".join(cells))
    for k in ("busy", "flush", "alone"):
        x = accs[k]
        if x.rows:
            tot = sum(x.cpu.values())
            print(
                f"{k}: {x.batches} batches, {x.rows} rows, median batch {statistics.median(x.sizes)}, "
                f"sum of parts {tot / x.rows / 1e3:.2f} us/rec, vol cs {sum(x.vcs.values()) / x.batches:.1f}/batch, "
                f"invol {sum(x.ivcs.values()) / x.batches:.1f}/batch"
            )
    both = sum(sum(accs[k].cpu.values()) for k in ("busy", "flush"))
    print(f"writer clock minus parts: {(writer_total - both) / nrec / 1e3:.2f} us/record")
    with open(f"/proc/self/task/{tid}/status") as f:
        print("writer /proc status:", " ".join(line.strip() for line in f if "ctxt" in line))
    h.tracker.close()


main()
