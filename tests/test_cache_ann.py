"""The embedded backend's IVF index: recall against exact search, consistency under
deletes / expiry / eviction, restart, scope isolation. Thresholds are lowered through
``AnnIndexConfig`` so a few thousand 64-dim vectors exercise the indexed path."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest

from llm_cost_hooks.cache import AnnIndexConfig, CacheEntry, EmbeddedBackend

DIM = 64
ANN = AnnIndexConfig(min_entries=2_000)


def clustered(n: int, seed: int = 0, centers: int = 60, spread: float = 0.16) -> np.ndarray:
    """Unit vectors around fixed random centres (intents; cached queries and new queries
    are paraphrases of the same intents), ``seed`` drawing which points."""
    c = np.random.default_rng(1234).normal(size=(centers, DIM))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    v = c[rng.integers(0, centers, n)] + rng.normal(0, spread, (n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def entry(i: int, partition: str = "p", **kw) -> CacheEntry:
    return CacheEntry(id=f"e{i}", partition=partition, exact_key=f"{partition}:x{i}", tenant="t", query=f"q{i}",
                      normalized_query=f"q{i}", embedding_model="test", answer="a", answer_key=f"k{i % 7}", **kw)


def fill(backend: EmbeddedBackend, vecs: np.ndarray, partition: str = "p", start: int = 0, **kw) -> None:
    for i, v in enumerate(vecs, start):
        backend.put(entry(i, partition, **kw), v)


def exact_top(vecs: np.ndarray, ids: list[str], q: np.ndarray, k: int) -> list[str]:
    sims = vecs @ q
    return [ids[i] for i in np.argsort(-sims, kind="stable")[:k]]


def check_consistent(backend: EmbeddedBackend, partition: str = "p") -> None:
    part = backend._parts[partition]
    ivf = part.ivf
    assert ivf is not None
    listed = [i for slab in ivf.lists for i in slab.ids]
    assert len(listed) == len(set(listed)) == part.n == len(ivf.where)
    assert set(listed) == {e.id for e in backend.entries() if e.partition == partition}
    for j, slab in enumerate(ivf.lists):
        assert all(ivf.where[i] == j for i in slab.ids)


def test_recall_at_10_vs_exact_search() -> None:
    vecs = clustered(5_000)
    backend = EmbeddedBackend(ann=ANN)
    fill(backend, vecs)
    part = backend._parts["p"]
    assert part.ivf is not None and part.flat is None  # the indexed path is what is measured
    assert len(part.ivf.centroids) > part.cfg.nprobe  # probing is a real subset
    ids = [f"e{i}" for i in range(len(vecs))]
    queries = clustered(200, seed=1)
    hits = 0
    for q in queries:
        got = backend.search("p", q, 10)
        want = exact_top(vecs, ids, q, 10)
        hits += len({n.entry_id for n in got} & set(want))
        # similarities are exact (re-ranked candidates), sorted, and belong to the entry
        sims = [n.similarity for n in got]
        assert sims == sorted(sims, reverse=True)
        for n in got[:3]:
            assert n.similarity == pytest.approx(float(vecs[int(n.entry_id[1:])] @ q), abs=1e-5)
    recall = hits / (10 * len(queries))
    assert recall >= 0.99, recall
    # the measurement is sensitive: one probed list misses many true neighbours
    part.cfg = AnnIndexConfig(min_entries=2_000, nprobe=1)
    one = sum(len({n.entry_id for n in backend.search("p", q, 10)} & set(exact_top(vecs, ids, q, 10)))
              for q in queries) / (10 * len(queries))
    assert one < 0.9, one


def test_below_threshold_search_is_exact_and_index_is_deterministic() -> None:
    vecs = clustered(1_500)
    small = EmbeddedBackend(ann=ANN)
    fill(small, vecs)
    assert small._parts["p"].ivf is None
    ids = [f"e{i}" for i in range(len(vecs))]
    for q in clustered(20, seed=2):
        assert [n.entry_id for n in small.search("p", q, 10)] == exact_top(vecs, ids, q, 10)
    big = clustered(3_000, seed=3)
    a, b = EmbeddedBackend(ann=ANN), EmbeddedBackend(ann=ANN)
    fill(a, big)
    fill(b, big)
    np.testing.assert_array_equal(a._parts["p"].ivf.centroids, b._parts["p"].ivf.centroids)


def test_inserts_after_build_are_found_and_rebuild_on_growth() -> None:
    vecs = clustered(4_500, seed=4)
    backend = EmbeddedBackend(ann=ANN)
    fill(backend, vecs[:2_000])
    part = backend._parts["p"]
    first = part.ivf.centroids.copy()
    assert part.built_n == 2_000
    fill(backend, vecs[2_000:3_000], start=2_000)
    assert part.built_n == 2_000  # incremental: assigned to the nearest list, no rebuild
    for i in (2_000, 2_500, 2_999):
        assert backend.search("p", vecs[i], 1)[0].entry_id == f"e{i}"
    fill(backend, vecs[3_000:], start=3_000)
    assert part.built_n == 4_000 and not np.array_equal(part.ivf.centroids, first)  # rebuilt on doubling
    check_consistent(backend)
    # replacing an entry's vector moves it to the list of its new vector
    backend.put(entry(10), vecs[4_400])
    assert {n.entry_id for n in backend.search("p", vecs[4_400], 2)} == {"e10", "e4400"}
    check_consistent(backend)


def test_deleted_expired_and_evicted_entries_are_never_returned() -> None:
    vecs = clustered(4_000, seed=5)
    backend = EmbeddedBackend(max_entries=3_000, ann=ANN)
    fill(backend, vecs)  # the first 1,000 were evicted (LRU) on the way
    assert backend.count() == 3_000
    check_consistent(backend)
    deleted = [f"e{i}" for i in range(1_000, 1_400)]
    backend.delete(deleted)
    check_consistent(backend)
    past = time.time() - 1
    fill(backend, clustered(300, seed=6), start=10_000, expires_at=past)  # written already expired
    gone = {f"e{i}" for i in range(1_400)} | {f"e{i}" for i in range(10_000, 10_300)}
    returned: set[str] = set()
    for i in list(range(0, 1_400, 7)) + list(range(1_400, 4_000, 50)):
        returned |= {n.entry_id for n in backend.search("p", vecs[i], 10)}
    for q in clustered(300, seed=6)[::5]:
        returned |= {n.entry_id for n in backend.search("p", q, 10)}
    assert returned and not (returned & gone)
    assert not any(backend.get(f"e{i}") for i in range(10_000, 10_300, 5))  # found stale -> deleted
    check_consistent(backend)


def test_shrinking_below_half_the_threshold_goes_back_to_exact() -> None:
    vecs = clustered(2_500, seed=7)
    backend = EmbeddedBackend(ann=ANN)
    fill(backend, vecs)
    assert backend._parts["p"].ivf is not None
    backend.delete([f"e{i}" for i in range(1_600)])
    part = backend._parts["p"]
    assert part.ivf is None and part.n == 900
    ids = [f"e{i}" for i in range(1_600, 2_500)]
    for q in clustered(10, seed=8):
        assert [n.entry_id for n in backend.search("p", q, 5)] == exact_top(vecs[1_600:], ids, q, 5)


def test_restart_serves_the_same_neighbours(tmp_path) -> None:
    path = tmp_path / "cache.db"
    vecs = clustered(3_500, seed=9)
    backend = EmbeddedBackend(path, ann=ANN)
    fill(backend, vecs)
    backend.delete([f"e{i}" for i in range(0, 3_500, 9)])
    queries = clustered(60, seed=10)
    before = [[(n.entry_id, round(n.similarity, 5)) for n in backend.search("p", q, 10)] for q in queries]
    centroids = backend._parts["p"].ivf.centroids.copy()
    backend.close()
    db = sqlite3.connect(path)  # the index is plain float32 bytes, not a pickle
    dim, blob = db.execute("SELECT dim, centroids FROM ann_index WHERE partition = 'p'").fetchone()
    db.close()
    np.testing.assert_array_equal(np.frombuffer(blob, np.float32).reshape(-1, dim), centroids)
    again = EmbeddedBackend(path, ann=ANN)
    assert again._parts["p"].ivf is not None
    after = [[(n.entry_id, round(n.similarity, 5)) for n in again.search("p", q, 10)] for q in queries]
    assert after == before
    check_consistent(again)
    again.clear()
    again.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM ann_index").fetchone()[0] == 0
    db.close()


def test_partitions_stay_isolated_when_indexed() -> None:
    vecs = clustered(2_500, seed=11)
    backend = EmbeddedBackend(ann=ANN)
    fill(backend, vecs, partition="tenant-a")
    fill(backend, vecs, partition="tenant-b", start=100_000)  # identical vectors, other scope
    assert backend._parts["tenant-a"].ivf is not None and backend._parts["tenant-b"].ivf is not None
    for q in vecs[::100]:
        a = backend.search("tenant-a", q, 10)
        b = backend.search("tenant-b", q, 10)
        assert a and all(n.payload.partition == "tenant-a" and int(n.entry_id[1:]) < 100_000 for n in a)
        assert b and all(n.payload.partition == "tenant-b" and int(n.entry_id[1:]) >= 100_000 for n in b)
    assert backend.search("tenant-c", vecs[0], 10) == []


def test_restart_with_a_broken_or_unwanted_saved_index(tmp_path) -> None:
    path = tmp_path / "cache.db"
    vecs = clustered(2_500, seed=12)
    backend = EmbeddedBackend(path, ann=ANN)
    fill(backend, vecs)
    backend.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE ann_index SET centroids = x'0102'")  # truncated: not a float32 matrix
    db.commit()
    db.close()
    rebuilt = EmbeddedBackend(path, ann=ANN)
    part = rebuilt._parts["p"]
    assert part.ivf is not None and part.ivf.centroids.shape[1] == DIM
    check_consistent(rebuilt)
    rebuilt.close()
    off = EmbeddedBackend(path, ann=AnnIndexConfig(enabled=False))  # index switched off: exact, row dropped
    assert off._parts["p"].ivf is None
    ids = [f"e{i}" for i in range(len(vecs))]
    q = clustered(1, seed=13)[0]
    assert [n.entry_id for n in off.search("p", q, 10)] == exact_top(vecs, ids, q, 10)
    off.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM ann_index").fetchone()[0] == 0
    db.close()
