"""``CacheConfig.require_tenant``: a call that names no tenant is not served another
tenant's answer once the cache knows the app names tenants.

Two common paths lose the tenant silently: a bare ``model.invoke(q, config={"configurable":
{"tenant_id": ...}})`` (callbacks get no ``configurable``) and a thread the app starts itself
(no context copy). Before, such calls shared the default partition, so tenant B was served
what tenant A's tenant-less call had written. The embedder maps every text to one vector:
inside a partition every question is a perfect semantic neighbour of every other.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.globals import set_llm_cache

from llm_cost_hooks._settings import get_settings
from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, DecisionPolicy, EmbeddedBackend
from llm_cost_hooks.cache._scope import DEFAULT_TENANT
from llm_cost_hooks.langchain import FakeChatModelWithUsage
from llm_cost_hooks.langchain._cache import SemanticCache, cache_scope

POLICY = DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8)


class OneVector:
    """Every text embeds to the same unit vector."""

    name = "one-vector"
    dim = 8

    def embed(self, texts: list[str]) -> np.ndarray:
        v = np.zeros((len(texts), self.dim), np.float32)
        v[:, 0] = 1.0
        return v

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def _config(require: Any = None) -> CacheConfig:
    given = {} if require is None else {"require_tenant": require}
    return CacheConfig(default=POLICY, audit_sample_rate=0, **given)


def _model() -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"answer {i}" for i in range(100)])


@pytest.fixture
def use_cache() -> Iterator[Any]:
    made: list[SemanticCache] = []

    def make(require: Any = None, path: str = ":memory:") -> SemanticCache:
        cache = SemanticCache(path=path, embedder=OneVector(), config=_config(require))
        set_llm_cache(cache)
        made.append(cache)
        return cache

    try:
        yield make
    finally:
        set_llm_cache(None)
        for cache in made:
            close = getattr(cache.core.backend, "close", None)
            if close is not None:
                close()


def _in_thread(fn: Any) -> Any:
    """Run ``fn`` in a plain thread (no copy of the caller's context), as apps often do."""
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_bare_configurable_call_is_not_served_another_tenants_answer(use_cache: Any) -> None:
    cache = use_cache()
    model = _model()
    model.invoke("Hello", config={"metadata": {"tenant_id": "A"}})  # the app names tenants
    a = model.invoke("Where is my order?", config={"configurable": {"tenant_id": "A"}})
    b = model.invoke("Where is my order?", config={"configurable": {"tenant_id": "B"}})
    b2 = model.invoke("What is the status of my order?", config={"configurable": {"tenant_id": "B"}})
    assert b.content != a.content and b2.content not in (a.content, b.content)
    assert cache.core.stats.tenantless_bypassed >= 3


def test_plain_thread_call_is_not_served_another_tenants_answer(use_cache: Any) -> None:
    cache = use_cache()
    model = _model()
    with cache_scope(tenant="A"):
        model.invoke("Hello")
        a = _in_thread(lambda: model.invoke("Where is my order?").content)
    with cache_scope(tenant="B"):
        b = _in_thread(lambda: model.invoke("Where is my order?").content)
        b2 = _in_thread(lambda: model.invoke("What is the status of my order?").content)
    assert b != a and b2 not in (a, b)
    assert cache.core.stats.tenantless_bypassed == 3


def test_entries_written_before_the_first_tenant_are_not_served_after_it(use_cache: Any) -> None:
    """Exact and semantic tiers: a tenant-less entry written while the app had named no tenant
    yet is not served to tenant-less calls once it has."""
    cache = use_cache()
    model = _model()
    first = model.invoke("Where is my order?").content  # no tenant seen yet: cached as before
    assert model.invoke("Where is my order?").content == first
    model.invoke("Hello", config={"metadata": {"tenant_id": "A"}})
    assert model.invoke("Where is my order?").content != first  # exact tier
    assert model.invoke("What is the status of my order?").content != first  # semantic tier
    stats = cache.core.stats
    assert stats.exact_hits == 1 and stats.semantic_hits == 0 and stats.tenantless_bypassed == 2


def test_single_tenant_app_keeps_its_hits(use_cache: Any) -> None:
    cache = use_cache()
    model = _model()
    first = model.invoke("Where is my order?").content
    assert model.invoke("Where is my order?").content == first  # exact
    assert _in_thread(lambda: model.invoke("What is the status of my order?").content) == first  # semantic
    stats = cache.core.stats
    assert stats.exact_hits == 1 and stats.semantic_hits == 1 and stats.tenantless_bypassed == 0


def test_named_tenants_keep_their_hits_and_the_empty_tenant_is_named(use_cache: Any) -> None:
    use_cache(True)
    model = _model()
    for tenant in ("A", ""):
        with cache_scope(tenant=tenant):
            first = model.invoke("Where is my order?").content
            assert model.invoke("Where is my order?").content == first
            assert model.invoke("What is the status of my order?").content == first


def test_true_bypasses_every_tenantless_call_with_one_warning(
    use_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cache = use_cache(True)
    model = _model()
    with caplog.at_level(logging.DEBUG, logger="llm_cost_hooks.cache"):
        answers = {model.invoke("Where is my order?").content for _ in range(3)}
    assert len(answers) == 3
    stats = cache.core.stats
    assert stats.tenantless_bypassed == 3 and stats.writes == 0 and stats.exact_hits == 0
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and "names no tenant" in r.message]
    assert len(warned) <= 1  # once per process (an earlier test may have logged it)


def test_false_keeps_the_shared_default_partition(use_cache: Any) -> None:
    cache = use_cache(False)
    model = _model()
    model.invoke("Hello", config={"metadata": {"tenant_id": "A"}})
    first = model.invoke("Where is my order?", config={"configurable": {"tenant_id": "A"}}).content
    assert model.invoke("Where is my order?", config={"configurable": {"tenant_id": "B"}}).content == first
    assert cache.core.stats.tenantless_bypassed == 0


def test_the_environment_variable_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_CACHE_REQUIRE_TENANT", "true")
    get_settings(reload=True)
    try:
        core = CacheCore(semantic=False)
        req = core.request("Where is my order?", llm_string="m")
        core.update(req, answer="On its way.")
        assert core.lookup(req) is None and core.stats.writes == 0
        given = CacheCore(semantic=False, config=CacheConfig(semantic=False, require_tenant=False))
        req = given.request("Where is my order?", llm_string="m")
        given.update(req, answer="On its way.")
        assert given.lookup(req) is not None  # the config's own value wins
    finally:
        monkeypatch.delenv("LLM_COST_HOOKS_CACHE_REQUIRE_TENANT")
        get_settings(reload=True)


def test_a_restarted_app_knows_its_store_has_tenants(tmp_path: Any, use_cache: Any) -> None:
    path = str(tmp_path / "cache.db")
    model = _model()
    use_cache(path=path)
    model.invoke("Hello", config={"metadata": {"tenant_id": "A"}})
    set_llm_cache(None)
    cache = use_cache(path=path)  # a new process's cache, on the same file
    first = model.invoke("Where is my order?").content
    assert model.invoke("Where is my order?").content != first
    assert cache.core.stats.tenantless_bypassed == 2


def test_litellm_tenantless_call_after_a_tenant_is_not_served_across(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    litellm = litellm_clean
    cache = LiteLLMSemanticCache(path=":memory:", embedder=OneVector(), config=_config())
    litellm.cache = cache

    def ask(q: str, answer: str, **meta: Any) -> str:
        extra = {"metadata": meta} if meta else {}
        out = litellm.completion(
            model="gpt-4o-mini", messages=[{"role": "user", "content": q}], mock_response=answer, **extra
        )
        return str(out.choices[0].message.content)

    assert ask("Where is my order?", "first") == "first"
    assert ask("Where is my order?", "second") == "first"  # single tenant so far: cached
    ask("Hello", "hi", tenant_id="A")
    assert ask("Where is my order?", "third") == "third"
    assert ask("What is the status of my order?", "fourth") == "fourth"
    assert ask("Hello", "again", tenant_id="A") == "hi"
    assert cache.core.stats.tenantless_bypassed == 2


@pytest.mark.redis
def test_redis_store_with_tenants_makes_a_new_process_bypass(redis_clean_url: str) -> None:
    from llm_cost_hooks.cache import RedisBackend

    prefix = f"rt{uuid.uuid4().hex[:8]}"
    writer = CacheCore(RedisBackend(redis_clean_url, prefix=prefix), embedder=OneVector(), config=_config())
    req = writer.request("Where is my order?", llm_string="m")
    writer.update(req, answer="anyone's")  # no tenant seen yet: written to the default partition
    writer.update(writer.request("Hello", llm_string="m", scope=CacheScope(tenant="A")), answer="hi")
    reader = CacheCore(RedisBackend(redis_clean_url, prefix=prefix), embedder=OneVector(), config=_config())
    assert reader.lookup(reader.request("Where is my order?", llm_string="m")) is None
    assert reader.lookup(reader.request("What is the status of my order?", llm_string="m")) is None
    assert reader.stats.tenantless_bypassed == 2
    hit = reader.lookup(reader.request("Hello", llm_string="m", scope=CacheScope(tenant="A")))
    assert hit is not None and hit.entry.answer == "hi"


def test_a_store_of_tenantless_entries_only_changes_nothing(tmp_path: Any) -> None:
    path = tmp_path / "cache.db"
    backend = EmbeddedBackend(path)
    core = CacheCore(backend, embedder=OneVector(), config=_config())
    core.update(core.request("Where is my order?", llm_string="m"), answer="yes")
    backend.close()
    backend = EmbeddedBackend(path)
    try:
        core = CacheCore(backend, embedder=OneVector(), config=_config())
        assert core.lookup(core.request("Where is my order?", llm_string="m")) is not None
        assert core.stats.tenantless_bypassed == 0
    finally:
        backend.close()


def test_nan_tenant_is_not_a_tenant(use_cache: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A tenant column read with pandas holds NaN where the tenant is missing. Read as the
    text "nan", every row that lost its tenant shared one partition: the second such row was
    served the first one's answer, in a cache that had seen tenants."""
    cache = use_cache()
    model = _model()
    q = "What is my account balance?"
    assert model.invoke(q, config={"metadata": {"tenant_id": "acme"}}).content == "answer 0"
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        first = model.invoke(q, config={"metadata": {"tenant_id": float("nan")}}).content
        second = model.invoke(q, config={"metadata": {"tenant_id": float("nan")}}).content
        third = model.invoke(q, config={"metadata": {"tenant_id": float("inf")}}).content
    assert (first, second, third) == ("answer 1", "answer 2", "answer 3")
    assert cache.core.stats.exact_hits == 0
    assert "tenant_id" in caplog.text and "missing value" in caplog.text


class _Clock:
    """Stands in for the monotonic clock of the store re-check."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    from llm_cost_hooks.cache import _core

    c = _Clock()
    monkeypatch.setattr(_core, "_monotonic", c)
    return c


def _fleet_converges(early: CacheCore, late: CacheCore, clock: _Clock) -> None:
    """``early`` starts before any tenant was written and serves tenant-less calls from the
    shared partition; ``late`` (another process of the fleet) then writes a named tenant's
    entry. Within the documented 30 seconds ``early`` stops serving tenant-less calls."""
    req = early.request("Where is my order?", llm_string="m")
    assert early.lookup(req) is None
    early.update(req, answer="anyone's")
    assert early.lookup(early.request("Where is my order?", llm_string="m")) is not None
    late.update(late.request("Hello", llm_string="m", scope=CacheScope(tenant="A")), answer="hi")
    clock.now += 30.0
    assert early.lookup(early.request("Where is my order?", llm_string="m")) is None
    assert early.lookup(early.request("What is the status of my order?", llm_string="m")) is None
    assert early.stats.tenantless_bypassed == 2


def test_a_running_process_learns_of_tenants_another_wrote_to_its_file(tmp_path: Any, clock: _Clock) -> None:
    path = tmp_path / "cache.db"
    first, second = EmbeddedBackend(path), EmbeddedBackend(path)
    try:
        early = CacheCore(first, embedder=OneVector(), config=_config())
        late = CacheCore(second, embedder=OneVector(), config=_config())
        _fleet_converges(early, late, clock)
    finally:
        first.close()
        second.close()


def test_the_store_is_not_asked_on_every_tenantless_call(tmp_path: Any, clock: _Clock) -> None:
    asked: list[str] = []
    backend = EmbeddedBackend()
    real = backend.has_named_tenants

    def counted(default: str) -> bool:
        asked.append(default)
        return real(default)

    backend.has_named_tenants = counted  # type: ignore[method-assign]
    core = CacheCore(backend, embedder=OneVector(), config=_config())
    core.update(core.request("Where is my order?", llm_string="m"), answer="yes")
    for _ in range(5):
        assert core.lookup(core.request("Where is my order?", llm_string="m")) is not None
    assert len(asked) == 1
    clock.now += 31
    assert core.lookup(core.request("Where is my order?", llm_string="m")) is not None
    assert len(asked) == 2


@pytest.mark.redis
def test_a_running_process_learns_of_tenants_another_wrote_to_redis(
    redis_clean_url: str, clock: _Clock
) -> None:
    from llm_cost_hooks.cache import RedisBackend

    prefix = f"rt{uuid.uuid4().hex[:8]}"
    early = CacheCore(RedisBackend(redis_clean_url, prefix=prefix), embedder=OneVector(), config=_config())
    late = CacheCore(RedisBackend(redis_clean_url, prefix=prefix), embedder=OneVector(), config=_config())
    _fleet_converges(early, late, clock)


def test_the_embedded_store_counts_entries_per_tenant() -> None:
    backend = EmbeddedBackend()
    core = CacheCore(backend, embedder=OneVector(), config=_config())
    core.update(core.request("Where is my order?", llm_string="m"), answer="anyone's")
    assert not backend.has_named_tenants(DEFAULT_TENANT)
    core.update(core.request("Hello", llm_string="m", scope=CacheScope(tenant="A")), answer="hi")
    assert backend.has_named_tenants(DEFAULT_TENANT)
    backend.delete([e.id for e in backend.entries() if e.tenant == "A"])
    assert not backend.has_named_tenants(DEFAULT_TENANT)
    core.update(core.request("Hello", llm_string="m", scope=CacheScope(tenant="A")), answer="hi")
    backend.clear()
    assert not backend.has_named_tenants(DEFAULT_TENANT)
