"""The Redis lookup benchmark times lookups of real entries: what it loads reads back
through the cache exactly as an entry written by ``RedisBackend.put``."""

from __future__ import annotations

import uuid

import numpy as np
import redis

from bench import bench_cache
from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheEntry, CacheScope, RedisBackend
from llm_cost_hooks.cache._canonical import decode_answer


def test_bench_loads_entries_as_put_writes_them(redis_url: str) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    backend = RedisBackend(redis_url, prefix=f"bb{uuid.uuid4().hex[:6]}", timeout_s=5.0)
    core = CacheCore(backend, embedder=bench_cache._FixedEmbedder(), config=CacheConfig())
    req = core.request("probe", llm_string="m", scope=CacheScope(tenant="t"))
    client = redis.Redis.from_url(redis_url)
    try:
        bench_cache._load_ours(client, backend, req.partition, vecs, ["k0", "k1", "k2"])
        loaded = backend.get("e1")
        assert loaded is not None and backend.corrupt == 0
        text = decode_answer(loaded.answer).choices[0]["text"]
        assert len(text) >= 200 and "langchain" in decode_answer(loaded.answer).native
        near = backend.search(req.partition, vecs[1], 3)
        assert near[0].entry_id == "e1" and near[0].answer_key == "k1"
        # The same entry written through put: byte for byte the same hash and exact-tier key.
        stored = client.hgetall(backend._ekey("e1"))
        exact = client.get(backend._xkey("x1"))
        client.delete(backend._ekey("e1"), backend._xkey("x1"))
        backend.put(CacheEntry.model_validate(loaded.model_dump()), vecs[1])
        assert client.hgetall(backend._ekey("e1")) == stored
        assert client.get(backend._xkey("x1")) == exact
    finally:
        client.execute_command("FT.DROPINDEX", backend.index_name, "DD")
        client.close()
