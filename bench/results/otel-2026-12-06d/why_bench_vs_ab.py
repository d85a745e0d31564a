"""Why `python -m bench telemetry` and the same-process A/B (otel-2026-12-06c/ab_otel.py) disagree:
one tree (this checkout), arms none / no-op deferrable observer / OTel observer, SQLite ledger,
`model.invoke` as the bench, at two round sizes in the same process (N_SMALL calls per round as the
A/B, N_LARGE as the bench), arms interleaved in a new random order every round. Per arm: process CPU
per call, the garbage collector's time per call and its collections per 1000 calls (gc.callbacks),
and the most calls waiting in the ledger's writer queue (sampled every 50 calls).

Run: N_SMALL=200 N_LARGE=1000 ROUNDS=9 PYTHONPATH=$PWD python bench/results/otel-2026-12-06d/why_bench_vs_ab.py
"""

import gc
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel-2026-12-06c"))
from _events import ATTRIBUTION, PROMPT, model, pipeline

from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.telemetry import OTelObserver
from llm_cost_hooks.tracking import RunObserver


class NoOp(RunObserver):
    deferrable = True


tmp = tempfile.mkdtemp()
small, large = int(os.environ.get("N_SMALL", "200")), int(os.environ.get("N_LARGE", "1000"))
rounds = int(os.environ.get("ROUNDS", "9"))
gc_ns = [0]
gc_count = [0, 0, 0]
_t = [0]


def _gc_cb(phase, info):
    if phase == "start":
        _t[0] = time.thread_time_ns()
    else:
        gc_ns[0] += time.thread_time_ns() - _t[0]
        gc_count[info["generation"]] += 1


gc.callbacks.append(_gc_cb)
arms = {}
for n in (small, large):
    for kind in ("none", "noop", "otel"):
        pipe = None
        if kind == "none":
            h = CostCallbackHandler(ledger=f"sqlite:///{tmp}/{kind}{n}.db")
        elif kind == "noop":
            h = CostCallbackHandler(ledger=f"sqlite:///{tmp}/{kind}{n}.db", observers=[NoOp()])
        else:
            pipe = pipeline()
            tp, exporter, reader, mp = pipe
            h = CostCallbackHandler(
                ledger=f"sqlite:///{tmp}/{kind}{n}.db",
                observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)],
            )
        arms[f"{kind} N={n}"] = (h, n, pipe)

config_for = {name: {"callbacks": [h], "metadata": ATTRIBUTION} for name, (h, _, _) in arms.items()}
cpu = {k: [] for k in arms}
gcs = {k: [] for k in arms}
gcc = {k: [0, 0, 0] for k in arms}
backlog = {k: 0 for k in arms}


def run(name, count, measure):
    h, _, pipe = arms[name]
    cfg = config_for[name]
    buf = h.tracker.ledger._buffer
    gc.collect()
    g0, c0 = gc_ns[0], list(gc_count)
    p0 = time.process_time()
    for i in range(count):
        model.invoke(PROMPT, config=cfg)
        if measure and i % 50 == 0:
            backlog[name] = max(backlog[name], len(buf))
    assert h.flush(300)
    if pipe is not None:
        tp, exporter, reader, _ = pipe
        tp.force_flush()
        reader.get_metrics_data()
        exporter.clear()
    p1 = time.process_time()
    if measure:
        cpu[name].append((p1 - p0) / count * 1e6)
        gcs[name].append((gc_ns[0] - g0) / count / 1e3)
        for g in range(3):
            gcc[name][g] += gc_count[g] - c0[g]


for name in arms:
    run(name, 200, False)
rng = random.Random(1)
for _ in range(rounds):
    order = list(arms)
    rng.shuffle(order)
    for name in order:
        run(name, arms[name][1], True)
with open("/proc/loadavg") as f:
    print("load:", f.read().strip())
print(f"N_SMALL={small} N_LARGE={large} rounds={rounds}, SQLite ledger, model.invoke, cheap model")
print(
    f"{'arm':12s} {'CPU us/call':>11s} {'GC us/call':>10s} {'gen0/1/2 per 1000 calls':>24s} {'max backlog':>11s}"
)
for k in arms:
    calls = rounds * arms[k][1]
    per = "/".join(f"{c * 1000 / calls:.1f}" for c in gcc[k])
    print(
        f"{k:12s} {statistics.median(cpu[k]):11.2f} {statistics.median(gcs[k]):10.2f} {per:>24s} {backlog[k]:11d}"
    )
for n in (small, large):
    for a, b in (("noop", "none"), ("otel", "none"), ("otel", "noop")):
        d = statistics.median(x - y for x, y in zip(cpu[f"{a} N={n}"], cpu[f"{b} N={n}"]))
        g = statistics.median(x - y for x, y in zip(gcs[f"{a} N={n}"], gcs[f"{b} N={n}"]))
        print(f"  N={n:5d} {a} - {b}: {d:7.2f} us (of it GC {g:6.2f} us) median paired")
