"""The embedded backend: in-process nearest-neighbour search, persisted to SQLite.

Partitions smaller than ``AnnIndexConfig.exact_below`` are a plain float32 matrix searched
exactly (faster there, and exact). From a tenth of that size a partition also gets a
usearch HNSW graph, built once from the matrix and then kept up to date one insert per
write (no rebuilds later); from ``exact_below`` on, searches walk the graph. A float32 graph
then replaces the matrix; an f16/i8 graph keeps it and re-ranks its candidates on it
(``AnnIndexConfig.rescore``), so similarities stay exact. The graphs are saved to the cache file on :meth:`EmbeddedBackend.close` (and at interpreter exit) and
restored on open, then brought up to date with the entries written since.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

from .._errors import ConfigurationError
from ._entry import CacheEntry
from ._signals import Neighbor

__all__ = ["AnnIndexConfig", "EmbeddedBackend"]

logger = logging.getLogger("llm_cost_hooks.cache")


class AnnIndexConfig(BaseModel):
    """How the embedded backend searches a partition.

    Below ``exact_below`` vectors a partition is searched exactly (brute force). From a
    tenth of that, its vectors also go into a usearch HNSW graph (``connectivity`` links
    per node, ``expansion_add`` candidates while inserting; built once from the vectors at
    that point, then one insert per write), searched from ``exact_below`` on with
    ``expansion_search`` candidates: higher finds more of the true neighbours, slower.
    ``dtype`` f16 or i8 stores the graph's vectors smaller (faster walks, less memory for
    the graph) and keeps the float32 matrix beside it: the ``rescore`` best candidates of
    the walk are re-ranked on it. ``python -m bench ann`` measures recall against exact
    search on 100k real text vectors. ``enabled=False`` searches every partition exactly.

    Defaults from ``python -m bench.ann_sweep`` on 100k real text vectors: M 16 and
    expansion_search 64 find 0.9965 of the true top 10 (1.000 of the top 1) at 0.52 ms
    CPU per query; an i8 graph (M 32, expansion_add 256) re-ranking 32 candidates found
    0.998 at 0.35 ms and needs the float32 matrix beside it.

    >>> AnnIndexConfig().expansion_search
    64
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    exact_below: int = Field(
        default=10_000, ge=1, description="Partition size from which the HNSW graph is searched."
    )
    connectivity: int = Field(default=16, ge=2, le=256)
    expansion_add: int = Field(default=128, ge=1)
    expansion_search: int = Field(default=64, ge=1)
    dtype: Literal["f32", "f16", "i8"] = Field(
        default="f32", description="How the graph stores its vectors (f16/i8: smaller, faster walks)."
    )
    rescore: int = Field(
        default=0,
        ge=0,
        description="With dtype f16/i8: this many graph candidates are re-ranked on the exact "
        "float32 vectors (kept beside the graph), so similarities and order are exact.",
    )


def _new_usearch_index(dim: int, cfg: AnnIndexConfig) -> Any:
    from usearch.index import Index

    return Index(
        ndim=dim,
        metric="ip",
        dtype=cfg.dtype,
        connectivity=cfg.connectivity,
        expansion_add=cfg.expansion_add,
        expansion_search=cfg.expansion_search,
    )


_warned_no_usearch = False


def _usearch_available() -> bool:
    global _warned_no_usearch
    try:
        import usearch.index  # noqa: F401
    except ImportError:
        if not _warned_no_usearch:
            _warned_no_usearch = True
            logger.warning(
                "usearch is not installed (pip install 'llm-cost-hooks[embed]'): the embedded cache "
                "searches every partition exactly, which is slow for large partitions"
            )
        return False
    return True


