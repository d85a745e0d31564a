"""Nearest-neighbour search for the embedded cache on real text embeddings.

100k vectors of real texts (``bench/ann_vectors.py``: dev-set questions and utterances, then
sentences of real model responses), every one embedded with the cache's default embedder.
Queries: 200 real held-out texts of the same sources (not in the index), each searched
for its 10 nearest neighbours. Ground truth is exact search (brute force over the same
vectors); every row prints, beside its latency:

* ``recall@10``: the distance-tolerant recall of ann-benchmarks: a returned item counts if
  its cosine distance is at most the true 10th distance + 1e-3 (identical or near-identical
  texts embed alike, so which of two tied items is returned does not matter);
* ``strict``: the share of the true top-10 ids returned (ties count as misses);
* ``recall@1``: the true nearest neighbour found, strict / tolerant (what the cache uses).

Latency is the p50 of one query's search (no embedding), wall time and the calling thread's
CPU time (the machine is shared: CPU time is what the search costs), every backend in one
interleaved run so the rows share the load:

* ``exact (numpy)``: the brute-force fallback, the anchor;
* ``IVF (previous)``: the hand-written inverted file the embedded backend used before;
* ``usearch HNSW (shipped)``: the embedded backend's own partition with ``AnnIndexConfig``
  defaults (search and re-ranking as the cache runs them), and at other ``expansion_search``;
* the previous default (float32 graph, M 16, expansion_search 256);
* ``faiss HNSW``, ``hnswlib``, ``sqlite-vec``: the other maintained libraries compared.

Also: memory of the shipped index per 100k entries, the worst single insert of 1,000 added
one by one to the built index (a rebuild pause would show there).

``python -m bench ann`` runs it alone.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from bench._common import Row

B = "cache"
N_QUERIES = 200  # = ann_vectors.QUERIES
K = 10
TOLERANCE = 1e-3  # ann-benchmarks' distance slack


def _exact_top(base: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` ids per query and every query's similarities to every vector."""
    sims = q @ base.T
    idx = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, idx, axis=1), axis=1)
    return np.take_along_axis(idx, order, axis=1), sims


def _recalls(found: list[np.ndarray], truth: np.ndarray, sims: np.ndarray, k: int) -> tuple[float, float]:
    """(strict, tolerant) recall@k: ids of the true top k returned; returned items within
    ``TOLERANCE`` of the true k-th cosine distance."""
    strict, tol = [], []
    for i, f in enumerate(found):
        f = np.asarray(f[:k], np.int64)
        strict.append(len(set(f.tolist()) & set(truth[i, :k].tolist())) / k)
        kth = 1.0 - sims[i, truth[i, k - 1]]
        tol.append(float(np.sum(1.0 - sims[i, f] <= kth + TOLERANCE)) / k)
    return float(np.mean(strict)), float(np.mean(tol))


class _Exact:
    name = "exact (numpy)"

    def __init__(self, base: np.ndarray) -> None:
        self.base = base

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        sims = self.base @ q
        idx = np.argpartition(-sims, k)[:k]
        return idx[np.argsort(-sims[idx])]


class _Ivf:
    name = "IVF (previous, nprobe 16)"

    def __init__(self, base: np.ndarray) -> None:
        from bench._ivf_reference import IvfReference

        self.ivf = IvfReference(base)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.ivf.search(q, k)


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


class _Usearch:
    """The embedded backend's own partition (graph, float32 matrix, id maps) searched as
    the cache searches it."""

    def __init__(self, base: np.ndarray, cfg: Any = None, name: str = "usearch HNSW (shipped)") -> None:
        from llm_cost_hooks.cache._embedded import AnnIndexConfig, _Partition

        self.cfg = cfg or AnnIndexConfig()
        self.name = f"{name}: {self.cfg.dtype} M {self.cfg.connectivity}, ef {self.cfg.expansion_search}" + (
            f", re-rank {self.cfg.rescore}" if self.cfg.dtype != "f32" and self.cfg.rescore else ""
        )
        rss0 = _rss()
        self.part = _Partition(base.shape[1], self.cfg)
        self.part.add_many([str(i) for i in range(len(base))], base)
        self.rss = _rss() - rss0
        flat = self.part.flat
        self.bytes = self.part.graph.memory_usage + (flat.vecs.nbytes if flat is not None else 0)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        ids, _ = self.part.top(q, k)
        return np.array([int(i) for i in ids], np.int64)

    def add(self, key: int, vec: np.ndarray) -> None:
        self.part.add(str(key), vec)


class _UsearchAt:
    """The shipped partition searched with another ``expansion_search``."""

    def __init__(self, shipped: _Usearch, ef: int) -> None:
        self.shipped, self.ef = shipped, ef
        self.name = f"usearch HNSW (shipped graph), expansion_search {ef}"

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        graph = self.shipped.part.graph
        default = graph.expansion_search
        graph.expansion_search = self.ef
        try:
            return self.shipped.search(q, k)
        finally:
            graph.expansion_search = default


