"""Reading token usage from LangChain objects: the one place the adapter does it.

``usage_metadata`` on an ``AIMessage`` (LangChain's standard field) and the older
``llm_output["token_usage"]`` (OpenAI's field names) both become a ``TokenUsage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._records import TokenUsage
from ..tracking._usage import usage_from_openai

__all__ = [
    "model_name_of",
    "replayed_by_cache",
    "usage_from_llm_output",
    "usage_from_metadata",
    "usage_of_message",
]


def model_name_of(model: Any) -> tuple[str, str | None]:
    """(model name, provider) of a chat model, as its LangSmith parameters report them."""
    try:
        params = model._get_ls_params()
    except Exception:  # a model whose params need call-time arguments
        params = {}
    name = params.get("ls_model_name") or getattr(model, "model_name", None) or getattr(model, "model", None)
    return (str(name) if name else type(model).__name__), params.get("ls_provider")


def usage_from_metadata(um: Mapping[str, Any]) -> TokenUsage:
    inp = um.get("input_token_details") or {}
    out = um.get("output_token_details") or {}
    return TokenUsage.from_reported(
        input_tokens=um.get("input_tokens") or 0,
        output_tokens=um.get("output_tokens") or 0,
        cache_read_tokens=inp.get("cache_read") or 0,
        cache_write_tokens=inp.get("cache_creation") or 0,
        reasoning_tokens=out.get("reasoning") or 0,
    )


def usage_from_llm_output(llm_output: Mapping[str, Any]) -> TokenUsage | None:
    """``llm_output["token_usage"]`` (or ``["usage"]``; OpenAI's field names) as a
    :class:`TokenUsage`, or None when there is none."""
    token_usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(token_usage, Mapping) or not token_usage:
        return None
    return usage_from_openai(token_usage) or TokenUsage()


def replayed_by_cache(um: Mapping[str, Any] | None) -> bool:
    """LangChain's own caches replay the stored usage with ``total_cost: 0`` added."""
    return um is not None and "total_cost" in um and not um["total_cost"]


def usage_of_message(message: Any) -> TokenUsage | None:
    """The usage a message reports in ``usage_metadata``, or None when it reports none."""
    um = getattr(message, "usage_metadata", None)
    return usage_from_metadata(um) if um else None
