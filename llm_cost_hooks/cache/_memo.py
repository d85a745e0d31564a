"""Small per-cache memos that make a repeated exact hit cheap in an adapter.

Building a request (parsing the call, normalising, hashing) and rebuilding a stored answer
as framework objects are most of an exact hit's own cost. Calls of one app repeat few
prompts per scope, and the same entry is served many times, so both are remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["RequestMemo", "RevivedMemo"]


class RequestMemo:
    """Built requests by ``(prompt, llm_string, scope)``, valid for one config object.

    Scopes are compared by identity (scope readers return one shared, frozen object per
    distinct scope); the entry keeps its scope alive, so an id is never reused while it is
    remembered. A different scope object or a replaced config is a miss (a rebuild, never a
    wrong request).
    """

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int = 256) -> None:
        self._size = size  # keys hold whole prompts: keep it small
        self._entries: dict[tuple[str, str, int], tuple[object, object, Any]] = {}

    def get(self, prompt: str, llm_string: str, scope: object, config: object) -> Any:
        got = self._entries.get((prompt, llm_string, id(scope)))
        if got is not None and got[0] is scope and got[1] is config:
            return got[2]
        return None

    def put(self, prompt: str, llm_string: str, scope: object, config: object, value: Any) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[(prompt, llm_string, id(scope))] = (scope, config, value)


class RevivedMemo:
    """Answers already rebuilt, least recently used first out. The key must name
    everything the rebuilt answer depends on (entry id, stored answer, hit marker, ...).
    Callers hand out copies: the stored objects are shared."""

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        return self._entries.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        self._entries[key] = value
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def serve(self, hit: Any, variant: Hashable, rebuild: Callable[[], Any]) -> Any:
        """The answer of ``hit`` (a :class:`~llm_cost_hooks.cache.CacheHit`) as rebuilt by
        ``rebuild()`` for ``variant``; ``None`` (not remembered) when that returns ``None``."""
        entry = hit.entry
        # Everything the rebuilt answer carries: the stored text and the hit marker's fields.
        key = (entry.id, entry.answer, variant, hit.status, hit.saved_usd, round(hit.similarity, 4))
        got = self._entries.get(key)
        if got is None:
            got = rebuild()
            if got is not None:
                self.put(key, got)
        return got
