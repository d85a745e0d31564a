"""What the cache does with entries it cannot read (from its file or a shared Redis) and
with a Redis that cannot serve it. bench/results/cache-store-2026-12-07/attack.py runs the
same attacks on the installed wheel.
"""

from __future__ import annotations

import logging
import pickle
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from _servers import ManagedProcess, free_port, libssl11_dir, redis_ping, redis_stack_dir
from langchain_core.globals import set_llm_cache

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.cache import CacheEntry, EmbeddedBackend
from llm_cost_hooks.langchain import FakeChatModelWithUsage
from llm_cost_hooks.langchain._cache import SemanticCache


def _entry(exact_key: str, answer: str) -> CacheEntry:
    return CacheEntry(
        partition="p",
        exact_key=exact_key,
        tenant="t",
        query="q",
        normalized_query="q",
        embedding_model="none",
        answer=answer,
        answer_key=answer,
    )


def test_unreadable_rows_at_open_are_counted_in_the_cache_stats(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    b = EmbeddedBackend(path)
    b.put(_entry("k", "ok"), None)
    b.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO entries (id, data, vec) VALUES ('bad', '{not json', NULL)")
    cache = SemanticCache(path=str(path), semantic=False)
    assert cache.stats.corrupt == 1
    cache.backend.close()


# ---------------------------------------------------------------------------- Redis


@pytest.mark.redis
def test_hostile_redis_entries_are_not_served_and_are_counted(
    redis_clean_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    cache = SemanticCache(redis_url=redis_clean_url, redis_prefix=prefix, semantic=False)
    set_llm_cache(cache)
    try:
        model = FakeChatModelWithUsage(responses=[f"model {i}" for i in range(10)])
        assert model.invoke("Refund policy?").content == "model 0"
        r = redis.Redis.from_url(redis_clean_url)
        (xkey,) = r.keys(f"{prefix}:x:*")

        class Payload:
            def __reduce__(self) -> tuple[object, tuple[str]]:
                return (exec, ("raise SystemExit('unpickled')",))

        served = []
        with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.cache"):
            for hostile in (pickle.dumps(Payload()), b"{not json", b"\x00" * 64):
                r.set(xkey, hostile)
                served.append(model.invoke("Refund policy?").content)
        assert served == ["model 1", "model 2", "model 3"]  # each went to the model
        assert cache.stats.corrupt == 3
        # one warning, not one per call: the count goes on in stats.corrupt
        assert (
            sum(rec.levelno == logging.WARNING and "unreadable" in rec.message for rec in caplog.records) == 1
        )
    finally:
        set_llm_cache(None)


@pytest.fixture(scope="module")
def plain_redis_url() -> Iterator[str]:
    """A Redis without the search module (plain Redis, not Redis Stack)."""
    port = free_port()
    lib = libssl11_dir()
    proc = ManagedProcess(
        [str(redis_stack_dir() / "bin" / "redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
        + ["--save", "", "--appendonly", "no"],
        redis_ping(port),
        env={"LD_LIBRARY_PATH": str(lib)} if lib else None,
        name="plain-redis",
    )
    proc.start()
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.close()


@pytest.mark.redis
def test_a_redis_without_the_search_module_is_a_clear_error_at_setup(plain_redis_url: str) -> None:
    with pytest.raises(ConfigurationError, match="RediSearch"):
        SemanticCache(redis_url=plain_redis_url)
    # The exact tier needs no search module.
    cache = SemanticCache(redis_url=plain_redis_url, semantic=False, redis_prefix=f"t{uuid.uuid4().hex[:8]}")
    set_llm_cache(cache)
    try:
        model = FakeChatModelWithUsage(responses=["first", "second"])
        assert [model.invoke("q").content for _ in range(2)] == ["first", "first"]
        assert cache.stats.errors == 0
    finally:
        set_llm_cache(None)


def test_a_redis_that_is_down_at_setup_is_not_an_error() -> None:
    # Down is a runtime condition (calls are misses until it is back), not a setup error.
    cache = SemanticCache(redis_url=f"redis://127.0.0.1:{free_port()}", redis_timeout_s=0.1)
    assert cache.backend is not None
