"""The neutral key of a call handed over in LangChain's serialised form.

LangChain's ``BaseCache`` receives a chat call as two strings: ``prompt`` (the messages as
``langchain_core.load.dumps`` JSON, or a plain text prompt) and ``llm_string`` (the model's
``dumps`` JSON, ``---``, then ``str(sorted(params.items()))``). Both are plain JSON and Python
literals, read here without importing the framework; :func:`~llm_cost_hooks.cache._canonical.serialized_chat_key`
maps them into the same key the other adapters build.
"""

from __future__ import annotations

import ast
import functools
import json
from typing import Any

__all__ = ["serialized_messages", "serialized_params"]

_ROLES = {
    "HumanMessage": "user",
    "HumanMessageChunk": "user",
    "SystemMessage": "system",
    "SystemMessageChunk": "system",
    "AIMessage": "assistant",
    "AIMessageChunk": "assistant",
    "ToolMessage": "tool",
    "ToolMessageChunk": "tool",
    "FunctionMessage": "function",
    "FunctionMessageChunk": "function",
}
_KEPT = ("content", "name", "tool_calls", "tool_call_id")


def serialized_messages(prompt: str) -> list[dict[str, Any]] | None:
    """Neutral role/content dicts of serialised chat messages, or ``None`` when ``prompt``
    is not such a list (a plain LLM prompt, or a message class of unknown role)."""
    if not prompt.startswith("[{"):
        return None
    try:
        raw = json.loads(prompt)
    except ValueError:
        return None
    if not isinstance(raw, list):
        return None
    msgs = []
    for m in raw:
        if not isinstance(m, dict) or not isinstance(m.get("kwargs"), dict) or not m.get("id"):
            return None
        kw = m["kwargs"]
        cls = str(m["id"][-1])
        role = kw.get("role") if cls.startswith("ChatMessage") else _ROLES.get(cls)
        if role is None:
            return None
        msgs.append({"role": role, **{k: kw[k] for k in _KEPT if k in kw}})
    return msgs


@functools.lru_cache(maxsize=256)  # an app has few distinct llm_strings; parsing one costs ~0.1 ms
def serialized_params(llm_string: str) -> dict[str, Any] | None:
    """The invocation parameters in an ``llm_string``; ``None`` when unreadable.
    Memoised: callers must not change the result."""
    head: dict[str, Any] = {}
    tail = llm_string
    if llm_string.startswith("{"):
        try:
            obj, end = json.JSONDecoder().raw_decode(llm_string)
        except ValueError:
            return None
        if not llm_string.startswith("---", end) or not isinstance(obj, dict):
            return None
        kwargs = obj.get("kwargs")
        head = kwargs if isinstance(kwargs, dict) else {}
        tail = llm_string[end + 3 :]
    try:
        items = ast.literal_eval(tail) if tail else []
        params = {**head, **dict(items)}
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(params.get("model_kwargs"), dict):
        params = {**params["model_kwargs"], **params}
    return params
