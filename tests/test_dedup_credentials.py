"""Derived (and explicit) dedup keys are scoped to the caller's credentials: two customers of
one gateway (different API keys, endpoints or organizations) sending the same request never
share one answer, tenant named or not; the key enters as a digest, never in plain text."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from llm_cost_hooks.dedup import RedisSingleFlight, SingleFlight
from llm_cost_hooks.langchain import FakeChatModelWithUsage
from llm_cost_hooks.langchain._budget import GuardedChatModel

_SECRET_A = "sk-live-customer-a-0123456789abcdef"
_SECRET_B = "sk-live-customer-b-fedcba9876543210"
_MESSAGES = [{"role": "user", "content": "What is the refund policy?"}]


def test_litellm_keys_differ_by_credentials_and_hold_no_secret() -> None:
    from llm_cost_hooks.litellm._dedup import _key

    base = {"model": "gpt-4o-mini", "messages": _MESSAGES}
    a, b = _key({**base, "api_key": _SECRET_A}), _key({**base, "api_key": _SECRET_B})
    assert a is not None and b is not None and a != b
    assert a == _key({**base, "api_key": _SECRET_A})
    assert _key({**base, "api_key": _SECRET_A, "api_base": "https://eu.example/v1"}) != a
    assert _key({**base, "api_key": _SECRET_A, "organization": "org-2"}) != a
    explicit = {**base, "metadata": {"idempotency_key": "order-42"}}
    ea, eb = _key({**explicit, "api_key": _SECRET_A}), _key({**explicit, "api_key": _SECRET_B})
    assert ea != eb
    for key in (a, b, ea, eb):
        assert _SECRET_A not in str(key) and _SECRET_B not in str(key)


def test_proxy_hook_keys_differ_by_request_credentials_and_proxy_key() -> None:
    from llm_cost_hooks.litellm._dedup import hook_dedup

    dedup = hook_dedup(SingleFlight(), derive=True)
    data = {"model": "gpt-4o-mini", "messages": _MESSAGES}
    a = dedup.key_for({**data, "api_key": _SECRET_A}, {})
    b = dedup.key_for({**data, "api_key": _SECRET_B}, {})
    assert a != b and a == dedup.key_for({**data, "api_key": _SECRET_A}, {})
    explicit = {"idempotency_key": "order-42"}
    pa, pb = dedup.key_for(data, explicit, _SECRET_A), dedup.key_for(data, explicit, _SECRET_B)
    assert pa != pb
    for key in (a, b, pa, pb):
        assert _SECRET_A not in str(key) and _SECRET_B not in str(key)


async def _two_customers(litellm: Any, flight: Any) -> list[Any]:
    from conftest import _drain_litellm_logging

    from llm_cost_hooks.litellm import CostHooksLogger, adeduplicated_completion

    cost_logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [cost_logger]
    kw = {"model": "gpt-4o-mini", "messages": _MESSAGES, "mock_response": "Within 30 days."}
    for secret in (_SECRET_A, _SECRET_B, _SECRET_A):
        await adeduplicated_completion(flight, api_key=secret, **kw)
    await asyncio.sleep(0.2)
    _drain_litellm_logging()
    assert cost_logger.flush(5)
    return [r.cache_status for r in cost_logger.records()]


async def test_in_process_customers_with_other_keys_do_not_share(litellm_clean: Any) -> None:
    statuses = await _two_customers(litellm_clean, SingleFlight(result_ttl=30))
    # A and B each paid; A's second call was served A's own answer.
    assert sorted(s.value for s in statuses) == ["deduplicated", "miss", "miss"]


async def test_redis_customers_with_other_keys_do_not_share_and_redis_holds_no_key(
    litellm_clean: Any, redis_clean_url: str
) -> None:
    import redis

    flight = RedisSingleFlight(redis_clean_url, result_ttl=30)
    statuses = await _two_customers(litellm_clean, flight)
    assert sorted(s.value for s in statuses) == ["deduplicated", "miss", "miss"]
    client = redis.Redis.from_url(redis_clean_url)
    try:
        keys = list(client.scan_iter("*"))
        assert keys
        for k in keys:
            stored = k + (client.dump(k) or b"")
            assert _SECRET_A.encode() not in stored and _SECRET_B.encode() not in stored
    finally:
        client.close()


class _KeyedFake(FakeChatModelWithUsage):
    """A fake chat model holding an API key, as ChatOpenAI does (``openai_api_key``)."""

    openai_api_key: str = ""


def test_guarded_chat_models_with_other_keys_do_not_share_one_flight() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def respond(messages: Any) -> str:
        with lock:
            calls.append("x")
        return "Within 30 days."

    flight = SingleFlight(result_ttl=60)  # one flight shared by the gateway's models
    a = GuardedChatModel(inner=_KeyedFake(respond=respond, openai_api_key=_SECRET_A), dedup=flight)
    b = GuardedChatModel(inner=_KeyedFake(respond=respond, openai_api_key=_SECRET_B), dedup=flight)
    a.invoke("What is the refund policy?")
    b.invoke("What is the refund policy?")
    assert len(calls) == 2  # B is another customer: its own call
    a.invoke("What is the refund policy?")
    assert len(calls) == 2  # A again: A's own answer, kept for the TTL


@pytest.mark.parametrize("field", ["api_key", "api_base", "base_url", "organization"])
def test_each_credential_field_separates_keys(field: str) -> None:
    from llm_cost_hooks.dedup._keys import credentials_scope

    assert credentials_scope({field: "one"}) != credentials_scope({field: "two"})
    assert "one" not in credentials_scope({field: "one"})
