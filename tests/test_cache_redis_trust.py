"""What a shared Redis may hold: values another version, another program or a forger wrote
under the cache's prefix are misses (counted, logged once, left in place), never served and
never raised into the chain. An optional HMAC key makes unsigned or altered entries misses."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import redis

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, DecisionPolicy, RedisBackend
from llm_cost_hooks.embeddings import default_embedder

pytestmark = pytest.mark.redis
SIM = CacheConfig(
    default=DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8), audit_sample_rate=0
)
Q = "How do I reset my PIN?"


def core(url: str, prefix: str, **kw: object) -> CacheCore:
    backend = RedisBackend(url, prefix=prefix, **kw)  # type: ignore[arg-type]
    c = CacheCore(backend, embedder=default_embedder(), config=SIM)
    backend.on_corrupt = c.count_corrupt  # as SemanticCache wires it
    return c


def ask(c: CacheCore, q: str = Q, tenant: str = "a") -> object:
    return c.request(q, llm_string="m", scope=CacheScope(tenant=tenant))


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_an_entry_of_another_layout_is_a_miss_counted_logged_once_and_left(
    redis_clean_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    c = core(redis_clean_url, prefix)
    r = redis.Redis.from_url(redis_clean_url)
    others = []
    for i, q in enumerate(["How do I reset my PIN?", "When will my card arrive?", "I lost my card"]):
        c.update(ask(c, q), f"answer {i}")
        (xkey,) = [k for k in r.keys(f"{prefix}:x:*") if k not in others]
        others.append(xkey)
        # the same entry as an older version (no layout marker) or a newer one would write it
        entry = json.loads(r.get(xkey))
        entry.pop("layout", None)
        other = {"layout": 2, **entry} if i else entry
        r.set(xkey, json.dumps(other))
        for ekey in r.keys(f"{prefix}:e:*"):
            r.hset(ekey, "data", json.dumps(other))
    with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks.cache"):
        for q in ["How do I reset my PIN?", "When will my card arrive?", "I lost my card"]:
            assert c.lookup(ask(c, q)) is None
    assert c.stats.corrupt >= 3 and c.stats.errors == 0
    warnings = [
        rec for rec in caplog.records if rec.levelno >= logging.WARNING and "unreadable" in rec.message
    ]
    assert len(warnings) == 1, caplog.text
    assert all(r.get(k) is not None for k in others)  # another version's entries stay for it


def test_an_entry_moved_under_another_tenants_key_is_not_served(redis_clean_url: str, prefix: str) -> None:
    c = core(redis_clean_url, prefix)
    r = redis.Redis.from_url(redis_clean_url)
    c.update(ask(c, tenant="b"), "b's answer")
    (bkey,) = r.keys(f"{prefix}:x:*")
    a_req = ask(c, tenant="a")
    r.set(f"{prefix}:x:{a_req.exact_key}", r.get(bkey))  # type: ignore[attr-defined]
    assert c.lookup(a_req) is None  # type: ignore[arg-type]
    assert c.stats.corrupt == 1


def test_a_vector_hash_tagged_with_another_partition_is_not_served(redis_clean_url: str, prefix: str) -> None:
    c = core(redis_clean_url, prefix)
    r = redis.Redis.from_url(redis_clean_url)
    c.update(ask(c, tenant="b"), "b's answer")
    (ekey,) = r.keys(f"{prefix}:e:*")
    r.delete(*r.keys(f"{prefix}:x:*"))  # only the semantic tier can find it now
    a_req = ask(c, q="How can I reset my PIN?", tenant="a")
    r.hset(ekey, "partition", a_req.partition)  # type: ignore[attr-defined]
    assert c.lookup(a_req) is None  # type: ignore[arg-type]
    assert c.stats.corrupt == 1 and c.stats.semantic_hits == 0


def test_with_an_hmac_key_only_entries_signed_with_it_are_served(redis_clean_url: str, prefix: str) -> None:
    signed = core(redis_clean_url, prefix, hmac_key="k1")
    signed.update(ask(signed), "signed answer")
    hit = signed.lookup(ask(signed))
    assert hit is not None and hit.entry.answer == "signed answer"

    r = redis.Redis.from_url(redis_clean_url)
    (xkey,) = r.keys(f"{prefix}:x:*")
    raw = r.get(xkey)
    assert raw is not None
    forged = raw.replace(b"signed answer", b"forged answer")  # altered after signing
    r.set(xkey, forged)
    for ekey in r.keys(f"{prefix}:e:*"):
        r.hset(ekey, "data", forged)
    assert signed.lookup(ask(signed)) is None

    unsigned = core(redis_clean_url, prefix)  # a writer without the key
    unsigned.update(ask(unsigned), "unsigned answer")
    assert signed.lookup(ask(signed)) is None
    other_key = core(redis_clean_url, prefix, hmac_key="k2")
    other_key.update(ask(other_key), "other key's answer")
    assert signed.lookup(ask(signed)) is None
    assert signed.stats.corrupt >= 3 and signed.stats.errors == 0
    # a reader without a key still reads signed entries (rolling out the key)
    signed.update(ask(signed), "signed again")
    again = unsigned.lookup(ask(unsigned))
    assert again is not None and again.entry.answer == "signed again"