class _Faiss:
    name = "faiss HNSW (M 16, efSearch 64)"

    def __init__(self, base: np.ndarray) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexHNSWFlat(base.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 128
        self.index.hnsw.efSearch = 64
        self.index.add(base)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q[None, :], k)[1][0]

    def add(self, key: int, vec: np.ndarray) -> None:
        self.index.add(vec[None, :])


class _Hnswlib:
    name = "hnswlib (M 16, ef 64)"

    def __init__(self, base: np.ndarray) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=base.shape[1])
        self.index.init_index(max_elements=len(base) + 10_000, ef_construction=128, M=16)
        self.index.set_num_threads(1)
        self.index.add_items(base, np.arange(len(base)))
        self.index.set_ef(64)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.knn_query(q, k)[0][0].astype(np.int64)

    def add(self, key: int, vec: np.ndarray) -> None:
        self.index.add_items(vec[None, :], [key])


class _SqliteVec:
    name = "sqlite-vec (vec0, exact)"

    def __init__(self, base: np.ndarray) -> None:
        import sqlite3

        import sqlite_vec

        self.db = sqlite3.connect(":memory:")
        self.db.enable_load_extension(True)
        sqlite_vec.load(self.db)
        self.db.execute(f"CREATE VIRTUAL TABLE v USING vec0(e float[{base.shape[1]}] distance_metric=cosine)")
        self.db.executemany(
            "INSERT INTO v(rowid, e) VALUES (?, ?)", ((i, base[i].tobytes()) for i in range(len(base)))
        )

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        rows = self.db.execute(
            "SELECT rowid FROM v WHERE e MATCH ? AND k = ? ORDER BY distance", (q.tobytes(), k)
        ).fetchall()
        return np.array([r[0] for r in rows], np.int64)


def _previous_default(base: np.ndarray) -> _Usearch:
    from llm_cost_hooks.cache._embedded import AnnIndexConfig

    cfg = AnnIndexConfig(dtype="f32", connectivity=16, expansion_add=128, expansion_search=256)
    return _Usearch(base, cfg, name="usearch HNSW (previous default)")


_CANDIDATES: list[tuple[Any, str | None, bool]] = [  # (class, module needed, full run only)
    (_Exact, None, False),
    (_Ivf, None, False),
    (_Usearch, "usearch", False),
    (_previous_default, "usearch", True),
    (_Faiss, "faiss", True),
    (_Hnswlib, "hnswlib", True),
    (_SqliteVec, "sqlite_vec", True),
]


def _fill(real: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """``n`` extra unit vectors, each the normalised mean of two random real vectors (used
    only when fewer real vectors than the target exist; never a noisy copy of one)."""
    rng = np.random.default_rng(seed)
    a = real[rng.integers(0, len(real), n)]
    b = real[rng.integers(0, len(real), n)]
    m = a + b
    return (m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)).astype(np.float32)


def _measure(
    built: list[Any], queries: np.ndarray, rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list]]:
    """Interleaved: every backend answers query i before any answers query i+1. Wall and
    calling-thread CPU seconds per search, and the last round's results."""
    wall: dict[str, list[float]] = {b.name: [] for b in built}
    cpu: dict[str, list[float]] = {b.name: [] for b in built}
    found: dict[str, list[np.ndarray]] = {}
    for _ in range(rounds):
        found = {b.name: [] for b in built}
        for q in queries:
            for b in built:
                c0, t0 = time.thread_time(), time.perf_counter()
                res = b.search(q, K)
                t1, c1 = time.perf_counter(), time.thread_time()
                wall[b.name].append(t1 - t0)
                cpu[b.name].append(c1 - c0)
                found[b.name].append(res)
    return wall, cpu, found


def _insert_pauses(b: Any, real: np.ndarray, start: int) -> str:
    more = _fill(real, 1_000, seed=2)
    pauses = []
    for i, v in enumerate(more):
        t0 = time.perf_counter()
        b.add(start + i, v)
        pauses.append(time.perf_counter() - t0)
    return (
        f"; {len(pauses):,} single inserts into the built index: p50 "
        f"{statistics.median(pauses) * 1e3:.2f} ms, worst {max(pauses) * 1e3:.1f} ms"
    )


