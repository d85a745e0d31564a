"""The usage a provider would report for a reply, counted offline: what the test and demo
chat models report so that their costs look like a real bill."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .._records import TokenUsage
from ._counter import TokenCounter, default_counter

__all__ = ["reply_usage"]


def reply_usage(
    messages: Sequence[Mapping[str, Any]],
    text: str,
    model: str,
    *,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    reasoning_tokens: int = 0,
    cached_fraction: float = 0.0,
    counter: TokenCounter | None = None,
) -> TokenUsage:
    """Usage of answering ``messages`` (OpenAI-shaped) with ``text`` and ``tool_calls``:
    prompt and answer counted with ``model``'s tokenizer, plus ``reasoning_tokens`` of
    hidden output; ``cached_fraction`` of the prompt reported as cache reads."""
    counter = counter or default_counter()
    prompt = counter.count_messages(list(messages), model).tokens
    output = counter.count_text(text, model).tokens
    if tool_calls:
        output += counter.count_text(json.dumps([dict(tc) for tc in tool_calls], default=str), model).tokens
    return TokenUsage(
        input_tokens=prompt,
        output_tokens=output + reasoning_tokens,
        cache_read_tokens=int(prompt * cached_fraction),
        reasoning_tokens=reasoning_tokens,
    )
