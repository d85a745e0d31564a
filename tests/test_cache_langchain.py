"""SemanticCache through real LangChain chains, with the cost handler recording hits."""

from __future__ import annotations

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks._records import CacheStatus
from llm_cost_hooks.cache import CacheConfig, DecisionPolicy
from llm_cost_hooks.cache._canonical import serialized_chat_key as chat_key
from llm_cost_hooks.langchain import CACHE_MARKER_KEY, CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._cache import SemanticCache, cache_scope

SIM = CacheConfig(default=DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8))
PROMPT = ChatPromptTemplate.from_messages([("system", "You are a bank assistant."), ("human", "{q}")])


@pytest.fixture
def cache():
    c = SemanticCache(path=":memory:", config=SIM)
    set_llm_cache(c)
    yield c
    set_llm_cache(None)


def model(n: int = 20, name: str = "gpt-4o") -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name=name, responses=[f"answer {i}" for i in range(n)])


def test_chain_exact_and_semantic_hits_are_recorded_with_savings(cache) -> None:
    handler = CostCallbackHandler(ledger="memory://")
    m = model()
    chain = PROMPT | m | StrOutputParser()
    cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    first = chain.invoke({"q": "How do I reset my PIN?"}, config=cfg)
    assert chain.invoke({"q": "How do I reset my PIN?"}, config=cfg) == first
    assert chain.invoke({"q": "How can I reset my PIN?"}, config=cfg) == first
    recs = handler.records()
    assert [r.cache_status for r in recs] == [CacheStatus.MISS, CacheStatus.EXACT, CacheStatus.SEMANTIC]
    assert recs[0].cost_usd > 0 and recs[0].saved_usd == 0
    for r in recs[1:]:
        assert r.cost_usd == 0 and r.saved_usd == pytest.approx(recs[0].cost_usd)
        assert r.tenant == "acme"
    assert cache.stats.saved_usd == pytest.approx(2 * recs[0].cost_usd)


def test_marker_in_response_metadata(cache) -> None:
    chain = PROMPT | model()
    chain.invoke({"q": "What are your fees?"})
    msg = chain.invoke({"q": "What are your fees?"})
    assert msg.response_metadata[CACHE_MARKER_KEY]["status"] == "exact"
    assert msg.usage_metadata["total_cost"] == 0  # LangChain's own cache-hit convention


def test_scope_from_chain_metadata_and_cache_scope(cache) -> None:
    chain = PROMPT | model()
    a = chain.invoke({"q": "Where is my card?"}, config={"metadata": {"tenant_id": "a"}}).content
    b = chain.invoke({"q": "Where is my card?"}, config={"metadata": {"tenant_id": "b"}}).content
    anon = chain.invoke({"q": "Where is my card?"}).content
    assert len({a, b, anon}) == 3  # no cross-tenant or anonymous hits
    with cache_scope(tenant="a"):
        assert chain.invoke({"q": "Where is my card?"}).content == a
    # cache_scope wins over metadata
    with cache_scope(tenant="b"):
        assert chain.invoke({"q": "Where is my card?"}, config={"metadata": {"tenant_id": "a"}}).content == b
    with cache_scope(tenant="a", prompt_version="v2"):
        assert chain.invoke({"q": "Where is my card?"}).content not in (a, b, anon)


def test_direct_model_invoke_uses_cache_scope(cache) -> None:
    m = model()
    with cache_scope(tenant="t1"):
        first = m.invoke("Capital of France?").content
        assert m.invoke("Capital of France?").content == first
    with cache_scope(tenant="t2"):
        assert m.invoke("Capital of France?").content != first


def test_model_parameters_are_scope(cache) -> None:
    m = model()
    first = m.invoke("Tell me a joke").content
    assert m.invoke("Tell me a joke").content == first
    assert m.bind(temperature=0.9).invoke("Tell me a joke").content != first


def test_multi_turn_context_must_match(cache) -> None:
    m = model()
    conv1 = [
        SystemMessage("bank bot"),
        HumanMessage("hi"),
        AIMessage("hello"),
        HumanMessage("How do I reset my PIN?"),
    ]
    conv2 = [
        SystemMessage("bank bot"),
        HumanMessage("hey"),
        AIMessage("hello"),
        HumanMessage("How do I reset my PIN?"),
    ]
    first = m.invoke(conv1).content
    assert (
        m.invoke(conv1[:-1] + [HumanMessage("How can I reset my PIN?")]).content == first
    )  # semantic, same history
    assert m.invoke(conv2).content != first  # different history: no hit


