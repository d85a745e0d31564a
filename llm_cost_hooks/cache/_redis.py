"""The shared backend: Redis Stack (RediSearch) through redisvl.

Layout under ``prefix`` (default ``llmch``):

* ``{prefix}:x:{exact_key}`` — the exact tier: a plain string key holding the entry JSON
  (one GET per exact hit);
* ``{prefix}:e:{entry_id}`` — a hash per entry, indexed by the redisvl index
  ``{prefix}-idx``: tag fields for the partition and for invalidation (tenant, route,
  prompt and corpus version, stored as hashes so any id is a safe tag), and a cosine
  vector field: HNSW by default (``algorithm="flat"`` for exact brute force).

Both hold the entry JSON behind a layout marker, ``{"layout":1,`` (then, with an HMAC key,
``"mac":"<hex>",``); a value without it is another program's, another layout's or a forgery,
and is a miss. Both keys get the entry's expiry as a native Redis TTL (fixed at write). Searches use a
``@partition:{...}`` tag pre-filter with KNN, so one tenant's request can never reach
another tenant's vectors. With HNSW, small partitions are scanned exactly and large ones
searched through the graph; ``ef_runtime`` sets the graph search's breadth (bench_cache
measures its recall against exact search at 10k and 100k entries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .._errors import ConfigurationError, MissingExtraError
from .._redis import RedisConnection, redacted_url, redis_module
from ._entry import CacheEntry
from ._scope import digest
from ._signals import Neighbor

__all__ = ["RedisBackend"]

logger = logging.getLogger("llm_cost_hooks.cache")

_TAG_FIELDS = ("tenant", "route", "prompt_version", "corpus_version")
# Every value this layout writes starts so; a reader never guesses at any other.
_LAYOUT = b'{"layout":1,'
_SIGNED = b'{"layout":1,"mac":"'
_MAC_END = len(_SIGNED) + 64


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _rows(res: Any) -> list[tuple[str, dict[str, str]]]:
    """``(key, fields)`` of an FT.SEARCH reply, RESP2 (list) or RESP3 (dict)."""
    if isinstance(res, dict):
        rows = res.get(b"results", res.get("results")) or []
        out = []
        for r in rows:
            key = _s(r.get(b"id", r.get("id")))
            extra = r.get(b"extra_attributes", r.get("extra_attributes")) or {}
            out.append((key, {_s(k): _s(v) for k, v in extra.items()}))
        return out
    out = []
    i = 1
    while i < len(res):
        key = _s(res[i])
        f = res[i + 1] if i + 1 < len(res) and isinstance(res[i + 1], list) else None
        if f is None:  # NOCONTENT: keys only
            out.append((key, {}))
            i += 1
            continue
        out.append((key, {_s(f[j]): _s(f[j + 1]) for j in range(0, len(f), 2)}))
        i += 2
    return out


def _total(res: Any) -> int:
    """The total count of an FT.SEARCH reply (RESP2 list or RESP3 dict)."""
    if isinstance(res, dict):
        total = res.get(b"total_results", res.get("total_results"))
        return int(total or 0)
    return int(res[0])


def _vector_algorithm(info: Any) -> str | None:
    """``"hnsw"`` / ``"flat"``: the vector field's algorithm in an FT.INFO reply (RESP2 or 3)."""
    if isinstance(info, dict):
        items = list(info.items())
    elif isinstance(info, list):
        items = list(zip(info[::2], info[1::2]))
        for x in info:  # RESP2 nests attributes as flat lists inside lists
            if isinstance(x, list):
                found = _vector_algorithm(x)
                if found:
                    return found
    else:
        return None
    for key, value in items:
        if _s(key).lower() == "algorithm" and isinstance(value, (bytes, str)):
            return _s(value).lower()
        if isinstance(value, (dict, list)):
            found = _vector_algorithm(value)
            if found:
                return found
    return None


def _index_missing(exc: BaseException) -> bool:
    """True for RediSearch's "the index does not exist" reply (after FLUSHALL, FT.DROPINDEX
    or a restart without persistence)."""
    msg = str(exc).lower()
    return "no such index" in msg or "unknown index name" in msg


