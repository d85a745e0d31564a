"""Exact, offline token counts (tiktoken on LiteLLM's bundled BPE files)."""

from .._errors import TokenizerUnavailableError
from ._counter import (
    TokenCount,
    TokenCounter,
    count_message_tokens,
    count_tokens,
    default_counter,
)

__all__ = [
    "TokenCount",
    "TokenCounter",
    "TokenizerUnavailableError",
    "count_message_tokens",
    "count_tokens",
    "default_counter",
]
