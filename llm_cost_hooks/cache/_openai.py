"""The cache's neutral forms (``._canonical``) in OpenAI's chat-completions shape, and the
scope of a call read from the metadata an OpenAI-style gateway passes along; framework-free.

An adapter that sees calls and answers as chat-completion dicts (the LiteLLM one) maps them
here: :func:`stored_choices` turns a response into what the cache stores,
:func:`completion_from_answer` rebuilds a response from an answer another adapter stored,
:func:`scope_of_call` reads the partition a call may be served from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import CacheScopeError
from ._canonical import StoredAnswer, message_text
from ._scope import CacheScope, current_scope, scope_from_metadata

__all__ = ["completion_dict", "completion_from_answer", "scope_of_call", "stored_choices"]


def completion_from_answer(answer: StoredAnswer) -> dict[str, Any]:
    """A chat-completion dict rebuilt from an answer another framework (LangChain) wrote."""
    choices = []
    for i, c in enumerate(answer.choices):
        msg: dict[str, Any] = {"role": "assistant", "content": str(c.get("text") or "")}
        calls = [
            {
                "id": t.get("id"),
                "type": "function",
                "function": {"name": t.get("name"), "arguments": json.dumps(t.get("args") or {})},
            }
            for t in c.get("tool_calls") or []
        ]
        if calls:
            msg["tool_calls"] = calls
        choices.append(
            {
                "index": i,
                "message": msg,
                "finish_reason": c.get("finish_reason") or ("tool_calls" if calls else "stop"),
            }
        )
    out: dict[str, Any] = {"object": "chat.completion", "choices": choices}
    if answer.model:
        out["model"] = answer.model
    u = answer.usage
    if u:
        out["usage"] = {
            "prompt_tokens": u.get("input_tokens", 0),
            "completion_tokens": u.get("output_tokens", 0),
            "total_tokens": u.get("total_tokens") or u.get("input_tokens", 0) + u.get("output_tokens", 0),
            "prompt_tokens_details": {"cached_tokens": u.get("cache_read_tokens", 0)},
            "completion_tokens_details": {"reasoning_tokens": u.get("reasoning_tokens", 0)},
        }
    return out


def completion_dict(result: Any) -> dict[str, Any]:
    """A chat completion as a dict, from a dict, a JSON string or a pydantic response, also
    inside a ``{"timestamp", "response"}`` envelope."""
    if isinstance(result, (str, bytes)):
        response = json.loads(result)
    elif hasattr(result, "model_dump"):
        response = result.model_dump()
    else:
        response = dict(result)
    if isinstance(response, Mapping) and "response" in response and "choices" not in response:
        response = response["response"]
        if isinstance(response, (str, bytes)):
            response = json.loads(response)
    return dict(response)


def stored_choices(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The choices of a chat completion in the cache's neutral form (text, tool calls,
    finish reason)."""
    choices: list[dict[str, Any]] = []
    for c in response.get("choices") or ():
        msg = (c or {}).get("message") or {}
        choices.append(
            {
                "text": message_text(msg.get("content")) or "",
                "tool_calls": msg.get("tool_calls"),
                "finish_reason": (c or {}).get("finish_reason"),
            }
        )
    return choices


def scope_of_call(sources: Iterable[Any], user: Any = None, identity: Iterable[str] = ()) -> CacheScope:
    """The scope of a call from its metadata mappings (``sources``, later ones win; ``None``
    skipped), then :func:`~llm_cost_hooks.cache.cache_scope` fields; ``user`` when the
    metadata names none. The metadata fields in ``identity`` (a gateway's caller identity,
    e.g. virtual key, team, organisation) wrap the tenant, so a client cannot name its way
    into another caller's entries. Raises :class:`CacheScopeError` on metadata that is not
    a mapping."""
    merged: dict[str, Any] = {}
    for source in sources:
        if source is None:
            continue
        if not isinstance(source, Mapping):
            raise CacheScopeError(f"call metadata is a {type(source).__name__}, not a mapping.")
        merged.update({k: v for k, v in source.items() if v is not None})
    scope = scope_from_metadata(merged)
    if scope.user is None and isinstance(user, str):
        scope = scope.model_copy(update={"user": user})
    explicit = current_scope()
    if explicit is not None:
        scope = scope.merged(explicit)
    caller = [merged.get(f) for f in identity]
    if any(v is not None for v in caller):
        names = [None if v is None else str(v) for v in caller]
        scope = scope.model_copy(update={"tenant": json.dumps(["proxy", *names, scope.tenant])})
    return scope
