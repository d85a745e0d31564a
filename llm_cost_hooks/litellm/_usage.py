"""Read token usage and response details out of LiteLLM objects, duck-typed.

Kept free of any LiteLLM import: the objects are read through ``getattr`` / mapping
access. Usage and responses are OpenAI-shaped and read by the core
(``llm_cost_hooks.tracking._usage`` and ``._responses``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .._records import TokenUsage
from ..tracking._responses import LLMResultView, output_text
from ..tracking._usage import usage_from_openai, usage_of_response

__all__ = [
    "LLMResultView",
    "output_text",
    "returned_model",
    "usage_from_litellm",
    "usage_not_asked",
    "usage_of_call",
]


def usage_from_litellm(usage: Any) -> TokenUsage | None:
    """A :class:`TokenUsage` from a LiteLLM ``Usage`` (or an OpenAI usage dict).

    Reads chat-completions fields (``prompt_tokens``, ``completion_tokens``,
    ``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``),
    Anthropic-style ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` and
    Responses-API fields (``input_tokens``, ``output_tokens``, ``*_tokens_details``).
    Returns None when there is no usage at all.

    >>> usage_from_litellm({"prompt_tokens": 1200, "completion_tokens": 30,
    ...     "prompt_tokens_details": {"cached_tokens": 1000}}).cache_read_tokens
    1000
    """
    return usage_from_openai(usage)


def usage_of_call(response: Any, kwargs: Mapping[str, Any]) -> TokenUsage | None:
    """A LiteLLM response's usage, marked with the service tier that served it (the
    response's ``service_tier``, else the one the request asked for)."""
    sent = kwargs.get("optional_params")
    # type(), not an ABC isinstance check: once per call (LiteLLM passes a dict).
    return usage_of_response(response, sent.get("service_tier") if type(sent) is dict else None)


def usage_not_asked(kwargs: Mapping[str, Any]) -> bool:
    """A stream whose server sent no token counts, so the usage LiteLLM reports is its own
    count (from 1.110; zeros before). Read from the chunks LiteLLM kept of the stream
    (``original_response``, its stream wrapper): any provider, and a server that sends
    usage unasked counts as sending it. Without those chunks: :func:`_openai_not_asked`."""
    chunks = getattr(kwargs.get("original_response"), "chunks", None)
    if isinstance(chunks, list) and chunks:
        for chunk in reversed(chunks):  # the usage chunk is the last or near it
            usage = chunk.get("usage") if isinstance(chunk, dict) else getattr(chunk, "usage", None)
            counted = usage_from_openai(usage) if usage is not None else None
            if counted is not None and (counted.input_tokens or counted.output_tokens):
                return False
        return True
    return _openai_not_asked(kwargs)


def _openai_not_asked(kwargs: Mapping[str, Any]) -> bool:
    """An OpenAI-API stream sent without ``stream_options.include_usage`` to a server other
    than api.openai.com (LiteLLM asks OpenAI's own API for usage itself): the server sent no
    counts, so the usage LiteLLM reports is its own count."""
    if kwargs.get("custom_llm_provider") != "openai":
        return False
    sent = kwargs.get("optional_params")
    options = sent.get("stream_options") if isinstance(sent, Mapping) else None
    if isinstance(options, Mapping) and options.get("include_usage"):
        return False
    params = kwargs.get("litellm_params")
    base = params.get("api_base") if isinstance(params, Mapping) else None
    if not isinstance(base, str) or not base:
        return False  # LiteLLM's default base: api.openai.com
    host = urlsplit(base).hostname or ""
    return host != "api.openai.com" and not host.endswith(".api.openai.com")


def returned_model(response: Any, hidden: Any) -> str | None:
    """The model the provider said answered: LiteLLM keeps it in ``_hidden_params`` (a
    stream's ``model`` is the requested name), else the response's ``model``."""
    name = hidden.get("provider_response_model") if isinstance(hidden, Mapping) else None
    if not name:
        name = response.get("model") if isinstance(response, Mapping) else getattr(response, "model", None)
    return name if isinstance(name, str) and name else None
