"""The Redis backend: same results as embedded, native TTL, isolation, outage handling."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from langchain_core.globals import set_llm_cache
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.cache import (
    CacheConfig,
    CacheCore,
    CacheScope,
    DecisionPolicy,
    EmbeddedBackend,
    RedisBackend,
)
from llm_cost_hooks.embeddings import default_embedder
from llm_cost_hooks.langchain import FakeChatModelWithUsage
from llm_cost_hooks.langchain._cache import SemanticCache

pytestmark = pytest.mark.redis
SIM = CacheConfig(
    default=DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8), audit_sample_rate=0
)

QUERIES = [
    "How do I reset my PIN?",
    "When will my card arrive?",
    "What is the exchange rate?",
    "I lost my card",
    "Can I pay by card in the shop?",
    "How do I close my account?",
]
PROBES = [
    "How can I reset my PIN?",
    "Where is my new card?",
    "What exchange rate do you use?",
    "My card is lost",
    "Can't I pay by card in the shop?",
    "Close my account please",
    "Weather in Paris?",
]


def cores(url: str, policy: DecisionPolicy | None = None, **redis_kw) -> tuple[CacheCore, CacheCore]:
    cfg = CacheConfig(default=policy, audit_sample_rate=0) if policy else SIM
    emb = default_embedder()
    return (
        CacheCore(EmbeddedBackend(), embedder=emb, config=cfg),
        CacheCore(RedisBackend(url, prefix=f"t{uuid.uuid4().hex[:8]}", **redis_kw), embedder=emb, config=cfg),
    )


# Search paths: HNSW index with an exact scan of a small partition (default), HNSW graph
# walk (forced for this small partition), FLAT index.
PATHS = {"hnsw-scan": {}, "hnsw-graph": {"graph_min_entries": 1}, "flat": {"algorithm": "flat"}}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("policy", [None, DecisionPolicy()])
def test_same_results_as_embedded(redis_clean_url: str, policy, path: str) -> None:
    emb_core, red_core = cores(redis_clean_url, policy, **PATHS[path])
    for core in (emb_core, red_core):
        for i, q in enumerate(QUERIES):
            core.update(
                core.request(q, llm_string="m", scope=CacheScope(tenant="t")), f"A{i}", answer_key=f"k{i % 3}"
            )
    for p in QUERIES + PROBES:
        a = emb_core.lookup(emb_core.request(p, llm_string="m", scope=CacheScope(tenant="t")))
        b = red_core.lookup(red_core.request(p, llm_string="m", scope=CacheScope(tenant="t")))
        assert (a is None) == (b is None), p
        if a is not None:
            assert (a.status, a.entry.answer) == (b.status, b.entry.answer)
            assert a.similarity == pytest.approx(b.similarity, abs=1e-4)
    assert emb_core.stats.model_dump() == red_core.stats.model_dump()
    part = emb_core.request("x", llm_string="m", scope=CacheScope(tenant="t")).partition
    assert red_core.backend._use_graph(part) is (path == "hnsw-graph")


def test_native_ttl_and_invalidation(redis_clean_url: str) -> None:
    _, core = cores(redis_clean_url)
    core.config = core.config.model_copy(update={"ttl_seconds": 30})
    e = core.update(
        core.request(
            "How do I reset my PIN?", llm_string="m", scope=CacheScope(tenant="a", prompt_version="v1")
        ),
        "A",
    )
    core.update(
        core.request(
            "What is the exchange rate?", llm_string="m", scope=CacheScope(tenant="b", corpus_version="c9")
        ),
        "B",
    )
    r = redis.Redis.from_url(redis_clean_url)
    ttl = r.pttl(f"{core.backend.prefix}:e:{e.id}")
    assert 0 < ttl <= 30_000 and r.pttl(f"{core.backend.prefix}:x:{e.exact_key}") > 0
    hit = core.lookup(
        core.request(
            "How do I reset my PIN?", llm_string="m", scope=CacheScope(tenant="a", prompt_version="v1")
        )
    )
    assert hit is not None and r.pttl(f"{core.backend.prefix}:e:{e.id}") <= ttl  # a hit does not extend it
    assert core.invalidate(tenant="a") == 1
    assert core.invalidate(corpus_version="c9") == 1
    assert core.backend.count() == 0


def test_hundred_tenants_zero_cross_hits(redis_clean_url: str) -> None:
    _, core = cores(redis_clean_url)
    tenants = [f"tenant-{i}" for i in range(100)]
    for t in tenants:
        core.update(
            core.request("How do I reset my PIN?", llm_string="m", scope=CacheScope(tenant=t)), f"answer-{t}"
        )
    for t in tenants:
        for q in ("How do I reset my PIN?", "How can I reset my PIN?"):
            hit = core.lookup(core.request(q, llm_string="m", scope=CacheScope(tenant=t)))
            assert hit is not None and hit.entry.answer == f"answer-{t}"
    assert core.lookup(core.request("How do I reset my PIN?", llm_string="m", scope=CacheScope())) is None


def test_shared_across_instances(redis_clean_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    a = SemanticCache(redis_url=redis_clean_url, redis_prefix=prefix, config=SIM)
    b = SemanticCache(redis_url=redis_clean_url, redis_prefix=prefix, config=SIM)
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | FakeChatModelWithUsage(
        responses=["x", "y", "z"]
    )
    try:
        set_llm_cache(a)
        first = chain.invoke({"q": "How do I reset my PIN?"}).content
        set_llm_cache(b)  # "another process"
        assert chain.invoke({"q": "How can I reset my PIN?"}).content == first
    finally:
        set_llm_cache(None)


def test_redis_down_is_a_bounded_miss(redis_server, redis_clean_url: str) -> None:
    cache = SemanticCache(
        redis_url=redis_clean_url, redis_prefix=f"t{uuid.uuid4().hex[:8]}", config=SIM, redis_timeout_s=0.2
    )
    model = FakeChatModelWithUsage(responses=[f"a{i}" for i in range(20)])
    set_llm_cache(cache)
    try:
        first = model.invoke("hello").content
        assert model.invoke("hello").content == first
        with redis_server.down():
            t0 = time.perf_counter()
            for _ in range(5):
                assert model.invoke("hello").content != first  # misses, never an exception
            elapsed = time.perf_counter() - t0
            assert cache.stats.errors >= 1 and cache.stats.skipped_while_open >= 1
        assert elapsed < 30  # bounded (timeouts + breaker), generous for a loaded box
    finally:
        set_llm_cache(None)


def test_corrupt_redis_entry_is_skipped(redis_clean_url: str) -> None:
    _, core = cores(redis_clean_url)
    req = core.request("hello there", llm_string="m", scope=CacheScope(tenant="t"))
    core.update(req, "A")
    r = redis.Redis.from_url(redis_clean_url)
    r.set(f"{core.backend.prefix}:x:{req.exact_key}", b"{not json")
    # The corrupt exact-key value is skipped; the search finds the entry itself, this very
    # question in this very partition, so it is served as the exact hit it is.
    hit = core.lookup(core.request("hello there", llm_string="m", scope=CacheScope(tenant="t")))
    assert hit is not None and (hit.status, hit.entry.answer) == ("exact", "A")
    assert core.backend.corrupt == 1


def test_get_many_returns_entries_in_order_in_one_round_trip(redis_clean_url: str) -> None:
    _, core = cores(redis_clean_url)
    ids = []
    for q in QUERIES[:3]:
        ids.append(core.update(core.request(q, llm_string="m", scope=CacheScope(tenant="t")), f"a: {q}").id)
    got = core.backend.get_many([ids[2], "no-such-entry", ids[0]])  # type: ignore[attr-defined]
    assert [e.query if e else None for e in got] == [QUERIES[2], None, QUERIES[0]]


def test_existing_index_algorithm_is_used(redis_clean_url: str) -> None:
    """An index created FLAT (an earlier version, another setting) keeps serving when a
    backend asks for HNSW on the same prefix: it adopts the existing algorithm."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    emb = default_embedder()
    flat = CacheCore(RedisBackend(redis_clean_url, prefix=prefix, algorithm="flat"), embedder=emb, config=SIM)
    flat.update(flat.request("How do I reset my PIN?", llm_string="m", scope=CacheScope(tenant="t")), "A")
    hnsw = CacheCore(
        RedisBackend(redis_clean_url, prefix=prefix, graph_min_entries=1), embedder=emb, config=SIM
    )
    hit = hnsw.lookup(hnsw.request("How can I reset my PIN?", llm_string="m", scope=CacheScope(tenant="t")))
    assert hit is not None and hit.status == "semantic" and hnsw.backend.algorithm == "flat"
    assert hnsw.stats.errors == 0
