"""Prune a ledger while another process writes to it: the prune's wall time and counts,
and the writer's flush latencies (each flush writes what it queued in the last 50 ms)
before and during the prune.

python prune_live.py LEDGER --older-than 270d [--batch-size 10000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time


def writer(target: str, stop: mp.synchronize.Event, out: mp.Queue) -> None:  # type: ignore[name-defined]
    from llm_cost_hooks import CostRecord
    from llm_cost_hooks.ledger import open_ledger

    ledger = open_ledger(target)
    lat: list[tuple[float, float]] = []
    n = 0
    while not stop.is_set():
        for _ in range(20):
            ledger.write(CostRecord(model="gpt-4o-mini", tenant="live", feature="now", cost_usd=0.001))
            n += 1
        t = time.perf_counter()
        ledger.flush()
        lat.append((time.time(), time.perf_counter() - t))
        time.sleep(0.05)
    ledger.close()
    out.put((n, lat))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ledger")
    ap.add_argument("--older-than", default="270d")
    ap.add_argument("--batch-size", type=int, default=10_000)
    a = ap.parse_args()
    from llm_cost_hooks.ledger._copy import _open

    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    p = ctx.Process(target=writer, args=(a.ledger, stop, out))
    p.start()
    time.sleep(5)
    ledger = _open(a.ledger, role="source")
    dry = ledger.prune(older_than=a.older_than, dry_run=True)
    t0w, t0 = time.time(), time.perf_counter()
    done = ledger.prune(older_than=a.older_than, batch_size=a.batch_size)
    took = time.perf_counter() - t0
    t1w = time.time()
    ledger.close()
    time.sleep(3)
    stop.set()
    n, lat = out.get()
    p.join()
    before = [d for w, d in lat if w < t0w]
    during = [d for w, d in lat if t0w <= w <= t1w]
    print(f"dry run: {dry}")
    print(f"prune: {done} in {took:.1f} s (batch {a.batch_size})")
    for name, xs in (("before", before), ("during", during)):
        if xs:
            xs.sort()
            print(
                f"writer flush latency {name} the prune: n={len(xs)} median {statistics.median(xs) * 1e3:.0f} ms, "
                f"p95 {xs[int(0.95 * (len(xs) - 1))] * 1e3:.0f} ms, max {xs[-1] * 1e3:.0f} ms"
            )
    print(f"writer wrote {n} records")


if __name__ == "__main__":
    main()