class _Slab:
    """Vectors in a growable float32 matrix, rows swap-removed, plus their entry ids."""

    __slots__ = ("ids", "n", "rows", "vecs")

    def __init__(self, dim: int, vecs: Any = None, ids: list[str] | None = None) -> None:
        import numpy as np

        self.ids: list[str] = list(ids or [])
        self.n = len(self.ids)
        if vecs is None:
            self.vecs = np.zeros((16, dim), np.float32)
        else:  # bulk fill with a little headroom for inserts
            self.vecs = np.zeros((max(16, self.n + self.n // 4), dim), np.float32)
            self.vecs[: self.n] = vecs
        self.rows: dict[str, int] = {entry_id: i for i, entry_id in enumerate(self.ids)}

    def add(self, entry_id: str, vec: Any) -> None:
        import numpy as np

        row = self.rows.get(entry_id)
        if row is not None:
            self.vecs[row] = vec
            return
        if self.n == len(self.vecs):
            grown = np.zeros((len(self.vecs) * 2, self.vecs.shape[1]), np.float32)
            grown[: self.n] = self.vecs[: self.n]
            self.vecs = grown
        self.vecs[self.n] = vec
        self.ids.append(entry_id)
        self.rows[entry_id] = self.n
        self.n += 1

    def remove(self, entry_id: str) -> bool:
        row = self.rows.pop(entry_id, None)
        if row is None:
            return False
        last = self.n - 1
        if row != last:
            self.vecs[row] = self.vecs[last]
            self.ids[row] = self.ids[last]
            self.rows[self.ids[row]] = row
        self.ids.pop()
        self.n -= 1
        return True

    def view(self) -> Any:
        return self.vecs[: self.n]


def _top_k(sims: Any, k: int) -> Any:
    """Indices of the ``k`` largest values, largest first."""
    import numpy as np

    if len(sims) > k:
        idx = np.argpartition(sims, len(sims) - k)[len(sims) - k :]
        return idx[np.argsort(-sims[idx], kind="stable")]
    return np.argsort(-sims, kind="stable")


class _Partition:
    """The vectors of one partition. Small: a plain matrix, searched exactly. From
    ``exact_below // 10`` vectors also a usearch HNSW graph (built once from the matrix,
    then one insert per write), searched instead of the matrix from ``exact_below`` on,
    when the matrix is dropped. Tiny partitions (most tenants of a multi-tenant app) so
    carry no graph (~60 KB each)."""

    __slots__ = ("cfg", "dim", "flat", "graph", "ids", "keys", "n", "next_key")

    def __init__(
        self,
        dim: int,
        cfg: AnnIndexConfig | None = None,
        graph: Any = None,
        keys: dict[str, int] | None = None,
        vectors: dict[str, Any] | None = None,
    ) -> None:
        self.dim = dim
        self.cfg = cfg or AnnIndexConfig()
        self.graph = graph
        self.keys: dict[str, int] = dict(keys or {})  # entry id -> graph key
        self.ids: dict[int, str] = {k: i for i, k in self.keys.items()}
        self.next_key = max(self.ids, default=-1) + 1
        self.n = len(self.keys)
        self.flat: _Slab | None = _Slab(dim)
        if graph is not None and (self.n < self.cfg.exact_below or self.keeps_vectors):
            order = list(self.keys)
            if order:  # the float32 vectors when given (a quantised graph's are approximate)
                mat = self._graph_vectors(order) if vectors is None else [vectors[i] for i in order]
                self.flat = _Slab(dim, mat, order)
        elif graph is not None:
            self.flat = None

    @property
    def graph_from(self) -> int:
        return max(1, self.cfg.exact_below // 10)

    @property
    def keeps_vectors(self) -> bool:
        """A quantised graph keeps the float32 matrix beside it: exact re-ranking of its
        candidates, exact search while small."""
        return self.cfg.dtype != "f32"

    @property
    def searches_graph(self) -> bool:
        return self.flat is None or (
            self.keeps_vectors and self.graph is not None and self.n >= self.cfg.exact_below
        )

    def _graph_vectors(self, entry_ids: list[str]) -> Any:
        import numpy as np

        got = self.graph.get(np.array([self.keys[i] for i in entry_ids], np.uint64))
        return (
            np.stack(got) if isinstance(got, (tuple, list)) else np.asarray(got).reshape(len(entry_ids), -1)
        )

    def _graph_add(self, entry_ids: list[str], mat: Any) -> None:
        import numpy as np

        keys = np.arange(self.next_key, self.next_key + len(entry_ids), dtype=np.uint64)
        self.graph.add(keys, np.ascontiguousarray(mat, dtype=np.float32), threads=0)
        for entry_id, key in zip(entry_ids, keys.tolist()):
            self.keys[entry_id] = key
            self.ids[key] = entry_id
        self.next_key += len(entry_ids)

    def _want_graph(self, size: int) -> bool:
        return self.graph is None and self.cfg.enabled and size >= self.graph_from and _usearch_available()

    def __contains__(self, entry_id: str) -> bool:
        return entry_id in self.keys if self.graph is not None else entry_id in self.flat.rows  # type: ignore[union-attr]

    def add(self, entry_id: str, vec: Any) -> None:
        """Add or replace a vector (one graph insert once the partition has a graph)."""
        new = entry_id not in self
        if self.graph is not None:
            old = self.keys.pop(entry_id, None)
            if old is not None:
                self.graph.remove(old)
                del self.ids[old]
            key = self.next_key
            self.next_key += 1
            self.graph.add(key, vec)
            self.keys[entry_id] = key
            self.ids[key] = entry_id
        if self.flat is not None:
            self.flat.add(entry_id, vec)
        if new:
            self.n += 1
        self._grow()

    def add_many(self, entry_ids: list[str], mat: Any) -> None:
        """Bulk insert of new entries (opening a cache)."""
        if not entry_ids:
            return
        final = self.n + len(entry_ids)
        if self._want_graph(final):
            self.graph = _new_usearch_index(self.dim, self.cfg)
            if self.flat is not None and self.flat.n:
                self._graph_add(list(self.flat.ids), self.flat.view())
        if self.graph is not None:
            self._graph_add(entry_ids, mat)
        keep = self.keeps_vectors or not (self.graph is not None and final >= self.cfg.exact_below)
        if self.flat is not None and keep:
            for entry_id, vec in zip(entry_ids, mat):
                self.flat.add(entry_id, vec)
        self.n = final
        self._grow()

    def _grow(self) -> None:
        if self._want_graph(self.n):  # once: the graph is built from the matrix, then kept up to date
            self.graph = _new_usearch_index(self.dim, self.cfg)
            self._graph_add(list(self.flat.ids), self.flat.view())  # type: ignore[union-attr]
        big = self.graph is not None and self.n >= self.cfg.exact_below
        if self.flat is not None and big and not self.keeps_vectors:
            self.flat = None  # large: the graph answers from now on

    def remove(self, entry_id: str) -> bool:
        """Remove a vector; False if it was not there."""
        if entry_id not in self:
            return False
        if self.graph is not None:
            key = self.keys.pop(entry_id)
            self.graph.remove(key)  # usearch reuses the freed slot for a later insert
            del self.ids[key]
        if self.flat is not None:
            self.flat.remove(entry_id)
        self.n -= 1
        if self.flat is None and self.n < self.cfg.exact_below // 2 and self.n:
            order = list(self.keys)  # small again: exact search is faster
            self.flat = _Slab(self.dim, self._graph_vectors(order), order)
        return True

    def top(self, vec: Any, k: int) -> tuple[list[str], Any]:
        """The ``k`` most similar entries (ids, similarities), most similar first."""
        import numpy as np

        q = np.asarray(vec, dtype=np.float32)
        if self.flat is None:
            found = self.graph.search(q, k)
            ids = [self.ids[key] for key in found.keys.tolist()]
            return ids, (1.0 - found.distances).astype(np.float32)
        if self.searches_graph:  # quantised graph: its candidates, re-ranked on float32
            found = self.graph.search(q, max(k, self.cfg.rescore))
            cand = [self.ids[key] for key in found.keys.tolist()]
            rows = self.flat.rows
            sims = self.flat.vecs[[rows[i] for i in cand]] @ q
            idx = _top_k(sims, k)
            return [cand[i] for i in idx.tolist()], sims[idx]
        sims = _row_dots(self.flat.view(), q)
        idx = _top_k(sims, k)
        flat_ids = self.flat.ids
        return [flat_ids[i] for i in idx.tolist()], sims[idx]


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """SQLite says the file is not a database or is corrupt (not: locked, read-only, full)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return code & 0xFF in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
    msg = str(exc).lower()
    return "malformed" in msg or "not a database" in msg


def _row_dots(mat: Any, vec: Any) -> Any:
    """``mat @ vec``. Up to ``_BLAS_MIN_ROWS`` rows on the calling thread: a BLAS product
    fans out to the BLAS thread pool, and on a busy machine waiting for those threads
    costs a scheduler slice (bench_cache, 10k rows under load: ~24 ms through BLAS vs ~2 ms
    here; quiet: 0.38 vs 0.55 ms). Larger matrices amortise the hand-off (100k rows: BLAS
    4.8 vs 10.9 ms quiet, 32 vs 26 ms under load), so they go through BLAS."""
    import numpy as np

    if len(mat) >= _BLAS_MIN_ROWS:
        return mat @ vec
    vecdot = getattr(np, "vecdot", None)  # numpy >= 2
    return vecdot(mat, vec) if vecdot is not None else np.einsum("ij,j->i", mat, vec)


_BLAS_MIN_ROWS = 50_000


class EmbeddedBackend:
    """In-process store: exact tier in a dict, semantic tier as cosine search per partition
    (exact while small, a usearch HNSW graph from ``ann.exact_below`` vectors, see
    :class:`AnnIndexConfig`), LRU-bounded, optionally persisted.

    ``path=None`` keeps it in memory; a file path persists every write to SQLite (WAL) so
    a restart keeps the cache. Answers are stored as the adapter's JSON string (no pickle);
    vectors as raw float32 bytes; the graphs of large partitions as usearch's own file
    format, saved by :meth:`close` and at interpreter exit (a graph that was not saved is
    rebuilt from the stored vectors on open).

    >>> b = EmbeddedBackend(ann=AnnIndexConfig(exact_below=5_000))
    >>> b.count()
    0
    """

    shared = False
    #: Partitions at least this large have their graph saved (smaller ones rebuild fast).
    save_graph_from = 2_000

    def __init__(
        self, path: str | Path | None = None, *, max_entries: int = 100_000, ann: AnnIndexConfig | None = None
    ) -> None:
        if max_entries < 1:
            raise ConfigurationError(f"max_entries must be >= 1, got {max_entries}.")
        self.max_entries = max_entries
        self.ann = ann or AnnIndexConfig()
        self._lock = threading.RLock()
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()  # LRU order, oldest first
        self._tenants: Counter[str] = Counter()  # entries per tenant (has_named_tenants)
        self._with_vec: set[str] = set()
        self._exact: dict[str, str] = {}
        self._parts: dict[str, _Partition] = {}
        self.corrupt = 0
        self._db: sqlite3.Connection | None = None
        self._tenants_asked_at: int | None = None  # the file's data_version at has_named_tenants
        self._tenants_db: sqlite3.Connection | None = None  # has_named_tenants' own connection
        self._tenants_lock = threading.Lock()
        self.path = None if path in (None, "", ":memory:") else Path(path)
        if self.path is not None:
            self._open()
            ref = weakref.ref(self)

            def _close_at_exit() -> None:
                backend = ref()
                if backend is not None:
                    backend.close()

            atexit.register(_close_at_exit)

    # ------------------------------------------------------------ persistence
    def _open(self) -> None:
        """Open the file and load its entries. A file that is not a readable database (a
        truncated copy, a disk fault, another program's file) is moved aside with a warning
        and the cache starts empty: a cache can always be refilled, a start-up crash cannot."""
        assert self.path is not None
        try:
            self._load(self._connect())
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise ConfigurationError(f"cannot open the cache file {str(self.path)!r}: {exc}") from exc
            if self._db is not None:
                self._db.close()
                self._db = None
            self._entries.clear()
            self._tenants.clear()
            self._exact.clear()
            self._parts.clear()
            self._with_vec.clear()
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{self.path}{suffix}")
                if part.exists():
                    part.replace(Path(f"{aside}{suffix}"))
            logger.warning(
                "cache file %s is unreadable (%s); moved to %s, the cache starts empty", self.path, exc, aside
            )
            self._load(self._connect())

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"cannot open the cache file {str(self.path)!r}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, data TEXT NOT NULL, vec BLOB)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS ann_graph "
                "(partition TEXT PRIMARY KEY, dim INTEGER NOT NULL, graph BLOB NOT NULL, keys TEXT NOT NULL)"
            )
            db.execute("DROP TABLE IF EXISTS ann_index")  # the previous (IVF) index's centroids
        except sqlite3.Error:
            db.close()
            raise
        self._db = db
        return db

    def _load(self, db: sqlite3.Connection) -> None:
        now = time.time()
        dropped: list[str] = []
        rows: list[tuple[CacheEntry, int | None]] = []  # an entry and its vector's size
        # Vectors are read in a second pass, and only those a saved graph does not hold:
        # a large cache's open then neither copies nor keeps them all.
        for entry_id, data, nbytes in db.execute("SELECT id, data, length(vec) FROM entries ORDER BY rowid"):
            try:
                entry = CacheEntry.model_validate_json(data)
                if nbytes is not None and (nbytes == 0 or nbytes % 4):
                    raise ValueError(f"a vector of {nbytes} bytes")
            except Exception:
                self.corrupt += 1
                dropped.append(entry_id)
                continue
            if entry.expired(now):
                dropped.append(entry_id)
                continue
            rows.append((entry, None if nbytes is None else nbytes // 4))
        if len(rows) > self.max_entries:  # oldest first: keep the newest
            dropped += [e.id for e, _ in rows[: len(rows) - self.max_entries]]
            rows = rows[len(rows) - self.max_entries :]
        pending: dict[str, list[tuple[str, int]]] = {}
        for entry, dim in rows:
            # Two processes that answered the same request each wrote a row: the later wins.
            dropped += self._insert(entry, None)
            if dim is not None:
                pending.setdefault(entry.partition, []).append((entry.id, dim))
        del rows
        for partition, items in list(pending.items()):
            pending[partition] = [(i, d) for i, d in items if i in self._entries]
            if not pending[partition]:
                del pending[partition]
        for partition, items in pending.items():
            dims = {d for _, d in items}
            if len(dims) != 1:  # vectors of another embedder in the same partition: keep the newest size
                dim = items[-1][1]
                for i, d in items:
                    if d != dim:
                        dropped.append(i)
                        self._remove_one(i)
                pending[partition] = [(i, d) for i, d in items if d == dim]
        graphs = {p: self._restore_graph(db, p, items[0][1]) for p, items in pending.items()}
        need: set[str] = set()
        for partition, items in pending.items():
            graph, keys = graphs[partition]
            exact_graph = graph is not None and self.ann.dtype == "f32"  # its vectors are the stored ones
            need.update(i for i, _ in items if not (exact_graph and i in keys))
        vecs: dict[str, Any] = {}
        if need:  # only a file with vectors needs numpy (an exact-only cache stores none)
            import numpy as np
        if need and len(need) * 4 < len(self._entries):  # a few: one lookup each
            for i in need:
                got = db.execute("SELECT vec FROM entries WHERE id = ?", (i,)).fetchone()
                vecs[i] = np.frombuffer(got[0], dtype=np.float32)
        elif need:
            for entry_id, vec in db.execute("SELECT id, vec FROM entries WHERE vec IS NOT NULL"):
                if entry_id in need:
                    vecs[entry_id] = np.frombuffer(vec, dtype=np.float32)
        for partition, items in pending.items():
            self._load_partition(partition, items, graphs[partition], vecs)
        if dropped:
            db.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in dropped])
        self._drop_saved_graphs(keep=set(self._parts))

    def _restore_graph(self, db: sqlite3.Connection, partition: str, dim: int) -> tuple[Any, dict[str, int]]:
        """A partition's saved graph and its key map, or ``(None, {})``."""
        import json

        row = db.execute(
            "SELECT dim, graph, keys FROM ann_graph WHERE partition = ?", (partition,)
        ).fetchone()
        if row is None or row[0] != dim or not self.ann.enabled or not _usearch_available():
            return None, {}
        try:
            from usearch.index import Index

            graph = Index.restore(bytes(row[1]))
            keys = {str(k): int(v) for k, v in json.loads(row[2]).items()}
            if graph is None or graph.ndim != dim or len(graph) != len(keys):
                raise ValueError("graph and key map disagree")
            if str(graph.dtype).rsplit(".", 1)[-1].lower() != self.ann.dtype:
                raise ValueError(f"saved as {graph.dtype}, configured {self.ann.dtype}")
            # usearch has a setter; mypy reads its property as read-only (the setter is
            # declared after another property's)
            graph.expansion_search = self.ann.expansion_search  # type: ignore[misc]
        except Exception as exc:
            logger.warning("saved vector index of a cache partition unusable (%s); rebuilding it", exc)
            return None, {}
        return graph, keys

    def _load_partition(
        self,
        partition: str,
        items: list[tuple[str, int]],
        restored: tuple[Any, dict[str, int]],
        vecs: dict[str, Any],
    ) -> None:
        """A partition's search structure: its saved graph brought up to date with the
        entries (written or removed since it was saved), or a new one."""
        import numpy as np

        dim = items[0][1]
        graph, keys = restored
        present = {i for i, _ in items}
        if graph is not None:
            stale = [k for i, k in keys.items() if i not in present]
            if stale:
                graph.remove(np.array(stale, np.uint64))
            keys = {i: k for i, k in keys.items() if i in present}
        # A float32 graph's vectors are the stored ones; a quantised graph needs the originals.
        given = vecs if graph is not None and self.ann.dtype != "f32" else None
        part = _Partition(dim, self.ann, graph=graph, keys=keys, vectors=given)
        missing = [i for i, _ in items if i not in keys]
        if missing:
            part.add_many(missing, np.stack([vecs[i] for i in missing]).astype(np.float32))
        self._parts[partition] = part
        self._with_vec.update(present)

    def save_index(self) -> int:
        """Save the graphs of the large partitions into the cache file (done by
        :meth:`close` and at exit); the number saved. In-memory caches: 0."""
        import json

        with self._lock:
            if self._db is None:
                return 0
            saved = []
            for name, part in self._parts.items():
                if part.graph is None or part.n < self.save_graph_from:
                    continue
                self._db.execute(
                    "INSERT OR REPLACE INTO ann_graph (partition, dim, graph, keys) VALUES (?, ?, ?, ?)",
                    (name, part.dim, bytes(part.graph.save()), json.dumps(part.keys)),
                )
                saved.append(name)
            self._drop_saved_graphs(keep=set(saved))
            return len(saved)

    def _drop_saved_graphs(self, keep: set[str]) -> None:
        """Delete saved graphs of partitions not in ``keep`` (one statement per row: any
        number of partitions, no SQL variable limit)."""
        assert self._db is not None
        stale = [(p,) for (p,) in self._db.execute("SELECT partition FROM ann_graph") if p not in keep]
        if stale:
            self._db.executemany("DELETE FROM ann_graph WHERE partition = ?", stale)

    def _persist(self, entry: CacheEntry, vec: Any) -> None:
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO entries (id, data, vec) VALUES (?, ?, ?)",
                (entry.id, entry.model_dump_json(), None if vec is None else vec.astype("float32").tobytes()),
            )

    def _unpersist(self, ids: Iterable[str]) -> None:
        if self._db is not None:
            self._db.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in ids])

    # ------------------------------------------------------------------- core
    def _insert(self, entry: CacheEntry, vec: Any) -> list[str]:
        """Add ``entry``; the ids of other entries it replaced (same exact key)."""
        replaced = []
        old = self._entries.get(entry.id)
        if old is not None:
            self._remove_one(old.id)
        prev = self._exact.get(entry.exact_key)
        if prev is not None and prev != entry.id:
            self._remove_one(prev)
            replaced.append(prev)
        self._entries[entry.id] = entry
        self._tenants[entry.tenant] += 1
        self._exact[entry.exact_key] = entry.id
        if vec is not None:
            part = self._parts.get(entry.partition)
            if part is None:
                part = self._parts[entry.partition] = _Partition(len(vec), self.ann)
            part.add(entry.id, vec)
            self._with_vec.add(entry.id)
        return replaced

    def _remove_one(self, entry_id: str) -> CacheEntry | None:
        entry = self._entries.pop(entry_id, None)
        if entry is None:
            return None
        left = self._tenants[entry.tenant] - 1
        if left:
            self._tenants[entry.tenant] = left
        else:
            del self._tenants[entry.tenant]
        if self._exact.get(entry.exact_key) == entry_id:
            del self._exact[entry.exact_key]
        if entry_id in self._with_vec:
            self._with_vec.discard(entry_id)
            part = self._parts.get(entry.partition)
            if part is not None:
                part.remove(entry_id)
                if part.n == 0:
                    del self._parts[entry.partition]
        return entry

    def _evict(self) -> list[str]:
        gone = []
        while len(self._entries) > self.max_entries:
            entry_id = next(iter(self._entries))
            self._remove_one(entry_id)
            gone.append(entry_id)
        if gone:
            self._unpersist(gone)
        return gone

    # ----------------------------------------------------------- backend API
    def get_exact(self, exact_key: str) -> CacheEntry | None:
        with self._lock:
            entry_id = self._exact.get(exact_key)
            if entry_id is None:
                return None
            entry = self._entries[entry_id]
            if entry.expired():
                self.delete([entry_id])
                return None
            self._entries.move_to_end(entry_id)
            return entry

    def search(self, partition: str, vec: Any, k: int) -> list[Neighbor]:
        with self._lock:
            part = self._parts.get(partition)
            if part is None or part.n == 0:
                return []
            ids, sims = part.top(vec, k)
            now = time.time()
            out: list[Neighbor] = []
            stale: list[str] = []
            for entry_id, s in zip(ids, sims.tolist()):
                entry = self._entries.get(entry_id)
                if entry is None:  # never expected: a vector without its entry is not served
                    continue
                if entry.expired(now):
                    stale.append(entry.id)
                    continue
                out.append(Neighbor(entry.id, float(s), entry.answer_key, entry))
        if stale:
            self.delete(stale)
        return out

    def touch(self, entry_id: str) -> None:
        with self._lock:
            if entry_id in self._entries:
                self._entries.move_to_end(entry_id)

    def get(self, entry_id: str) -> CacheEntry | None:
        with self._lock:
            return self._entries.get(entry_id)

    def put(self, entry: CacheEntry, vec: Any) -> None:
        with self._lock:
            replaced = self._insert(entry, vec)
            self._persist(entry, vec)
            if replaced:  # a row left behind would come back on the next open
                self._unpersist(replaced)
            self._evict()

    def delete(self, entry_ids: Iterable[str]) -> int:
        with self._lock:
            gone = [i for i in entry_ids if self._remove_one(i) is not None]
            self._unpersist(gone)
            return len(gone)

    def invalidate(self, **match: str | None) -> int:
        """Delete entries whose fields equal every given (non-None) value."""
        want = {k: v for k, v in match.items() if v is not None}
        with self._lock:
            ids = [e.id for e in self._entries.values() if all(getattr(e, k) == v for k, v in want.items())]
        return self.delete(ids)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._tenants.clear()
            self._with_vec.clear()
            self._exact.clear()
            self._parts.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM entries")
                self._db.execute("DELETE FROM ann_graph")

    def count(self) -> int:
        return len(self._entries)

    def has_named_tenants(self, default_tenant: str) -> bool:
        """Whether an entry was written under a tenant other than ``default_tenant``: the
        entries in memory (counted per tenant), then, for a file another process changed
        since the last ask (SQLite's ``data_version``), one pass over the file's rows on a
        connection of its own, so lookups and writes do not wait for it."""
        with self._lock:
            if any(t != default_tenant for t in self._tenants):
                return True
            if self.path is None or self._db is None:
                return False
        with self._tenants_lock:  # one asker at a time; the file's lock is SQLite's
            if self._tenants_db is None:
                self._tenants_db = sqlite3.connect(str(self.path), check_same_thread=False)
            db = self._tenants_db
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version == self._tenants_asked_at:
                return False
            # The default tenant's field as the entry's JSON spells it, compact or with the
            # space `json.dumps` puts after the colon (json_extract would cut the default
            # tenant's leading NUL); an entry has no other "tenant" key, and a quote inside a
            # string value is escaped, so a row with neither spelling is a named tenant's.
            value = pydantic_core.to_json(default_tenant).decode()
            row = db.execute(
                "SELECT 1 FROM entries WHERE instr(data, ?) = 0 AND instr(data, ?) = 0 LIMIT 1",
                ('"tenant":' + value, '"tenant": ' + value),
            ).fetchone()
            self._tenants_asked_at = version
            return row is not None

    def entries(self) -> list[CacheEntry]:
        with self._lock:
            return list(self._entries.values())

    def close(self) -> None:
        """Save the large partitions' graphs and close the file (idempotent)."""
        with self._lock:
            if self._db is not None:
                try:
                    self.save_index()
                except Exception as exc:
                    logger.warning(
                        "could not save the cache's vector index (%s); it is rebuilt on next open", exc
                    )
                self._db.close()
                self._db = None
        with self._tenants_lock:
            if self._tenants_db is not None:
                self._tenants_db.close()
                self._tenants_db = None

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "memory"
        return f"EmbeddedBackend({where}, entries={len(self._entries)}, max_entries={self.max_entries})"
