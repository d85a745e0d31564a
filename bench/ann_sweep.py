"""Recall and cost of usearch HNSW settings on the 100k real text vectors, one graph per run.

    python -m bench.ann_sweep f32:16:128 [--ef 32,64,128,256] [--rescore 10,32,64] [--wait]

``dtype:connectivity:expansion_add`` picks the graph (dtype f32, f16 or i8). Base vectors and
the 200 held-out queries are those of ``bench/bench_ann.py`` (``bench/ann_vectors.py``). For
each ``expansion_search`` and each candidate count (f16/i8 graphs: that many candidates are
re-ranked on the float32 vectors, as the cache does), it prints recall@10 and recall@1 against
exact search, strict (true ids) and distance-tolerant (ann-benchmarks: a returned item
counts if its distance is within 1e-3 of the true k-th), and the p50 wall and thread CPU time
of one search. ``--wait`` builds from the vector chunks already embedded and adds the rest
as ``python -m bench.ann_vectors`` writes them (the graph is the same kind either way).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ann_vectors
from bench.bench_ann import N_QUERIES, _exact_top, _recalls


def _chunks() -> list[Path]:
    items, _ = ann_vectors.texts(ann_vectors.TOTAL)
    step = ann_vectors._CHUNK
    return [
        ann_vectors._chunk_file(items[s : s + step], ann_vectors._DEFAULT_NAME)
        for s in range(0, len(items), step)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("graph", help="dtype:connectivity:expansion_add, e.g. i8:32:256")
    ap.add_argument("--ef", default="32,64,96,128,192,256")
    ap.add_argument("--rescore", default="10,32,64")
    ap.add_argument("--wait", action="store_true")
    args = ap.parse_args()
    from usearch.index import Index

    dtype, m, efa = args.graph.split(":")
    files = _chunks()
    total = ann_vectors.TOTAL
    qidx = np.sort(np.random.default_rng(0).choice(total, N_QUERIES, replace=False))  # as bench_ann
    is_query = np.zeros(total, bool)
    is_query[qidx] = True
    base_pos = np.cumsum(~is_query) - 1  # position among the base vectors
    index = Index(ndim=384, metric="ip", dtype=dtype, connectivity=int(m), expansion_add=int(efa))
    done: set[int] = set()
    parts: dict[int, np.ndarray] = {}
    build_cpu = 0.0
    while len(done) < len(files):
        ready = [i for i, f in enumerate(files) if i not in done and f.is_file()]
        if not ready:
            if not args.wait:
                sys.exit("vectors not built: python -m bench.ann_vectors")
            time.sleep(10)
            continue
        for ci in ready:
            time.sleep(0.5)  # a chunk being written is complete half a second later
            vecs = np.load(files[ci])
            parts[ci] = vecs
            rows = np.arange(ci * ann_vectors._CHUNK, ci * ann_vectors._CHUNK + len(vecs))
            keep = ~is_query[rows]
            c0 = time.process_time()
            index.add(base_pos[rows[keep]].astype(np.uint64), vecs[keep], threads=2)
            build_cpu += time.process_time() - c0
            done.add(ci)
            print(f"[ann_sweep] chunk {ci} added ({len(index):,})", file=sys.stderr, flush=True)
    allv = np.concatenate([parts[i] for i in range(len(files))])
    base = np.ascontiguousarray(allv[~is_query][: ann_vectors.TARGET])
    queries = np.ascontiguousarray(allv[qidx])
    truth, sims = _exact_top(base, queries, 10)
    print(
        f"{args.graph}: {len(index):,} vectors, build CPU {build_cpu:.0f} s, graph memory "
        f"{index.memory_usage / 2**20:.0f} MiB (+ {base.nbytes / 2**20:.0f} MiB float32 matrix kept when "
        f"dtype is not f32), load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    cands = [10] if dtype == "f32" else [int(x) for x in args.rescore.split(",")]
    for ef in (int(x) for x in args.ef.split(",")):
        index.expansion_search = ef
        for cand in cands:
            wall, cpu, found = [], [], []
            for rnd in range(2):
                found = []
                for q in queries:
                    t0, c0 = time.perf_counter(), time.thread_time()
                    keys = index.search(q, cand).keys.astype(np.int64)
                    if dtype != "f32":  # re-rank on the float32 vectors
                        s = base[keys] @ q
                        keys = keys[np.argsort(-s, kind="stable")[:10]]
                    c1, t1 = time.thread_time(), time.perf_counter()
                    wall.append(t1 - t0)
                    cpu.append(c1 - c0)
                    found.append(keys)
            s10, t10 = _recalls(found, truth, sims, 10)
            s1, t1_ = _recalls(found, truth, sims, 1)
            print(
                f"  ef {ef:3d} candidates {cand:2d}: recall@10 tolerant {t10:.4f} strict {s10:.4f} | "
                f"recall@1 tolerant {t1_:.3f} strict {s1:.3f} | p50 wall {statistics.median(wall) * 1e3:.3f} ms "
                f"CPU {statistics.median(cpu) * 1e3:.3f} ms | load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