def _tag(value: str | None) -> str:
    return digest("t", value)


class RedisBackend:
    """Cache entries in Redis Stack, shared by every process that uses the same ``prefix``.

    ``timeout_s`` bounds every Redis call (a slow or down Redis is a miss, not a hang);
    the cache core adds a circuit breaker. ``algorithm``: ``"hnsw"`` (default) or
    ``"flat"`` (exact, linear), fixed when the index is created under ``prefix``. With HNSW
    a partition of at least ``graph_min_entries`` that holds at least a fifth of the index
    is searched through the graph (approximate; ``ef_runtime`` sets its breadth), smaller
    ones by an exact scan of their documents. Size: set ``maxmemory`` with an LRU policy
    on the server (``allkeys-lru``); entries also expire by their TTL.

    >>> backend = RedisBackend("redis://localhost:6379")  # doctest: +SKIP
    """

    shared = True

    def __init__(
        self,
        redis_url: str = "redis://localhost:6379",
        *,
        prefix: str = "llmch",
        timeout_s: float = 0.25,
        client: Any = None,
        algorithm: str = "hnsw",
        ef_runtime: int = 100,
        hnsw_m: int = 16,
        ef_construction: int = 200,
        graph_min_entries: int = 2000,
        size_refresh_s: float = 10.0,
        hmac_key: str | None = None,
    ) -> None:
        # Fails early (a clear error) when the redis extra is missing.
        redis_module("The Redis cache backend")
        if not prefix or any(c in prefix for c in " {}*"):
            raise ConfigurationError(
                f"invalid Redis key prefix {prefix!r}: use letters, digits, '_', '-' or ':'."
            )
        if algorithm not in ("hnsw", "flat"):
            raise ConfigurationError(f"algorithm must be 'hnsw' or 'flat', got {algorithm!r}.")
        self.prefix = prefix
        self.algorithm = algorithm
        self.ef_runtime = int(ef_runtime)
        self._hnsw = {
            "m": int(hnsw_m),
            "ef_construction": int(ef_construction),
            "ef_runtime": int(ef_runtime),
        }
        self._queries: dict[tuple[int, bool], str] = {}
        self._sizes: dict[str, tuple[float, bool]] = {}
        self.size_refresh_s = size_refresh_s
        self.graph_min_entries = graph_min_entries
        self.index_name = f"{prefix}-idx"
        self.redis_url = redis_url
        self.client = RedisConnection(
            redis_url,
            connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            decode_responses=False,
            client=client,
            feature="The Redis cache backend",
        ).sync()
        self._dim: int | None = None
        self._lock = threading.Lock()
        self.corrupt = 0
        #: Called once per unreadable entry (the cache core counts it in ``stats.corrupt``).
        self.on_corrupt: Callable[[], None] | None = None
        self.recreated = 0  # times the index was found missing and created again
        if hmac_key is None:
            from .._settings import get_settings

            hmac_key = get_settings().cache_hmac_key
        self._key = hmac_key.encode() if hmac_key else None
        self._corrupt_logged = False

    # ----------------------------------------------------------------- index
    def _ensure_index(self, dim: int) -> None:
        if self._dim == dim:
            return
        with self._lock:
            if self._dim == dim:
                return
            try:
                from redisvl.index import SearchIndex
            except ImportError as exc:
                raise MissingExtraError("redis", "redisvl", "The Redis cache backend") from exc
            schema = {
                "index": {"name": self.index_name, "prefix": f"{self.prefix}:e:", "storage_type": "hash"},
                "fields": [
                    {"name": "partition", "type": "tag"},
                    *({"name": f, "type": "tag"} for f in _TAG_FIELDS),
                    {
                        "name": "vec",
                        "type": "vector",
                        "attrs": {
                            "dims": dim,
                            "distance_metric": "cosine",
                            "algorithm": self.algorithm,
                            "datatype": "float32",
                            **(self._hnsw if self.algorithm == "hnsw" else {}),
                        },
                    },
                ],
            }
            index = SearchIndex.from_dict(schema, redis_client=self.client)
            if not index.exists():
                index.create(overwrite=False)
            else:  # created earlier, maybe by another version or setting: query it as it is
                existing = _vector_algorithm(self.client.execute_command("FT.INFO", self.index_name))
                if existing in ("hnsw", "flat") and existing != self.algorithm:
                    logger.warning(
                        "Redis index %s exists with a %s vector field; using it (asked for %s)",
                        self.index_name,
                        existing.upper(),
                        self.algorithm.upper(),
                    )
                    self.algorithm = existing
            self._dim = dim

    def _ekey(self, entry_id: str) -> str:
        return f"{self.prefix}:e:{entry_id}"

    def _xkey(self, exact_key: str) -> str:
        return f"{self.prefix}:x:{exact_key}"

    def _corrupt(self, key: str, why: str, size: int) -> None:
        self.corrupt += 1
        if self.on_corrupt is not None:
            self.on_corrupt()
        # Once per process: a shared Redis full of another version's entries would otherwise
        # log on every call. The count goes on in the cache's stats.corrupt.
        log = logger.debug if self._corrupt_logged else logger.warning
        self._corrupt_logged = True
        log(
            "cache entry %s in Redis is unreadable (%s, %d bytes): a miss, left in place (it may be "
            "another version's); further ones are counted in the cache's stats.corrupt",
            key,
            why,
            size,
        )

    def _mac(self, body: bytes) -> bytes:
        assert self._key is not None
        return hmac.new(self._key, body, hashlib.sha256).hexdigest().encode()

    def _dump(self, entry: CacheEntry) -> bytes:
        body = entry.model_dump_json().encode()
        if self._key is None:
            return _LAYOUT + body[1:]
        return _SIGNED + self._mac(body) + b'",' + body[1:]

    def _parse(self, raw: bytes | str | None, key: str) -> CacheEntry | None:
        # Only ever read as JSON, and only in this layout: a shared store may hold anything
        # (a pickle, a stray value, another version's entry, a forgery).
        if raw is None:
            return None
        data = raw.encode() if isinstance(raw, str) else raw
        if self._key is not None:
            body = b"{" + data[_MAC_END + 2 :]
            if not (data.startswith(_SIGNED) and data[_MAC_END : _MAC_END + 2] == b'",') or not (
                hmac.compare_digest(data[len(_SIGNED) : _MAC_END], self._mac(body))
            ):
                self._corrupt(key, "no valid HMAC", len(data))
                return None
        elif not data.startswith(_LAYOUT):
            self._corrupt(key, "unknown layout", len(data))
            return None
        else:
            body = data
        try:
            return CacheEntry.model_validate_json(body)
        except Exception as exc:
            self._corrupt(key, type(exc).__name__, len(data))
            return None

    def require_search(self) -> None:
        """Raise :class:`ConfigurationError` when the server answers but has no RediSearch
        (plain Redis, not Redis Stack): the semantic tier cannot work there. A server that
        is down or slow is a runtime condition (misses), not an error here."""
        try:
            self.client.execute_command("FT._LIST")
        except Exception as exc:
            if "unknown command" in str(exc).lower():
                raise ConfigurationError(
                    f"Redis at {redacted_url(self.redis_url)} has no RediSearch module (FT._LIST: {exc}): the "
                    "semantic cache needs Redis Stack or Redis 8; use semantic=False for the exact tier only."
                ) from exc

    # ------------------------------------------------------------ backend API
    def get_exact(self, exact_key: str) -> CacheEntry | None:
        key = self._xkey(exact_key)
        return self._parse(self.client.get(key), key)

    def _query(self, k: int, graph: bool) -> str:
        # Built once per (k, policy). The partition id is hex, so it needs no tag escaping
        # (the string redisvl's Tag("partition") == p builds, without its per-call cost).
        q = self._queries.get((k, graph))
        if q is None:
            if graph:  # walk the HNSW graph, filtering the partition in batches
                q = f"=>[KNN {k} @vec $B HYBRID_POLICY BATCHES EF_RUNTIME {self.ef_runtime} AS d]"
            else:  # exact scan of the partition's documents only
                q = f"=>[KNN {k} @vec $B HYBRID_POLICY ADHOC_BF AS d]"
            self._queries[(k, graph)] = q
        return q

    def _use_graph(self, partition: str) -> bool:
        """HNSW graph walk for large partitions that fill much of the index, an exact scan
        otherwise. RediSearch's own choice scanned a 10k-entry partition holding the whole
        index (bench_cache: ~2.4x slower than the graph walk there); its cost model has no
        view of our partitions, so we count them (cached for ``size_refresh_s``)."""
        if self.algorithm == "flat":
            return False
        now = time.monotonic()
        cached = self._sizes.get(partition)
        if cached is None or now - cached[0] > self.size_refresh_s:
            part = _total(
                self.client.execute_command(
                    "FT.SEARCH",
                    self.index_name,
                    f"@partition:{{{partition}}}",
                    "LIMIT",
                    "0",
                    "0",
                    "DIALECT",
                    "2",
                )
            )
            everything = _total(
                self.client.execute_command(
                    "FT.SEARCH", self.index_name, "*", "LIMIT", "0", "0", "DIALECT", "2"
                )
            )
            graph = part >= self.graph_min_entries and part >= 0.2 * everything
            cached = self._sizes[partition] = (now, graph)
            if len(self._sizes) > 10_000:
                self._sizes.clear()
        return cached[1]

    def _recreate_index(self, dim: int) -> None:
        """The index vanished (FLUSHALL, restart without persistence): create it again.
        RediSearch then indexes the entry hashes still under the prefix in the background."""
        with self._lock:
            self._dim = None
            self._sizes.clear()
        self.recreated += 1
        logger.warning("Redis index %s is gone (server flushed or restarted); recreating it", self.index_name)
        self._ensure_index(dim)

    def search(self, partition: str, vec: Any, k: int) -> list[Neighbor]:
        self._ensure_index(len(vec))
        blob = vec.tobytes() if vec.dtype == "float32" else vec.astype("float32").tobytes()
        try:
            res = self._search(partition, blob, k)
        except Exception as exc:
            if not _index_missing(exc):
                raise
            self._recreate_index(len(vec))
            res = self._search(partition, blob, k)
        out: list[Neighbor] = []
        for key, fields in _rows(res):
            try:
                sim = 1.0 - float(fields["d"])
                ak = fields["answer_key"]
            except (KeyError, ValueError):
                self._corrupt(key, "index fields missing", 0)
                continue
            out.append(Neighbor(key.rsplit(":", 1)[-1], sim, ak))
        out.sort(key=lambda n: -n.similarity)
        return out

    def _search(self, partition: str, blob: bytes, k: int) -> Any:
        return self.client.execute_command(
            "FT.SEARCH",
            self.index_name,
            f"(@partition:{{{partition}}})" + self._query(k, self._use_graph(partition)),
            "PARAMS",
            "2",
            "B",
            blob,
            "RETURN",
            "2",
            "d",
            "answer_key",
            "LIMIT",
            "0",
            str(k),
            "DIALECT",
            "2",
        )

    def get(self, entry_id: str) -> CacheEntry | None:
        key = self._ekey(entry_id)
        return self._parse(self.client.hget(key, "data"), key)

    def get_many(self, entry_ids: list[str]) -> list[CacheEntry | None]:
        """Several entries in one round trip (learned answer keys read the neighbours' questions)."""
        keys = [self._ekey(i) for i in entry_ids]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "data")
        return [self._parse(raw, key) for raw, key in zip(pipe.execute(), keys)]

    def touch(self, entry_id: str) -> None:
        return None  # recency is Redis's job (maxmemory-policy allkeys-lru)

    def _fields(self, entry: CacheEntry, data: bytes, vec: Any) -> dict[str, Any]:
        """The entry hash's fields, ``data`` being ``_dump(entry)``."""
        mapping: dict[str, Any] = {
            "partition": entry.partition,
            "answer_key": entry.answer_key,
            "query": entry.query,
            "data": data,
            "xk": entry.exact_key,
            **{f: _tag(getattr(entry, f)) for f in _TAG_FIELDS},
        }
        if vec is not None:
            mapping["vec"] = vec.astype("float32").tobytes()
        return mapping

    def put(self, entry: CacheEntry, vec: Any) -> None:
        data = self._dump(entry)
        if vec is not None:
            self._ensure_index(len(vec))
        mapping = self._fields(entry, data, vec)
        ekey, xkey = self._ekey(entry.id), self._xkey(entry.exact_key)
        old = self.client.get(xkey)
        pipe = self.client.pipeline(transaction=True)
        if old is not None:  # the same exact request written again replaces the old entry
            try:
                pipe.delete(self._ekey(json.loads(old)["id"]))
            except (ValueError, KeyError, TypeError):
                pass
        pipe.hset(ekey, mapping=mapping)
        pipe.set(xkey, data)
        if entry.expires_at is not None:
            ms = int(entry.expires_at * 1000)
            pipe.pexpireat(ekey, ms)
            pipe.pexpireat(xkey, ms)
        pipe.execute()

    def delete(self, entry_ids: Iterable[str]) -> int:
        ids = list(entry_ids)
        if not ids:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for i in ids:
            pipe.hget(self._ekey(i), "xk")
        xks = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        for i, xk in zip(ids, xks):
            pipe.delete(self._ekey(i))
            if xk is not None:
                pipe.delete(self._xkey(xk.decode() if isinstance(xk, bytes) else xk))
        pipe.execute()
        return sum(1 for xk in xks if xk is not None)

    def invalidate(self, **match: str | None) -> int:
        from redisvl.query.filter import Tag

        want = {k: v for k, v in match.items() if v is not None}
        bad = set(want) - set(_TAG_FIELDS)
        if bad:
            raise ConfigurationError(f"Redis invalidation supports {list(_TAG_FIELDS)}; got {sorted(bad)}.")
        if not want:
            return 0
        if self._dim is None and not self._index_exists():
            return 0
        flt = None
        for k, v in want.items():
            expr = Tag(k) == _tag(v)
            flt = expr if flt is None else (flt & expr)
        total = 0
        while True:
            try:
                res = self.client.execute_command(
                    "FT.SEARCH", self.index_name, str(flt), "NOCONTENT", "LIMIT", "0", "1000", "DIALECT", "2"
                )
            except Exception as exc:
                if not _index_missing(exc) or self._dim is None:
                    raise
                self._recreate_index(self._dim)
                self._wait_indexed()
                continue
            keys = [k for k, _ in _rows(res)]
            if not keys:
                return total
            total += self.delete([k.rsplit(":", 1)[-1] for k in keys])

    def _wait_indexed(self, timeout_s: float = 10.0) -> None:
        """Wait (bounded) until a freshly created index has taken in the existing hashes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self.client.execute_command("FT.INFO", self.index_name)
            items = dict(zip(info[::2], info[1::2])) if isinstance(info, list) else dict(info)
            if str(_s(items.get(b"indexing", items.get("indexing", 0)))) in ("0", "0.0"):
                return
            time.sleep(0.05)

    def _index_exists(self) -> bool:
        try:
            self.client.execute_command("FT.INFO", self.index_name)
            return True
        except Exception:
            return False

    def clear(self) -> None:
        for pattern in (f"{self.prefix}:x:*", f"{self.prefix}:e:*"):
            batch = []
            for key in self.client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self.client.delete(*batch)
                    batch = []
            if batch:
                self.client.delete(*batch)

    def has_named_tenants(self, default_tenant: str) -> bool:
        """Whether the index holds an entry of a tenant other than ``default_tenant``: the
        tenant tag's distinct values (one per tenant), not the entries. No index yet: no."""
        if self._dim is None and not self._index_exists():
            return False
        values = self.client.execute_command("FT.TAGVALS", self.index_name, "tenant")
        default = _tag(default_tenant)
        return any((v.decode() if isinstance(v, bytes) else str(v)) != default for v in values)

    def count(self) -> int:
        return sum(1 for _ in self.client.scan_iter(match=f"{self.prefix}:x:*", count=1000))

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"RedisBackend({redacted_url(self.redis_url)!r}, prefix={self.prefix!r})"
