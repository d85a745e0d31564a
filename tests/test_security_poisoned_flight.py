"""A result or error that another program (or an attacker) left in Redis under a
single-flight key is never handed to the caller: it makes its own call, counted."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis

from llm_cost_hooks.dedup import RedisSingleFlight

POISON = [b"not json {", b"[1, 2, 3]", json.dumps({"type": 1, "message": ["x"]}).encode()]


def _loads(raw: str) -> dict:
    value = json.loads(raw)
    return {"answer": value["answer"]}  # what an adapter's loads does: raises on a wrong shape


@pytest.mark.parametrize("poison", POISON)
def test_a_poisoned_result_is_a_counted_own_call(redis_clean_url: str, poison: bytes) -> None:
    prefix = f"sec{uuid.uuid4().hex[:8]}"
    flight = RedisSingleFlight(redis_clean_url, prefix=prefix)
    redis.Redis.from_url(redis_clean_url).set(f"{{{prefix}}}:sf:res:k", poison, ex=60)
    got = flight.do("k", lambda: {"answer": 42}, loads=_loads)
    assert got.value == {"answer": 42} and got.source == "leader"
    assert flight.unreadable == 1


@pytest.mark.parametrize("poison", POISON)
def test_a_poisoned_result_is_a_counted_own_call_async(redis_clean_url: str, poison: bytes) -> None:
    prefix = f"sec{uuid.uuid4().hex[:8]}"
    flight = RedisSingleFlight(redis_clean_url, prefix=prefix)
    redis.Redis.from_url(redis_clean_url).set(f"{{{prefix}}}:sf:res:k", poison, ex=60)

    async def call() -> dict:
        return {"answer": 42}

    got = asyncio.run(flight.ado("k", call, loads=_loads))
    assert got.value == {"answer": 42} and flight.unreadable == 1


@pytest.mark.parametrize("poison", POISON)
def test_a_poisoned_failure_while_waiting_is_a_counted_own_call(redis_clean_url: str, poison: bytes) -> None:
    prefix = f"sec{uuid.uuid4().hex[:8]}"
    flight = RedisSingleFlight(redis_clean_url, prefix=prefix, wait_timeout=5.0)
    client = redis.Redis.from_url(redis_clean_url)
    # Another "leader" holds the lock, then leaves an unreadable error and frees the lock.
    client.set(f"{{{prefix}}}:sf:lock:k", "someone", px=300)
    client.set(f"{{{prefix}}}:sf:err:k", poison, ex=60)
    got = flight.do("k", lambda: {"answer": 42}, loads=_loads)
    assert got.value == {"answer": 42} and flight.unreadable == 1
