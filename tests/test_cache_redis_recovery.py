"""The Redis backend recovers from a server restart and from FLUSHALL: the vector index is
created again and semantic hits resume, with the real Redis Stack server."""

from __future__ import annotations

import time
import uuid
import zlib

import numpy as np
import pytest
import redis

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, DecisionPolicy, RedisBackend

pytestmark = pytest.mark.redis
SIM = CacheConfig(
    default=DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8), audit_sample_rate=0
)


class WordsEmbedder:
    """Bag of words hashed into 64 dims: paraphrases sharing most words are near."""

    name = "words-64"
    dim = 64

    def embed_one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for w in text.lower().replace("?", "").split():
            # crc32, not hash(): the same buckets under every PYTHONHASHSEED.
            v[zlib.crc32(w.encode()) % self.dim] += 1.0
        return v / max(float(np.linalg.norm(v)), 1e-9)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed_one(t) for t in texts])


def _core(url: str) -> CacheCore:
    backend = RedisBackend(url, prefix=f"r{uuid.uuid4().hex[:8]}", timeout_s=0.2)
    return CacheCore(backend, embedder=WordsEmbedder(), config=SIM)


def _store(core: CacheCore, q: str, answer: str) -> None:
    core.update(core.request(q, llm_string="m", scope=CacheScope(tenant="t")), answer)


def _semantic(core: CacheCore, q: str) -> str | None:
    hit = core.lookup(core.request(q, llm_string="m", scope=CacheScope(tenant="t")))
    return hit.entry.answer if hit is not None and hit.status == "semantic" else None


def _resume_seconds(core: CacheCore, limit_s: float = 60.0) -> float:
    """Seconds until a fresh write is served semantically again (the app keeps writing its
    misses and looking up, as it would in production)."""
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < limit_s:
        _store(core, f"how do I reset my card pin number {i}", f"A{i}")
        if _semantic(core, f"how can I reset my card pin number {i}") == f"A{i}":
            return time.monotonic() - t0
        i += 1
        time.sleep(0.2)
    pytest.fail(f"semantic hits did not resume within {limit_s:g} s")


def test_semantic_hits_resume_after_a_server_restart(redis_server, redis_clean_url: str) -> None:
    core = _core(redis_clean_url)
    _store(core, "how do I reset my card pin", "A")
    assert _semantic(core, "how can I reset my card pin") == "A"
    with redis_server.down():  # restarted without persistence: keys and index are gone
        for _ in range(5):
            assert _semantic(core, "how can I reset my card pin") is None  # a miss, not an exception
    took = _resume_seconds(core)
    print(f"semantic hits resumed {took:.1f} s after the restart")
    assert core.backend.recreated >= 1
    # Within the circuit breaker's retry interval plus a few round trips (generous: loaded CI).
    assert took < core._breaker.reset_seconds + 20
    assert core.stats.errors >= 1


def test_semantic_hits_resume_after_flushall(redis_clean_url: str) -> None:
    core = _core(redis_clean_url)
    _store(core, "how do I reset my card pin", "A")
    assert _semantic(core, "how can I reset my card pin") == "A"
    redis.Redis.from_url(redis_clean_url).flushall()
    assert _semantic(core, "how can I reset my card pin") is None  # the entry is gone: a miss
    took = _resume_seconds(core)
    print(f"semantic hits resumed {took:.1f} s after FLUSHALL")
    assert took < 10
    assert core.backend.recreated == 1 and core.stats.errors == 0


def test_entries_written_before_the_index_returns_are_found(redis_clean_url: str) -> None:
    """Entries written while the index was missing (after a flush, before any search) are
    indexed when it is recreated, and invalidation still finds them."""
    core = _core(redis_clean_url)
    _store(core, "seed question about cards", "seed")
    redis.Redis.from_url(redis_clean_url).flushall()
    _store(core, "how do I reset my card pin", "A")
    deadline = time.monotonic() + 10
    while _semantic(core, "how can I reset my card pin") != "A":
        assert time.monotonic() < deadline, "the entry written before the index came back was never found"
        time.sleep(0.05)
    redis.Redis.from_url(redis_clean_url).execute_command("FT.DROPINDEX", core.backend.index_name)
    assert core.invalidate(tenant="t") == 1
    assert _semantic(core, "how can I reset my card pin") is None
