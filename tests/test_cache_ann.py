"""The embedded backend's HNSW index (usearch): recall against exact search, inserts
without rebuilds, consistency under deletes / expiry / eviction, restart, scope isolation.
Thresholds are lowered through ``AnnIndexConfig`` so a few thousand 64-dim vectors
exercise the graph path."""

from __future__ import annotations

import json
import sqlite3
import time

import numpy as np
import pytest

from llm_cost_hooks.cache import AnnIndexConfig, CacheEntry, EmbeddedBackend

DIM = 64
ANN = AnnIndexConfig(exact_below=2_000)


def clustered(n: int, seed: int = 0, centers: int = 60, spread: float = 0.16) -> np.ndarray:
    """Unit vectors around fixed random centres (intents; cached queries and new queries
    are paraphrases of the same intents), ``seed`` drawing which points."""
    c = np.random.default_rng(1234).normal(size=(centers, DIM))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    v = c[rng.integers(0, centers, n)] + rng.normal(0, spread, (n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def entry(i: int, partition: str = "p", **kw) -> CacheEntry:
    return CacheEntry(
        id=f"e{i}",
        partition=partition,
        exact_key=f"{partition}:x{i}",
        tenant="t",
        query=f"q{i}",
        normalized_query=f"q{i}",
        embedding_model="test",
        answer="a",
        answer_key=f"k{i % 7}",
        **kw,
    )


def fill(backend: EmbeddedBackend, vecs: np.ndarray, partition: str = "p", start: int = 0, **kw) -> None:
    for i, v in enumerate(vecs, start):
        backend.put(entry(i, partition, **kw), v)


def exact_top(vecs: np.ndarray, ids: list[str], q: np.ndarray, k: int) -> list[str]:
    sims = vecs @ q
    return [ids[i] for i in np.argsort(-sims, kind="stable")[:k]]


def check_consistent(backend: EmbeddedBackend, partition: str = "p") -> None:
    part = backend._parts[partition]
    assert part.graph is not None
    live = {e.id for e in backend.entries() if e.partition == partition}
    assert set(part.keys) == live and part.n == len(live) == len(part.graph)
    assert {part.ids[k] for k in part.keys.values()} == live
    assert all(part.graph.contains(k) for k in list(part.keys.values())[:200])


def test_recall_at_10_vs_exact_search() -> None:
    vecs = clustered(5_000)
    backend = EmbeddedBackend(ann=ANN)
    fill(backend, vecs)
    part = backend._parts["p"]
    assert part.graph is not None and part.searches_graph  # the graph path is what is measured
    ids = [f"e{i}" for i in range(len(vecs))]
    queries = clustered(200, seed=1)

    def recall() -> float:
        hits = 0
        for q in queries:
            got = backend.search("p", q, 10)
            hits += len({n.entry_id for n in got} & set(exact_top(vecs, ids, q, 10)))
            sims = [n.similarity for n in got]
            assert sims == sorted(sims, reverse=True)
            for n in got[:3]:  # similarities are exact and belong to the entry
                assert n.similarity == pytest.approx(float(vecs[int(n.entry_id[1:])] @ q), abs=1e-5)
        return hits / (10 * len(queries))

    assert recall() >= 0.99
    part.graph.expansion_search = 1  # the measurement is sensitive: a greedy walk misses neighbours
    assert recall() < 0.95


def test_below_threshold_search_is_exact() -> None:
    vecs = clustered(1_500)
    small = EmbeddedBackend(ann=ANN)
    fill(small, vecs)
    assert small._parts["p"].flat is not None and small._parts["p"].graph is not None
    ids = [f"e{i}" for i in range(len(vecs))]
    for q in clustered(20, seed=2):
        assert [n.entry_id for n in small.search("p", q, 10)] == exact_top(vecs, ids, q, 10)
    fill(small, vecs[:150], partition="tiny")  # below a tenth of exact_below: no graph at all
    assert small._parts["tiny"].graph is None and small._parts["tiny"].n == 150


def test_inserts_go_into_the_graph_one_by_one() -> None:
    vecs = clustered(4_500, seed=4)
    backend = EmbeddedBackend(ann=ANN)
    fill(backend, vecs[:2_500])
    part = backend._parts["p"]
    graph = part.graph
    fill(backend, vecs[2_500:], start=2_500)
    assert part.graph is graph  # never rebuilt
    for i in (2_000, 2_500, 4_499):
        assert backend.search("p", vecs[i], 1)[0].entry_id == f"e{i}"
    check_consistent(backend)
    backend.put(entry(10), vecs[4_400])  # replacing an entry's vector re-links it
    assert {n.entry_id for n in backend.search("p", vecs[4_400], 2)} == {"e10", "e4400"}
    check_consistent(backend)


def test_deleted_expired_and_evicted_entries_are_never_returned() -> None:
    vecs = clustered(4_000, seed=5)
    backend = EmbeddedBackend(max_entries=3_000, ann=ANN)
    fill(backend, vecs)  # the first 1,000 were evicted (LRU) on the way
    assert backend.count() == 3_000
    check_consistent(backend)
    backend.delete([f"e{i}" for i in range(1_000, 1_400)])
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
    assert backend._parts["p"].searches_graph
    backend.delete([f"e{i}" for i in range(1_600)])
    part = backend._parts["p"]
    assert part.flat is not None and part.n == 900
    ids = [f"e{i}" for i in range(1_600, 2_500)]
    for q in clustered(10, seed=8):
        assert [n.entry_id for n in backend.search("p", q, 5)] == exact_top(vecs[1_600:], ids, q, 5)


def test_restart_restores_the_saved_graph_and_catches_up(tmp_path) -> None:
    path = tmp_path / "cache.db"
    vecs = clustered(4_000, seed=9)
    backend = EmbeddedBackend(path, ann=ANN)
    fill(backend, vecs[:3_500])
    backend.delete([f"e{i}" for i in range(0, 3_500, 9)])
    queries = clustered(60, seed=10)
    before = [[(n.entry_id, round(n.similarity, 5)) for n in backend.search("p", q, 10)] for q in queries]
    backend.close()
    db = sqlite3.connect(path)  # usearch's own format plus a JSON key map: no pickle
    dim, keys = db.execute("SELECT dim, keys FROM ann_graph WHERE partition = 'p'").fetchone()
    db.close()
    assert dim == DIM and len(json.loads(keys)) == 3_500 - len(range(0, 3_500, 9))
    again = EmbeddedBackend(path, ann=ANN)
    after = [[(n.entry_id, round(n.similarity, 5)) for n in again.search("p", q, 10)] for q in queries]
    assert after == before
    check_consistent(again)
    # written and deleted after the last save (a crash: no close): reconciled on open
    fill(again, vecs[3_500:], start=3_500)
    again.delete(["e1", "e2"])
    again._db.close()
    again._db = None
    third = EmbeddedBackend(path, ann=ANN)
    check_consistent(third)
    assert third.search("p", vecs[3_999], 1)[0].entry_id == "e3999"
    assert all(n.entry_id not in ("e1", "e2") for n in third.search("p", vecs[1], 10))
    third.clear()
    third.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM ann_graph").fetchone()[0] == 0
    db.close()


def test_partitions_stay_isolated_when_indexed() -> None:
    vecs = clustered(2_500, seed=11)
    backend = EmbeddedBackend(ann=ANN)
    fill(backend, vecs, partition="tenant-a")
    fill(backend, vecs, partition="tenant-b", start=100_000)  # identical vectors, other scope
    assert backend._parts["tenant-a"].searches_graph and backend._parts["tenant-b"].searches_graph
    for q in vecs[::100]:
        a = backend.search("tenant-a", q, 10)
        b = backend.search("tenant-b", q, 10)
        assert a and all(n.payload.partition == "tenant-a" and int(n.entry_id[1:]) < 100_000 for n in a)
        assert b and all(n.payload.partition == "tenant-b" and int(n.entry_id[1:]) >= 100_000 for n in b)
    assert backend.search("tenant-c", vecs[0], 10) == []


def test_restart_with_a_broken_or_unwanted_saved_graph(tmp_path, caplog) -> None:
    path = tmp_path / "cache.db"
    vecs = clustered(2_500, seed=12)
    backend = EmbeddedBackend(path, ann=ANN)
    fill(backend, vecs)
    backend.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE ann_graph SET graph = x'0102'")  # truncated
    db.commit()
    db.close()
    rebuilt = EmbeddedBackend(path, ann=ANN)
    assert "rebuilding it" in caplog.text
    check_consistent(rebuilt)
    ids = [f"e{i}" for i in range(len(vecs))]
    q = clustered(1, seed=13)[0]
    assert {n.entry_id for n in rebuilt.search("p", q, 10)} & set(exact_top(vecs, ids, q, 10))
    rebuilt.close()
    off = EmbeddedBackend(path, ann=AnnIndexConfig(enabled=False))  # index switched off: exact, row dropped
    assert off._parts["p"].graph is None
    assert [n.entry_id for n in off.search("p", q, 10)] == exact_top(vecs, ids, q, 10)
    off.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM ann_graph").fetchone()[0] == 0
    db.close()


def test_many_small_partitions_reopen(tmp_path) -> None:
    """A multi-tenant file with more partitions than SQLite allows variables in one
    statement opens and closes cleanly, and tiny partitions carry no graph."""
    path = tmp_path / "cache.db"
    backend = EmbeddedBackend(path, ann=ANN)
    vecs = clustered(1_200, seed=14)
    for i, v in enumerate(vecs):
        backend.put(entry(i, partition=f"tenant-{i}"), v)
    backend.close()
    again = EmbeddedBackend(path, ann=ANN)
    assert len(again._parts) == 1_200 and all(p.graph is None for p in again._parts.values())
    assert again.search("tenant-7", vecs[7], 1)[0].entry_id == "e7"
    again.close()


def test_usearch_imported_before_onnxruntime_does_not_crash() -> None:
    """usearch 2.26 crashed the interpreter when imported before onnxruntime (the cache
    imports both); the pinned range must not."""
    import subprocess
    import sys

    pytest.importorskip("onnxruntime")
    run = subprocess.run(
        [sys.executable, "-c", "import usearch.index, onnxruntime; print('ok')"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-500:]


QUANTISED = AnnIndexConfig(exact_below=2_000, dtype="i8", rescore=32)


def test_quantised_graph_reranks_on_the_float32_vectors(tmp_path, caplog) -> None:
    """An int8 graph only proposes candidates: order and similarities come from the float32
    vectors kept beside it, also after a restart; another dtype rebuilds the saved graph."""
    path = tmp_path / "cache.db"
    vecs = clustered(4_000, seed=21)
    ids = [f"e{i}" for i in range(len(vecs))]
    backend = EmbeddedBackend(path, ann=QUANTISED)
    fill(backend, vecs[:3_000])
    fill(backend, vecs[3_000:], start=3_000)  # one insert at a time once the graph exists
    part = backend._parts["p"]
    assert part.searches_graph and part.flat is not None and part.flat.n == len(vecs)
    assert str(part.graph.dtype).endswith("I8")
    check_consistent(backend)
    queries = clustered(100, seed=22)

    def recall(b: EmbeddedBackend) -> float:
        hits = 0
        for q in queries:
            got = b.search("p", q, 10)
            for n in got:  # exact float32 similarities, not the int8 graph's
                assert n.similarity == pytest.approx(float(vecs[int(n.entry_id[1:])] @ q), abs=1e-6)
            assert [n.similarity for n in got] == sorted((n.similarity for n in got), reverse=True)
            hits += len({n.entry_id for n in got} & set(exact_top(vecs, ids, q, 10)))
        return hits / (10 * len(queries))

    assert recall(backend) >= 0.99
    backend.close()
    again = EmbeddedBackend(path, ann=QUANTISED)
    part = again._parts["p"]
    assert part.searches_graph and str(part.graph.dtype).endswith("I8")
    np.testing.assert_array_equal(part.flat.vecs[part.flat.rows["e5"]], vecs[5])  # not int8 copies
    assert recall(again) >= 0.99
    again.close()
    as_f32 = EmbeddedBackend(path, ann=AnnIndexConfig(exact_below=2_000, dtype="f32"))
    assert "rebuilding it" in caplog.text
    assert str(as_f32._parts["p"].graph.dtype).endswith("F32") and as_f32._parts["p"].flat is None
    assert recall(as_f32) >= 0.99
    as_f32.close()
