"""Token usage in the provider (OpenAI-shaped) formats, read into a TokenUsage.

Framework-free and duck-typed: reads plain dicts (a batch output file, ``llm_output``)
and pydantic objects (LiteLLM's ``Usage``) alike. The adapters build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._records import TokenUsage

__all__ = ["fields_of", "usage_from_openai"]


def fields_of(obj: Any) -> Mapping[str, Any]:
    """The fields of a mapping or a (pydantic) object, without attribute look-ups:
    a missing name on a LiteLLM pydantic model goes through its slow ``__getattr__``."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return obj
    fields = getattr(obj, "__dict__", None)
    if not isinstance(fields, dict):
        return {}
    extra = getattr(obj, "__pydantic_extra__", None)
    return {**fields, **extra} if extra else fields


def usage_from_openai(usage: Any) -> TokenUsage | None:
    """A :class:`TokenUsage` from an OpenAI-shaped usage (a dict or a LiteLLM ``Usage``).

    Reads chat-completions fields (``prompt_tokens``, ``completion_tokens``,
    ``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``),
    Anthropic-style ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` and
    Responses-API fields (``input_tokens``, ``output_tokens``, ``*_tokens_details``).
    Returns None when there is no usage at all. Broken counts are repaired and flagged
    (``usage_invalid``), never a lost record.

    >>> usage_from_openai({"prompt_tokens": 1200, "completion_tokens": 30,
    ...     "prompt_tokens_details": {"cached_tokens": 1000}}).cache_read_tokens
    1000
    """
    if usage is None:
        return None
    u = fields_of(usage)
    prompt = u.get("prompt_tokens")
    if prompt is None:
        prompt = u.get("input_tokens")
    completion = u.get("completion_tokens")
    if completion is None:
        completion = u.get("output_tokens")
    if prompt is None and completion is None:
        return None
    pdetails = fields_of(u.get("prompt_tokens_details") or u.get("input_tokens_details"))
    cdetails = fields_of(u.get("completion_tokens_details") or u.get("output_tokens_details"))
    # LiteLLM normalises both spellings; prefer the OpenAI one, fall back to Anthropic's.
    read = pdetails.get("cached_tokens") or u.get("cache_read_input_tokens") or 0
    write = u.get("cache_creation_input_tokens") or pdetails.get("cache_creation_tokens") or 0
    # Counted inside input/output (the OpenTelemetry convention, as providers report them).
    return TokenUsage.from_reported(
        input_tokens=prompt,
        output_tokens=completion,
        cache_read_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=cdetails.get("reasoning_tokens") or 0,
    )
