"""Cache scope on every LangChain and LiteLLM call path: 0 cross-tenant hits, exact and
semantic tiers, embedded and Redis backends.

Each path is first checked to reach the cache at all (the same tenant asking again is
served from it), so a path that silently skipped the cache could not pass as "isolated".
The embedder maps every text to one vector, so inside a partition every other question is
a perfect semantic neighbour: only the partition keeps tenants apart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import tool

from llm_cost_hooks._errors import CacheScopeError
from llm_cost_hooks.cache import CacheConfig, DecisionPolicy, scope_from_metadata
from llm_cost_hooks.cache._canonical import run_scope
from llm_cost_hooks.langchain import FakeChatModelWithUsage
from llm_cost_hooks.langchain._cache import SemanticCache, cache_scope

SIM = CacheConfig(default=DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8))
QUESTIONS = [f"What is the status of ticket {i}?" for i in range(12)]


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


def _model(**kw: Any) -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name="gpt-4o", responses=[f"answer {i}" for i in range(1000)], **kw)


def _meta(tenant: str | None) -> dict[str, Any]:
    return {} if tenant is None else {"metadata": {"tenant_id": tenant}}


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


# Each path asks every question of ``qs`` as ``tenant`` (None: no tenant named) and returns
# the (tenant, answer) pairs served. The fake model numbers its answers, so an answer names
# the call that produced it.
def p_invoke(m, tenant, qs):
    return [(tenant, m.invoke(q, config=_meta(tenant)).content) for q in qs]


def p_ainvoke(m, tenant, qs):
    async def go():
        return [(tenant, (await m.ainvoke(q, config=_meta(tenant))).content) for q in qs]

    return _run(go())


def p_batch(m, tenant, qs):
    return [(tenant, r.content) for r in m.batch(qs, config=_meta(tenant))]


def p_abatch(m, tenant, qs):
    return [(tenant, r.content) for r in _run(m.abatch(qs, config=_meta(tenant)))]


def p_stream(m, tenant, qs):
    return [(tenant, "".join(c.content for c in m.stream(q, config=_meta(tenant)))) for q in qs]


def p_astream(m, tenant, qs):
    async def go():
        out = []
        for q in qs:
            out.append((tenant, "".join([c.content async for c in m.astream(q, config=_meta(tenant))])))
        return out

    return _run(go())


def p_with_config(m, tenant, qs):
    bound = m.with_config(_meta(tenant)) if tenant is not None else m
    return [(tenant, bound.invoke(q).content) for q in qs]


def p_generate(m, tenant, qs):
    res = m.generate([[HumanMessage(q)] for q in qs], metadata=_meta(tenant).get("metadata"))
    return [(tenant, g[0].text) for g in res.generations]


def p_chain(m, tenant, qs):
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | m
    return [(tenant, chain.invoke({"q": q}, config=_meta(tenant)).content) for q in qs]


def p_concurrent_tasks(m, tenant, qs):
    other = "zz-other"  # interleaved with ``tenant`` in one event loop: each task keeps its own scope

    async def one(q, t):
        return t, (await m.ainvoke(q, config=_meta(t))).content

    async def go():
        return await asyncio.gather(*[one(q, t) for q in qs for t in (tenant, other)])

    return _run(go())


def p_tool(m, tenant, qs):
    @tool
    def ask(q: str) -> str:
        """Ask the model (no config passed on: it comes from the tool's run)."""
        return m.invoke(q).content

    return [(tenant, ask.invoke({"q": q}, config=_meta(tenant))) for q in qs]


def p_agent(m, tenant, qs):
    """A tool-calling loop: the planner model calls a tool, the tool asks the answer model."""
    planner = FakeChatModelWithUsage(
        model_name="planner",
        respond=lambda msgs: (
            AIMessage(content="", tool_calls=[{"name": "ask", "args": {"q": msgs[-1].content}, "id": "c1"}])
            if not isinstance(msgs[-1], ToolMessage)
            else msgs[-1].content
        ),
    )

    @tool
    def ask(q: str) -> str:
        """Ask the answer model."""
        return m.invoke(q).content

    def agent(q: str, config: RunnableConfig) -> str:
        msgs: list[Any] = [HumanMessage(q)]
        while True:
            reply = planner.invoke(msgs, config=config)
            if not reply.tool_calls:
                return reply.content
            msgs.append(reply)
            for call in reply.tool_calls:
                msgs.append(ToolMessage(ask.invoke(call["args"], config=config), tool_call_id=call["id"]))

    runner = RunnableLambda(agent)
    return [(tenant, runner.invoke(q, config=_meta(tenant))) for q in qs]


PATHS: dict[str, Callable[..., None]] = {
    f.__name__[2:]: f
    for f in (
        p_invoke,
        p_ainvoke,
        p_batch,
        p_abatch,
        p_stream,
        p_astream,
        p_with_config,
        p_generate,
        p_chain,
        p_concurrent_tasks,
        p_tool,
        p_agent,
    )
}


def _hits(cache: SemanticCache) -> int:
    s = cache.stats
    return s.exact_hits + s.semantic_hits


def _cache_on(cls: Any, request: Any) -> Any:
    """``cls`` (either adapter) on the backend the test is parametrised with."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_clean_url")
        return cls(redis_url=url, redis_prefix=f"s{uuid.uuid4().hex[:8]}", embedder=OneVector(), config=SIM)
    return cls(path=":memory:", embedder=OneVector(), config=SIM)


def _assert_isolated(run: Callable[..., Any], client: Any, cache: Any, path: str) -> None:
    """Tenant A writes and is served its own entries; then B, the empty tenant and no tenant
    ask the same questions (exact tier) and others (perfect semantic neighbours of A's):
    nobody is ever served an answer written for someone else."""
    written: dict[str, str | None] = {}  # answer -> the tenant it was first served to

    def ask(tenant: str | None, qs: list[str]) -> None:
        for t, answer in run(client, tenant, qs):
            first = written.setdefault(answer, t)
            assert first == t, f"{path}: tenant {t!r} was served an answer written for tenant {first!r}"

    ask("A", QUESTIONS[:6])
    before = _hits(cache)
    ask("A", QUESTIONS[:6])  # the path reaches the cache at all
    assert _hits(cache) - before >= 6
    for other in ("B", "", None):
        ask(other, QUESTIONS[:6])
        ask(other, QUESTIONS[6:])
    assert len(set(written.values())) >= 4


@pytest.fixture(params=["embedded", "redis"])
def scoped_cache(request):
    cache = _cache_on(SemanticCache, request)
    set_llm_cache(cache)
    yield cache
    set_llm_cache(None)


@pytest.mark.parametrize("path", list(PATHS))
def test_no_cross_tenant_hit_on_any_call_path(scoped_cache, path: str) -> None:
    # LangChain reads the cache on stream() only when the model does not stream natively.
    m = _model(disable_streaming=path in ("stream", "astream"))
    _assert_isolated(PATHS[path], m, scoped_cache, path)
    assert run_scope() is None  # no run scope is left behind in this context


def test_semantic_tier_serves_inside_the_partition_only(scoped_cache) -> None:
    m = _model()
    # A paraphrase (no differing number, entity or negation, which the decision would veto).
    asked, paraphrase = "How do I reset my password?", "How can I reset my password?"
    a = m.invoke(asked, config={"metadata": {"tenant_id": "A"}}).content
    assert m.invoke(paraphrase, config={"metadata": {"tenant_id": "A"}}).content == a
    assert scoped_cache.stats.semantic_hits == 1
    b = m.invoke(paraphrase, config={"metadata": {"tenant_id": "B"}}).content
    assert b != a and scoped_cache.stats.semantic_hits == 1


def test_empty_tenant_and_no_tenant_do_not_share(scoped_cache) -> None:
    m = _model()
    none_answer = m.invoke(QUESTIONS[0]).content
    empty_answer = m.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": ""}}).content
    assert empty_answer != none_answer
    with cache_scope(tenant=""):
        assert m.invoke(QUESTIONS[0]).content == empty_answer
    # The empty tenant is a named one: from here on, calls naming none bypass the cache
    # (require_tenant="auto"), so they are served neither answer.
    assert m.invoke(QUESTIONS[0]).content not in (none_answer, empty_answer)


def test_unreadable_tenant_bypasses_the_cache(scoped_cache, caplog) -> None:
    m = _model()
    first = m.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": {"id": "A"}}}).content
    second = m.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": {"id": "A"}}}).content
    assert first != second and _hits(scoped_cache) == 0
    assert scoped_cache.backend.count() == 0
    assert "bypasses the cache" in caplog.text
    with pytest.raises(CacheScopeError, match="tenant_id"):
        scope_from_metadata({"tenant_id": ["A"]})


def test_cache_scope_wins_over_run_metadata(scoped_cache) -> None:
    m = _model()
    with cache_scope(tenant="A"):
        a = m.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": "B"}}).content
    assert m.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": "A"}}).content == a
    assert m.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": "B"}}).content != a


def test_nested_model_run_keeps_its_own_scope(scoped_cache) -> None:
    """A model that calls another model inside its own run (a router, a judge) with other
    metadata: after the inner run ends the outer run's answer is stored under the outer scope."""
    inner = _model()

    def outer_answer(msgs: list[Any]) -> str:
        return inner.invoke("inner question", config={"metadata": {"tenant_id": "inner"}}).content

    outer = FakeChatModelWithUsage(model_name="outer", respond=outer_answer)
    first = outer.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": "A"}}).content
    assert outer.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": "A"}}).content == first
    before = _hits(scoped_cache)
    outer.invoke(QUESTIONS[0], config={"metadata": {"tenant_id": "inner"}})
    assert _hits(scoped_cache) - before == 1  # only the inner model's own entry


def test_native_streaming_does_not_touch_the_cache(scoped_cache) -> None:
    """LangChain serves ``stream()`` of a streaming model without its cache: nothing is read
    or written, so nothing can cross tenants there."""
    m = _model()
    for tenant in ("A", "B"):
        list(m.stream(QUESTIONS[0], config={"metadata": {"tenant_id": tenant}}))
    assert scoped_cache.stats.lookups == 0 and scoped_cache.backend.count() == 0


# --------------------------------------------------------------------------- LiteLLM
_counter = iter(range(10**9))


def _ll_answer() -> str:
    return f"litellm answer {next(_counter)}"


def _ll_call(litellm, q: str, meta_key: str = "metadata", **meta: Any) -> Any:
    extra = {meta_key: meta} if meta else {}
    return litellm.completion(
        model="gpt-4o-mini", messages=[{"role": "user", "content": q}], mock_response=_ll_answer(), **extra
    )


def l_completion(litellm, tenant, qs, **kw):
    meta = {} if tenant is None else {"tenant_id": tenant}
    return [(tenant, _ll_call(litellm, q, **meta, **kw).choices[0].message.content) for q in qs]


def l_acompletion(litellm, tenant, qs, **kw):
    meta = {} if tenant is None else {"metadata": {"tenant_id": tenant}}

    async def go():
        out = []
        for q in qs:
            r = await litellm.acompletion(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": q}],
                mock_response=_ll_answer(),
                **meta,
            )
            out.append((tenant, r.choices[0].message.content))
        return out

    return _run(go())


def l_litellm_metadata(litellm, tenant, qs, **kw):  # the proxy's name for it on some routes
    meta = {} if tenant is None else {"tenant_id": tenant}
    return [
        (tenant, _ll_call(litellm, q, meta_key="litellm_metadata", **meta).choices[0].message.content)
        for q in qs
    ]


def l_cache_scope(litellm, tenant, qs, **kw):
    if tenant is None:
        return l_completion(litellm, None, qs)
    with cache_scope(tenant=tenant):
        return [(tenant, _ll_call(litellm, q).choices[0].message.content) for q in qs]


def l_router(litellm, tenant, qs, **kw):
    router = litellm.Router(
        model_list=[{"model_name": "chat", "litellm_params": {"model": "gpt-4o-mini"}}], cache_responses=True
    )
    meta = {} if tenant is None else {"metadata": {"tenant_id": tenant}}
    return [
        (
            tenant,
            router.completion(
                model="chat", messages=[{"role": "user", "content": q}], mock_response=_ll_answer(), **meta
            )
            .choices[0]
            .message.content,
        )
        for q in qs
    ]


LITELLM_PATHS = {
    f.__name__[2:]: f for f in (l_completion, l_acompletion, l_litellm_metadata, l_cache_scope, l_router)
}


@pytest.fixture(params=["embedded", "redis"])
def litellm_cache(request, litellm_clean):
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    cache = _cache_on(LiteLLMSemanticCache, request)
    litellm_clean.cache = cache
    return litellm_clean, cache


@pytest.mark.parametrize("path", list(LITELLM_PATHS))
def test_litellm_no_cross_tenant_hit_on_any_call_path(litellm_cache, path: str) -> None:
    litellm, cache = litellm_cache
    _assert_isolated(LITELLM_PATHS[path], litellm, cache, path)


def test_litellm_proxy_key_bounds_the_tenant(litellm_cache) -> None:
    """Behind a proxy, a client naming another team's tenant still gets only its own key's
    entries: the key, team and organisation the proxy recorded wrap the tenant."""
    litellm, cache = litellm_cache
    team_a = {"user_api_key_hash": "hash-a", "user_api_key_team_id": "team-a"}
    team_b = {"user_api_key_hash": "hash-b", "user_api_key_team_id": "team-b"}
    asked, paraphrase = "How do I reset my password?", "How can I reset my password?"
    a = _ll_call(litellm, asked, tenant_id="acme", **team_a).choices[0].message.content
    assert _ll_call(litellm, asked, tenant_id="acme", **team_a).choices[0].message.content == a
    assert _ll_call(litellm, paraphrase, tenant_id="acme", **team_a).choices[0].message.content == a
    for meta in (
        {"tenant_id": "acme", **team_b},
        {**team_b},
        {"tenant_id": "acme"},
        {"tenant_id": "acme", "user_api_key_hash": "hash-a", "user_api_key_team_id": "team-b"},
    ):
        for q in (asked, paraphrase):
            assert _ll_call(litellm, q, **meta).choices[0].message.content != a, meta


def test_litellm_unreadable_metadata_bypasses_the_cache(litellm_cache, caplog) -> None:
    litellm, cache = litellm_cache
    first = _ll_call(litellm, QUESTIONS[0], tenant_id={"id": "A"}).choices[0].message.content
    second = _ll_call(litellm, QUESTIONS[0], tenant_id={"id": "A"}).choices[0].message.content
    assert first != second and _hits(cache) == 0 and cache.core.backend.count() == 0
    assert "bypasses the cache" in caplog.text


def test_runs_whose_end_was_skipped_are_bounded_per_context() -> None:
    # A raising end callback of another handler skips ours: left-behind runs must not grow
    # without bound in a long-lived context.
    import contextvars

    from llm_cost_hooks.cache._scope import _MAX_RUNS, _run_scopes, begin_run

    def leak() -> int:
        for i in range(_MAX_RUNS * 3):
            begin_run(("leaked", i), {"tenant_id": "acme"})
        runs = _run_scopes.get() or {}
        assert ("leaked", _MAX_RUNS * 3 - 1) in runs  # the newest run is the innermost
        return len(runs)

    assert contextvars.copy_context().run(leak) == _MAX_RUNS
