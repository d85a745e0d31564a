"""The replies of the test and demo chat models and the usage a provider would report for
them, counted offline, so that their costs look like a real bill."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._records import TokenUsage
from ._counter import TokenCounter, default_counter

__all__ = ["ReplyScript", "reply_usage", "usage_metadata"]


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


def usage_metadata(usage: TokenUsage) -> dict[str, Any]:
    """``usage`` in the input/output shape with details (LangChain's ``usage_metadata``;
    a detail only when non-zero)."""
    out: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    details = {"cache_read": usage.cache_read_tokens, "cache_creation": usage.cache_write_tokens}
    if any(details.values()):
        out["input_token_details"] = {k: v for k, v in details.items() if v}
    if usage.reasoning_tokens:
        out["output_token_details"] = {"reasoning": usage.reasoning_tokens}
    return out


class ReplyScript:
    """Which reply a test chat model gives next: on call ``i`` it raises ``errors[i]``
    (``None``: answer), else answers ``respond(messages)`` when given, else the next of
    ``responses`` in a cycle. Thread-safe; :attr:`calls` counts the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._cycle: Any = None
        self._lock = threading.Lock()

    def next(
        self,
        messages: Any,
        responses: Sequence[Any],
        respond: Callable[[Any], Any] | None = None,
        errors: Sequence[BaseException | None] = (),
    ) -> Any:
        with self._lock:
            index = self.calls
            self.calls += 1
            error = errors[index] if index < len(errors) else None
            if error is not None:
                raise error
            if respond is None:
                if self._cycle is None:
                    self._cycle = itertools.cycle(responses)
                return next(self._cycle)
        return respond(messages)
