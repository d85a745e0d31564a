"""Read token usage and response details out of LiteLLM objects, duck-typed.

Kept free of any LiteLLM import: the objects are read through ``getattr`` / mapping
access. Usage and responses are OpenAI-shaped and read by the core
(``llm_cost_hooks.tracking._usage`` and ``._responses``).
"""

from __future__ import annotations

from typing import Any

from .._records import TokenUsage
from ..tracking._responses import LLMResultView, output_text
from ..tracking._usage import usage_from_openai

__all__ = ["LLMResultView", "output_text", "usage_from_litellm"]


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