def rows(quick: bool) -> list[Row]:
    from bench import ann_vectors

    target = 20_000 if quick else ann_vectors.TARGET
    got = ann_vectors.load()
    if got is None or len(got[0]) < 2 * N_QUERIES:
        reason = (
            "the real-text vectors are not built: run `python -m bench.ann_vectors` (needs ../shared/data)"
            if ann_vectors.texts(10)[0]
            else f"no dev data under {ann_vectors.data_dir()}"
        )
        print(f"[bench cache] ANN rows skipped: {reason}", file=sys.stderr)
        return [Row(B, "ANN search on real text vectors", float("nan"), "", note=f"skipped: {reason}")]
    vecs, sources = got
    vecs = vecs[: target + N_QUERIES]
    rng = np.random.default_rng(0)
    qidx = np.sort(rng.choice(len(vecs), N_QUERIES, replace=False))
    mask = np.ones(len(vecs), bool)
    mask[qidx] = False
    real = np.ascontiguousarray(vecs[mask][:target], dtype=np.float32)
    n_real = len(real)
    fill = target - n_real
    base = np.concatenate([real, _fill(real, fill)]) if fill > 0 else real
    queries = np.ascontiguousarray(vecs[qidx], dtype=np.float32)
    truth, sims = _exact_top(base, queries, K)
    made = (
        f"{n_real:,} real text vectors"
        if fill <= 0
        else f"{n_real:,} real text vectors + {fill:,} normalised means of two random real ones"
    )
    built: list[Any] = []
    notes: dict[str, str] = {}
    for cls, module, full_only in _CANDIDATES:
        label = getattr(cls, "name", cls.__name__)
        if full_only and quick:
            continue
        if module is not None and importlib.util.find_spec(module) is None:
            notes[label] = f"{module} not installed"
            continue
        t0 = time.perf_counter()
        try:
            b = cls(base)
        except Exception as exc:
            notes[label] = f"cannot run here: {type(exc).__name__}: {exc}"
            continue
        built.append(b)
        notes[b.name] = f"built in {time.perf_counter() - t0:.0f} s"
        if isinstance(b, _Usearch):
            notes[b.name] += (
                f"; memory {b.bytes / len(base) * 1e5 / 2**20:.0f} MiB per 100k entries (graph + "
                f"float32 matrix), process RSS grew {b.rss / 2**20:.0f} MiB while building"
            )
    shipped = next((b for b in built if isinstance(b, _Usearch) and "shipped" in b.name), None)
    if shipped is not None:
        ef0 = shipped.cfg.expansion_search
        built += [_UsearchAt(shipped, ef) for ef in (ef0 // 2, ef0 * 2)]
    load0 = os.getloadavg()[0]
    wall, cpu, found = _measure(built, queries, 1 if quick else 3)
    load = f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}"
    out: list[Row] = []
    anchor = statistics.median(wall[built[0].name]) * 1e3
    for b in built:
        p50 = statistics.median(wall[b.name]) * 1e3
        strict, tol = _recalls(found[b.name], truth, sims, K)
        strict1, tol1 = _recalls(found[b.name], truth, sims, 1)
        note = notes.get(b.name, "the shipped graph searched with this setting")
        if hasattr(b, "add"):
            note += _insert_pauses(b, real, len(base))
        is_shipped = b is shipped
        recall = f"recall@10 {tol:.4f} (strict ids {strict:.4f}), recall@1 {tol1:.3f} (strict {strict1:.3f})"
        out.append(
            Row(
                B,
                f"ANN search p50 excl. embedding, {len(base):,} vectors: {b.name} | {recall}",
                p50,
                "ms",
                built[0].name,
                anchor,
                target="<= 1 ms" if is_shipped else "",
                ok=(p50 <= 1.0) if is_shipped else None,
                note=f"CPU p50 {statistics.median(cpu[b.name]) * 1e3:.3f} ms (calling thread); {note}",
            )
        )
        if is_shipped:
            out.append(
                Row(
                    B,
                    f"ANN recall@10 vs exact (distance-tolerant), {len(base):,} vectors: {b.name}",
                    tol,
                    "",
                    target=">= 0.99",
                    ok=tol >= 0.99,
                    note=f"{made}; {N_QUERIES} held-out real queries; strict id recall@10 {strict:.4f}; {load}",
                )
            )
    if fill > 0:  # the shipped index on the real vectors alone
        real_truth, real_sims = _exact_top(real, queries, K)
        ex, us = _Exact(real), _Usearch(real)
        w, _, f = _measure([ex, us], queries, 1 if quick else 3)
        strict, tol = _recalls(f[us.name], real_truth, real_sims, K)
        out.append(
            Row(
                B,
                f"ANN recall@10 vs exact (distance-tolerant), {n_real:,} real vectors only: {us.name}",
                tol,
                "",
                target=">= 0.99",
                ok=tol >= 0.99,
                note=f"strict id recall@10 {strict:.4f}; search p50 {statistics.median(w[us.name]) * 1e3:.3f} ms "
                f"vs exact {statistics.median(w[ex.name]) * 1e3:.3f} ms, same run",
            )
        )
    for name, why in notes.items():
        if "not installed" in why or "cannot run" in why:
            out.append(Row(B, f"ANN {name}", float("nan"), "", note=f"skipped: {why}"))
    return out


def run(quick: bool = False) -> list[Row]:
    return rows(quick)


if __name__ == "__main__":
    from bench._common import format_table

    print(format_table(rows("--quick" in sys.argv)))