def test_chat_key_last_user_message_only() -> None:
    from langchain_core.load import dumps

    llm = "[('_type', 'fake'), ('model_name', 'gpt-4o'), ('stop', None), ('temperature', 0.2)]"
    key = chat_key(dumps([SystemMessage("s"), HumanMessage("q?")]), llm)
    assert (key.query, key.semantic, key.model) == ("q?", True, "gpt-4o")
    assert '"system"' in key.context and '"s"' in key.context
    tool = [
        HumanMessage("q"),
        AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "1"}]),
        ToolMessage("42", tool_call_id="1"),
    ]
    assert chat_key(dumps(tool), llm).semantic is False  # tool result last: exact tier only
    plain = chat_key("plain LLM prompt", llm)
    assert plain.query == "plain LLM prompt" and plain.llm_string != key.llm_string  # never shared with chat
    # An llm_string we cannot parse is keyed verbatim.
    assert (
        chat_key(dumps([HumanMessage("q?")]), "opaque").llm_string
        != chat_key(dumps([HumanMessage("q?")]), llm).llm_string
    )


def test_chat_key_unknown_parameters_are_keyed() -> None:
    from langchain_core.load import dumps

    p = dumps([HumanMessage("q?")])
    base = chat_key(p, "[('model_name', 'm'), ('temperature', 0.2), ('max_retries', 2)]")
    assert base == chat_key(p, "[('model_name', 'm'), ('temperature', 0.2), ('max_retries', 5)]")  # transport
    assert base != chat_key(p, "[('model_name', 'm'), ('temperature', 0.3)]")
    assert base != chat_key(
        p, "[('model_name', 'm'), ('temperature', 0.2), ('mirostat', 1)]"
    )  # unknown: keyed


def test_bypass_via_metadata(cache) -> None:
    chain = PROMPT | model()
    first = chain.invoke({"q": "bypass me"}).content
    assert chain.invoke({"q": "bypass me"}, config={"metadata": {"cache_bypass": True}}).content != first


def test_clear_by_scope_and_report_bad_hit(cache) -> None:
    chain = PROMPT | model()
    a = chain.invoke({"q": "Where is my card?"}, config={"metadata": {"tenant_id": "a"}}).content
    b = chain.invoke({"q": "Where is my card?"}, config={"metadata": {"tenant_id": "b"}}).content
    cache.clear(tenant="a")
    assert chain.invoke({"q": "Where is my card?"}, config={"metadata": {"tenant_id": "a"}}).content != a
    assert chain.invoke({"q": "Where is my card?"}, config={"metadata": {"tenant_id": "b"}}).content == b
    msg = chain.invoke({"q": "Where's my card?"}, config={"metadata": {"tenant_id": "b"}})
    marker = msg.response_metadata[CACHE_MARKER_KEY]
    assert marker["status"] == "semantic"
    cache.report_bad_hit(marker["entry_id"])
    assert cache.core.config.default.threshold > 0.8
    assert chain.invoke({"q": "Where is my card?"}, config={"metadata": {"tenant_id": "b"}}).content != b


def test_corrupt_entry_is_skipped_and_counted(cache) -> None:
    m = model()
    m.invoke("hello")
    entry = cache.backend.entries()[0]
    cache.backend._entries[entry.id] = entry.model_copy(
        update={"answer": '{"lc": 1, "type": "not_implemented"}'}
    )
    out = m.invoke("hello")
    assert out.content == "answer 1" and cache.stats.corrupt == 1


async def test_async_chain_hits(cache) -> None:
    handler = CostCallbackHandler(ledger="memory://")
    chain = PROMPT | model()
    cfg = {"callbacks": [handler], "metadata": {"tenant_id": "z"}}
    first = await chain.ainvoke({"q": "How do I close my account?"}, config=cfg)
    again = await chain.ainvoke({"q": "How do I close my account?"}, config=cfg)
    assert again.content == first.content
    assert [r.cache_status for r in handler.records()] == [CacheStatus.MISS, CacheStatus.EXACT]


def test_no_price_still_caches(cache) -> None:
    m = FakeChatModelWithUsage(model_name="my-private-model-xyz", responses=["a", "b"])
    first = m.invoke("q").content
    msg = m.invoke("q")
    assert msg.content == first and msg.response_metadata[CACHE_MARKER_KEY]["saved_usd"] is None
