"""Small per-cache memos that make a repeated exact hit cheap in an adapter.

Building a request (parsing the call, normalising, hashing) and rebuilding a stored answer
as framework objects are most of an exact hit's own cost. Calls of one app repeat few
prompts per scope, and the same entry is served many times, so both are remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["RequestMemo", "RevivedMemo", "shallow_copies"]


_setattr = object.__setattr__


def shallow_copies(models: list[Any]) -> list[Any]:
    """Shallow copies of pydantic models: what ``model_copy()`` makes, at a fraction of its
    cost (fields, the set of fields set, extras and private values copied one level)."""
    out = []
    for m in models:
        new = object.__new__(type(m))
        _setattr(new, "__dict__", m.__dict__.copy())
        _setattr(new, "__pydantic_fields_set__", m.__pydantic_fields_set__.copy())
        extra, private = m.__pydantic_extra__, getattr(m, "__pydantic_private__", None)
        _setattr(new, "__pydantic_extra__", None if extra is None else extra.copy())
        _setattr(new, "__pydantic_private__", None if private is None else private.copy())
        out.append(new)
    return out


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

    def serve(self, hit: Any, variant: Hashable, rebuild: Callable[[Any, Any], Any]) -> Any:
        """The answer of ``hit`` (a :class:`~llm_cost_hooks.cache.CacheHit`) as
        ``rebuild(hit, variant)`` makes it; ``None`` (not remembered) when that returns ``None``."""
        entry = hit.entry
        # Everything the rebuilt answer carries: the stored text and the hit marker's fields.
        key = (entry.id, entry.answer, variant, hit.status, hit.saved_usd, hit.similarity)
        got = self._entries.get(key)
        if got is None:
            got = rebuild(hit, variant)
            if got is not None:
                self.put(key, got)
        return got
