"""One cache entry, two frameworks: written through LangChain's ``SemanticCache``, read by
``litellm.completion`` through ``LiteLLMSemanticCache`` on the same backend (and back),
when scope, model and the answer-changing parameters match -- and only then."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.prompts import ChatPromptTemplate
from test_litellm_cache import wait_records

from llm_cost_hooks import CacheStatus, PriceBook
from llm_cost_hooks.cache import CacheConfig, DecisionPolicy, EmbeddedBackend, RedisBackend, cache_scope
from llm_cost_hooks.cache._canonical import decode_answer
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._cache import SemanticCache

SYSTEM = "Be brief."
Q = "How do I reset my card PIN?"
LC_ANSWER = "Open the app, choose Card, then Reset PIN."
PROMPT = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{q}")])
SIM = CacheConfig(default=DecisionPolicy(kind="similarity", threshold=0.8, min_similarity=0.8))


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def caches(request: Any, litellm_clean: Any) -> Any:
    """A LangChain and a LiteLLM cache on the same store (one embedded backend object, or
    two Redis clients on the same prefix, as two processes would have)."""
    from llm_cost_hooks.litellm import CostHooksLogger, LiteLLMSemanticCache

    if request.param == "embedded":
        shared = EmbeddedBackend()
        lc_backend, ll_backend = shared, shared
    else:
        url = request.getfixturevalue("redis_clean_url")
        prefix = f"s{uuid.uuid4().hex[:8]}"
        lc_backend, ll_backend = RedisBackend(url, prefix=prefix), RedisBackend(url, prefix=prefix)
    lc = SemanticCache(backend=lc_backend, semantic=False)
    ll = LiteLLMSemanticCache(backend=ll_backend, semantic=False)
    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.cache = ll
    litellm_clean.callbacks = [logger]
    set_llm_cache(lc)
    yield litellm_clean, lc, ll, logger
    set_llm_cache(None)


def lc_ask(
    q: str = Q,
    *,
    tenant: str = "acme",
    model: str = "gpt-4o-mini",
    temperature: float | None = 0.2,
    answer: str = LC_ANSWER,
) -> str:
    m = FakeChatModelWithUsage(model_name=model, temperature=temperature, responses=[answer])
    return (PROMPT | m).invoke({"q": q}, config={"metadata": {"tenant_id": tenant}}).content


def ll_ask(
    litellm: Any,
    q: str = Q,
    *,
    tenant: str = "acme",
    model: str = "openai/gpt-4o-mini",
    temperature: float | None = 0.2,
    answer: str = "from the model",
) -> str:
    kw = {"temperature": temperature} if temperature is not None else {}
    r = litellm.completion(
        model=model,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}],
        mock_response=answer,
        metadata={"tenant_id": tenant},
        **kw,
    )
    return r.choices[0].message.content


def test_langchain_entry_is_served_to_litellm(caches: Any) -> None:
    litellm, lc, ll, logger = caches
    assert lc_ask() == LC_ANSWER
    assert lc.stats.writes == 1
    # Provider prefix dropped, same tenant, same temperature: LiteLLM gets LangChain's answer.
    assert ll_ask(litellm, answer="SHOULD NOT BE USED") == LC_ANSWER
    assert ll.stats.exact_hits == 1
    (hit,) = wait_records(logger, 1)
    assert hit.cache_status is CacheStatus.EXACT and hit.cost_usd == 0
    # The saving is what the LangChain call cost (priced from its usage at write time).
    entry_cost = hit.saved_usd
    assert entry_cost and entry_cost > 0
    assert ll.stats.saved_usd == pytest.approx(entry_cost)


def test_litellm_entry_is_served_to_langchain(caches: Any) -> None:
    litellm, lc, ll, logger = caches
    assert ll_ask(litellm, answer="Use the app: Card > Reset PIN.") == "Use the app: Card > Reset PIN."
    (miss,) = wait_records(logger, 1)
    handler = CostCallbackHandler(ledger="memory://")
    m = FakeChatModelWithUsage(model_name="gpt-4o-mini", temperature=0.2, responses=["SHOULD NOT BE USED"])
    msg = (PROMPT | m).invoke({"q": Q}, config={"metadata": {"tenant_id": "acme"}, "callbacks": [handler]})
    assert msg.content == "Use the app: Card > Reset PIN." and m.call_count == 0
    assert msg.usage_metadata["input_tokens"] == miss.usage.input_tokens  # rebuilt from the neutral usage
    (rec,) = handler.records()
    assert rec.cache_status is CacheStatus.EXACT and rec.cost_usd == 0
    assert rec.saved_usd == pytest.approx(PriceBook.default().cost(miss.usage, "gpt-4o-mini").total)
    assert lc.stats.exact_hits == 1 and lc.stats.corrupt == 0


@pytest.mark.parametrize(
    "change",
    [
        {"model": "openai/gpt-4o"},
        {"temperature": 0.9},
        {"temperature": None},
        {"tenant": "globex"},
        {"q": "How do I reset my online banking password?"},
    ],
    ids=["model", "temperature", "no-temperature", "tenant", "question"],
)
def test_mismatch_is_a_miss(caches: Any, change: dict[str, Any]) -> None:
    litellm, lc, ll, _ = caches
    lc_ask()
    assert ll_ask(litellm, **change) == "from the model"
    assert ll.stats.exact_hits == 0 and ll.stats.misses == 1


def test_stored_answer_has_both_native_forms(caches: Any) -> None:
    litellm, lc, ll, _ = caches
    lc_ask()
    ll_ask(litellm, q="What are your fees?", answer="No fees.")
    answers = _stored_answers(lc.core.backend)
    natives = sorted(tuple(sorted(a.native)) for a in answers)
    assert natives == [("langchain",), ("litellm",)]
    assert sorted(a.text for a in answers) == sorted([LC_ANSWER, "No fees."])
    assert all(a.model == "gpt-4o-mini" and a.usage and a.usage["output_tokens"] > 0 for a in answers)


def _stored_answers(backend: Any) -> list[Any]:
    if isinstance(backend, EmbeddedBackend):
        return [decode_answer(e.answer) for e in backend.entries()]
    keys = list(backend.client.scan_iter(match=f"{backend.prefix}:x:*"))
    from llm_cost_hooks.cache import CacheEntry

    return [decode_answer(CacheEntry.model_validate_json(backend.client.get(k)).answer) for k in keys]


def test_semantic_hit_across_frameworks(litellm_clean: Any) -> None:
    """A paraphrase asked through LiteLLM is served the answer LangChain stored."""
    from llm_cost_hooks.embeddings import default_embedder
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    backend = EmbeddedBackend()
    embedder = default_embedder()
    lc = SemanticCache(backend=backend, embedder=embedder, config=SIM)
    ll = LiteLLMSemanticCache(backend=backend, embedder=embedder, config=SIM)
    litellm_clean.cache = ll
    set_llm_cache(lc)
    try:
        lc_ask()
        assert ll_ask(litellm_clean, q="how can I reset the PIN of my card") == LC_ANSWER
        assert ll.stats.semantic_hits == 1
        assert (
            ll_ask(litellm_clean, q="how can I reset the PIN of my card", tenant="globex") == "from the model"
        )
    finally:
        set_llm_cache(None)


def test_tool_call_answer_and_multi_turn_context_cross_over(caches: Any) -> None:
    """A tool-call answer written by LangChain reaches LiteLLM as OpenAI tool_calls, and the
    conversation before the last user message must match across the two message shapes."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    litellm, lc, ll, _ = caches
    call = AIMessage("", tool_calls=[{"name": "get_balance", "args": {"account": "main"}, "id": "call_1"}])
    m = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[call])
    history = [SystemMessage(SYSTEM), HumanMessage("hi"), AIMessage("Hello! How can I help?")]
    with cache_scope(tenant="acme"):
        m.invoke([*history, HumanMessage("What is my balance?")])
    msgs = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "What is my balance?"},
    ]
    r = litellm.completion(
        model="gpt-4o-mini", messages=msgs, mock_response="unused", metadata={"tenant_id": "acme"}
    )
    (tc,) = r.choices[0].message.tool_calls
    assert tc.function.name == "get_balance" and json.loads(tc.function.arguments) == {"account": "main"}
    assert r.choices[0].finish_reason == "tool_calls"
    # Another earlier turn: a different conversation, no hit.
    other = [*msgs[:2], {"role": "assistant", "content": "Hi there."}, msgs[3]]
    r = litellm.completion(
        model="gpt-4o-mini", messages=other, mock_response="fresh", metadata={"tenant_id": "acme"}
    )
    assert r.choices[0].message.content == "fresh"
