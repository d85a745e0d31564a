"""Nearest-neighbour search for the embedded cache on real text embeddings.

100k vectors of real texts (``bench/ann_vectors.py``: dev-set questions and utterances, then
sentences of real model responses), every one embedded with the cache's default embedder.
Queries: 200 real held-out texts of the same sources (not in the index), each searched
for its 10 nearest neighbours. Recall@10 is measured against exact search (brute force
over the same vectors); latency is the p50 of one query's search (no embedding), per
backend, in one interleaved run so the rows share the machine's load:

* ``exact (numpy)``: the brute-force fallback, the anchor;
* ``IVF (previous)``: the hand-written inverted file the embedded backend used before;
* ``usearch HNSW``: what the embedded backend ships (``AnnIndexConfig`` defaults);
* ``faiss HNSW``, ``hnswlib``, ``sqlite-vec``: the other maintained libraries compared.

Also: the worst single insert of 2,000 added one by one to the built index (a rebuild
pause would show there), and recall on the real-question part alone.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
from typing import Any

import numpy as np

from bench._common import Row

B = "cache"
N_QUERIES = 200  # = ann_vectors.QUERIES


def _exact_top(base: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    sims = q @ base.T
    idx = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, idx, axis=1), axis=1)
    return np.take_along_axis(idx, order, axis=1)


def _recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


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


class _Usearch:
    name = "usearch HNSW (shipped)"

    def __init__(self, base: np.ndarray) -> None:
        from llm_cost_hooks.cache._embedded import AnnIndexConfig, _new_usearch_index

        self.index = _new_usearch_index(base.shape[1], AnnIndexConfig())
        self.index.add(np.arange(len(base), dtype=np.uint64), base)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q, k).keys.astype(np.int64)

    def add(self, key: int, vec: np.ndarray) -> None:
        self.index.add(key, vec)


class _UsearchAt:
    """The shipped graph searched with another ``expansion_search`` (the recall/latency curve)."""

    def __init__(self, shipped: _Usearch, ef: int) -> None:
        self.shipped, self.ef = shipped, ef
        self.name = f"usearch HNSW, expansion_search {ef}"

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        index = self.shipped.index
        default = index.expansion_search
        index.expansion_search = self.ef
        try:
            return index.search(q, k).keys.astype(np.int64)
        finally:
            index.expansion_search = default


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


_CANDIDATES = [
    (_Exact, None),
    (_Ivf, None),
    (_Usearch, "usearch"),
    (_Faiss, "faiss"),
    (_Hnswlib, "hnswlib"),
    (_SqliteVec, "sqlite_vec"),
]


_QUESTION_SOURCES = ("banking77", "hwu64", "mrpc", "multiwoz", "routerbench", "gsm8k", "mtbench")


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
) -> tuple[dict[str, list[float]], dict[str, list]]:
    """Interleaved: every backend answers query i before any answers query i+1."""
    times: dict[str, list[float]] = {b.name: [] for b in built}
    found: dict[str, list[np.ndarray]] = {}
    for _ in range(rounds):
        found = {b.name: [] for b in built}
        for q in queries:
            for b in built:
                t0 = time.perf_counter()
                res = b.search(q, 10)
                times[b.name].append(time.perf_counter() - t0)
                found[b.name].append(res)
    return times, found


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
    truth = _exact_top(base, queries, 10)
    made = (
        f"{n_real:,} real text vectors"
        if fill <= 0
        else f"{n_real:,} real text vectors + {fill:,} normalised means of two random real ones"
    )
    built: list[Any] = []
    notes: dict[str, str] = {}
    for cls, module in _CANDIDATES:
        if module is not None and importlib.util.find_spec(module) is None:
            notes[cls.name] = f"{module} not installed"
            continue
        t0 = time.perf_counter()
        try:
            built.append(cls(base))
        except Exception as exc:
            notes[cls.name] = f"cannot run here: {type(exc).__name__}: {exc}"
            continue
        notes[cls.name] = f"built in {time.perf_counter() - t0:.0f} s"
    shipped = next((b for b in built if isinstance(b, _Usearch)), None)
    if shipped is not None:
        built += [_UsearchAt(shipped, ef) for ef in (64, 128) if ef != shipped.index.expansion_search]
    times, found = _measure(built, queries, 1 if quick else 3)
    out: list[Row] = []
    anchor = statistics.median(times[built[0].name]) * 1e3
    for b in built:
        p50 = statistics.median(times[b.name]) * 1e3
        rec = _recall(found[b.name], truth)
        note = notes.get(b.name, "the shipped graph searched with this setting")
        if hasattr(b, "add") and not isinstance(b, _UsearchAt):
            more = _fill(real, 1_000, seed=2)
            pauses = []
            for i, v in enumerate(more):
                t0 = time.perf_counter()
                b.add(len(base) + i, v)
                pauses.append(time.perf_counter() - t0)
            note += (
                f"; {len(pauses):,} single inserts into the built index: p50 "
                f"{statistics.median(pauses) * 1e3:.2f} ms, worst {max(pauses) * 1e3:.1f} ms"
            )
        is_shipped = isinstance(b, _Usearch)
        out.append(
            Row(
                B,
                f"ANN recall@10 vs exact, {len(base):,} vectors: {b.name}",
                rec,
                "",
                target=">= 0.99" if is_shipped else "",
                ok=(rec >= 0.99) if is_shipped else None,
                note=f"{made}; {N_QUERIES} held-out real queries; {note}",
            )
        )
        out.append(
            Row(
                B,
                f"ANN search p50 excl. embedding, {len(base):,} vectors: {b.name}",
                p50,
                "ms",
                built[0].name,
                anchor,
                target="<= 1 ms" if is_shipped else "",
                ok=(p50 <= 1.0) if is_shipped else None,
            )
        )
    if fill > 0:  # the shipped index on the real vectors alone
        real_truth = _exact_top(real, queries, 10)
        ex, us = _Exact(real), _Usearch(real)
        t, f = _measure([ex, us], queries, 1 if quick else 3)
        out.append(
            Row(
                B,
                f"ANN recall@10 vs exact, {n_real:,} real vectors only: {us.name}",
                _recall(f[us.name], real_truth),
                "",
                target=">= 0.99",
                ok=_recall(f[us.name], real_truth) >= 0.99,
                note=f"search p50 {statistics.median(t[us.name]) * 1e3:.3f} ms vs exact "
                f"{statistics.median(t[ex.name]) * 1e3:.3f} ms, same run",
            )
        )
    for name, why in notes.items():
        if "not installed" in why or "cannot run" in why:
            out.append(Row(B, f"ANN {name}", float("nan"), "", note=f"skipped: {why}"))
    return out


if __name__ == "__main__":
    for r in rows("--quick" in sys.argv):
        print(r)
