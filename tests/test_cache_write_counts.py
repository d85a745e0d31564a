"""``stats.writes`` counts answers stored, not answers offered while the backend is down."""

from __future__ import annotations

from typing import Any

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend


class DownOnPut(EmbeddedBackend):
    def put(self, entry: Any, vec: Any) -> None:
        raise ConnectionError("backend down")


def test_writes_count_only_what_was_stored() -> None:
    core = CacheCore(DownOnPut(), config=CacheConfig(semantic=False))
    for i in range(5):  # 3 failures open the breaker; the other 2 are skipped
        core.update(core.request(f"question {i}", scope=CacheScope(tenant="t")), "answer")
    assert core.stats.writes == 0
    assert core.stats.errors == 3 and core.stats.skipped_while_open == 2

    up = CacheCore(EmbeddedBackend(), config=CacheConfig(semantic=False))
    up.update(up.request("question", scope=CacheScope(tenant="t")), "answer")
    assert up.stats.writes == 1
