"""langchain-tests standard BaseCache suites for the embedded and the Redis backends."""

from __future__ import annotations

import uuid

import pytest
from langchain_core.caches import BaseCache
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from llm_cost_hooks.langchain._cache import SemanticCache


class TestEmbeddedSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self) -> BaseCache:
        return SemanticCache(path=":memory:")


class TestEmbeddedAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self) -> BaseCache:
        return SemanticCache(path=":memory:")


class TestEmbeddedPersistedSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, tmp_path) -> BaseCache:
        return SemanticCache(path=tmp_path / "cache.db")


class TestRedisSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, redis_clean_url: str) -> BaseCache:
        return SemanticCache(redis_url=redis_clean_url, redis_prefix=f"t{uuid.uuid4().hex[:8]}")


class TestRedisAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self, redis_clean_url: str) -> BaseCache:
        return SemanticCache(redis_url=redis_clean_url, redis_prefix=f"t{uuid.uuid4().hex[:8]}")
