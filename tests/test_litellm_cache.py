"""LiteLLMSemanticCache as ``litellm.cache``: scoping, TTL, savings records, async,
semantic hits and the Redis backend shared between instances."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from llm_cost_hooks import CacheStatus, PriceBook

Q = "What is the refund policy for annual plans?"


def ask(litellm: Any, question: str = Q, answer: str = "Refunds within 30 days.", **metadata: Any) -> Any:
    return litellm.completion(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}],
        mock_response=answer,
        metadata={"tenant_id": "acme", **metadata},
    )


def wait_records(cl: Any, n: int) -> list[Any]:
    deadline = time.monotonic() + 10
    while len(cl.records()) < n:
        assert time.monotonic() < deadline, "timed out waiting for records"
        time.sleep(0.02)
    return sorted(cl.records(), key=lambda r: r.timestamp)


@pytest.fixture
def setup(litellm_clean: Any) -> Any:
    from llm_cost_hooks.litellm import CostHooksLogger, LiteLLMSemanticCache

    cache = LiteLLMSemanticCache(path=":memory:", semantic=False)
    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.cache = cache
    litellm_clean.callbacks = [cl]
    return litellm_clean, cache, cl


def test_exact_hit_is_free_and_records_the_saving(setup: Any) -> None:
    litellm, cache, cl = setup
    first = ask(litellm)
    second = ask(litellm, answer="SHOULD NOT BE USED")
    assert second.choices[0].message.content == "Refunds within 30 days."
    assert first.choices[0].message.content == second.choices[0].message.content
    miss, hit = wait_records(cl, 2)
    assert miss.cache_status is CacheStatus.MISS and miss.cost_usd > 0
    assert hit.cache_status is CacheStatus.EXACT and hit.cost_usd == 0
    assert hit.saved_usd == pytest.approx(PriceBook.default().cost(miss.usage, "gpt-4o-mini").total)
    assert hit.tenant == "acme"
    assert cache.stats.exact_hits == 1 and cache.stats.saved_usd == pytest.approx(hit.saved_usd)


def test_scope_tenant_and_prompt_version_separate_entries(setup: Any) -> None:
    litellm, cache, cl = setup
    ask(litellm, answer="acme answer")
    assert ask(litellm, answer="beta answer", tenant_id="beta").choices[0].message.content == "beta answer"
    assert ask(litellm, answer="v2 answer", prompt_version="v2").choices[0].message.content == "v2 answer"
    assert ask(litellm, answer="x").choices[0].message.content == "acme answer"
    assert cache.core.invalidate(tenant="acme") >= 1
    assert ask(litellm, answer="fresh").choices[0].message.content == "fresh"
    # Different request parameters (temperature) are a different exact context.
    r = litellm.completion(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": Q}],
        temperature=0.9,
        mock_response="hot",
        metadata={"tenant_id": "acme"},
    )
    assert r.choices[0].message.content == "hot"


def test_ttl_expires_entries(litellm_clean: Any, cache_clock: Any) -> None:
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    litellm_clean.cache = LiteLLMSemanticCache(path=":memory:", semantic=False, ttl_seconds=0.5)
    ask(litellm_clean, answer="old")
    cache_clock.now += 0.4
    assert ask(litellm_clean, answer="new").choices[0].message.content == "old"
    cache_clock.now += 0.2
    assert ask(litellm_clean, answer="new").choices[0].message.content == "new"


async def test_async_hits(setup: Any) -> None:
    litellm, cache, cl = setup
    kw = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": Q}])
    await litellm.acompletion(
        mock_response="async answer", metadata={"tenant_id": "acme", "task_id": "c-1"}, **kw
    )
    for _ in range(300):  # LiteLLM writes the cache in a background task
        if cache.stats.writes:
            break
        await asyncio.sleep(0.01)
    r = await litellm.acompletion(
        mock_response="unused", metadata={"tenant_id": "acme", "task_id": "c-2"}, **kw
    )
    assert r.choices[0].message.content == "async answer"

    def mine() -> dict[str, Any]:
        # Only this test's calls (a late event of an earlier test may reach the logger too).
        return {r.task_id: r for r in cl.records() if r.task_id in ("c-1", "c-2")}

    for _ in range(300):
        if len(mine()) == 2:
            break
        await asyncio.sleep(0.02)
    recs = mine()
    assert recs["c-1"].cache_status is CacheStatus.MISS
    assert recs["c-2"].cache_status is CacheStatus.EXACT and recs["c-2"].cost_usd == 0


def test_semantic_hit_with_the_default_embedder(litellm_clean: Any) -> None:
    from llm_cost_hooks.cache import CacheConfig, DecisionPolicy
    from llm_cost_hooks.litellm import CostHooksLogger, LiteLLMSemanticCache

    # A plain similarity policy (the calibrated default is conservative with one neighbour).
    policy = DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8)
    cache = LiteLLMSemanticCache(path=":memory:", semantic=True, config=CacheConfig(default=policy))
    cl = CostHooksLogger(ledger="memory://")
    litellm_clean.cache = cache
    litellm_clean.callbacks = [cl]
    ask(litellm_clean, "How do I reset my password?", "Use the 'Forgot password' link.")
    r = ask(litellm_clean, "how can I reset my password", "unused")
    assert r.choices[0].message.content == "Use the 'Forgot password' link."
    miss, hit = wait_records(cl, 2)
    assert hit.cache_status is CacheStatus.SEMANTIC and hit.cost_usd == 0 and hit.saved_usd > 0
    assert cache.stats.semantic_hits == 1
    # A different question is not served the stored answer.
    r = ask(litellm_clean, "Which currencies can I hold in my account?", "different")
    assert r.choices[0].message.content == "different"


@pytest.mark.redis
def test_redis_backend_is_shared_between_instances(litellm_clean: Any, redis_clean_url: str) -> None:
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    prefix = f"t{uuid.uuid4().hex[:8]}"
    writer = LiteLLMSemanticCache(redis_url=redis_clean_url, semantic=False, redis_prefix=prefix)
    reader = LiteLLMSemanticCache(redis_url=redis_clean_url, semantic=False, redis_prefix=prefix)
    litellm_clean.cache = writer
    ask(litellm_clean, answer="from redis")
    litellm_clean.cache = reader  # e.g. another process or proxy replica
    assert ask(litellm_clean, answer="unused").choices[0].message.content == "from redis"
    assert reader.stats.exact_hits == 1


# -- online verification on the cost record ------------------------------------------------------
RESET = "Use the 'Forgot password' link."
OTHER = "Call us on 0800 123."


def verifying_setup(litellm: Any, ledger: str) -> tuple[Any, Any]:
    from llm_cost_hooks.cache import CacheConfig, DecisionPolicy
    from llm_cost_hooks.litellm import CostHooksLogger, LiteLLMSemanticCache

    # A plain cosine rule makes would-be hits predictable; every one is sent for verification.
    policy = DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8)
    config = CacheConfig(default=policy, verify_share=1.0, audit_sample_rate=0.0)
    cache = LiteLLMSemanticCache(path=":memory:", config=config)
    cl = CostHooksLogger(ledger=ledger)
    litellm.cache = cache
    litellm.callbacks = [cl]
    return cache, cl


def test_verified_outcomes_reach_litellm_records_and_the_report(
    litellm_clean: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    import json

    from llm_cost_hooks.cli import main

    db = tmp_path / "costs.db"
    cache, cl = verifying_setup(litellm_clean, f"sqlite:///{db}")
    request.addfinalizer(cl.tracker.close)  # its ledger's writer ends with the test
    assert ask(litellm_clean, "How do I reset my password?", RESET).choices[0].message.content == RESET
    # Would-be hits answered by the model: the first agrees with the stored answer, the second not.
    assert ask(litellm_clean, "how can I reset my password", RESET).choices[0].message.content == RESET
    r = ask(litellm_clean, "how can I reset my password please", OTHER)
    assert r.choices[0].message.content == OTHER
    assert (cache.stats.verified_agree, cache.stats.verified_disagree) == (1, 1)
    recs = wait_records(cl, 3)
    cl.flush()
    assert [r.cache_status for r in recs] == [CacheStatus.MISS] * 3
    assert [r.tags.get("cache.verified") for r in recs] == [None, "agree", "disagree"]
    assert recs[1].cost_usd > 0  # a verification is a paid call, recorded as one
    assert main(["report", str(db), "--show", "cache", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["cache_precision"]
    assert (row["verified"], row["agreed"], row["precision"]) == (2, 1, 0.5)


async def test_verified_outcome_when_the_cost_event_comes_before_the_cache_write(litellm_clean: Any) -> None:
    cache, cl = verifying_setup(litellm_clean, "memory://")
    writes = cache.async_add_cache

    async def late_write(result: Any, *args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0.5)  # the success event is recorded first
        await writes(result, *args, **kwargs)

    cache.async_add_cache = late_write

    async def aask(question: str, answer: str) -> Any:
        r = await litellm_clean.acompletion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": question}],
            mock_response=answer,
            metadata={"tenant_id": "acme"},
        )
        await cl.aflush()
        return r

    await aask("How do I reset my password?", RESET)
    deadline = time.monotonic() + 10
    while cache.stats.writes < 1:  # the stored entry is there before the would-be hit
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await aask("how can I reset my password", OTHER)
    recs = wait_records(cl, 2)
    assert [r.tags.get("cache.verified") for r in recs] == [None, "disagree"]
    assert cache.stats.verified_disagree == 1
    await asyncio.sleep(0.7)  # the late write finds the comparison done: counted once
    assert (cache.stats.verified_agree, cache.stats.verified_disagree) == (0, 1)
