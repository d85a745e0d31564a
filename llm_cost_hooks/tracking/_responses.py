"""Views of an OpenAI-shaped chat completion (dict or object, read duck-typed): its text,
and the ``LLMResult`` shape the run observers read, so one observer serves every adapter."""

from __future__ import annotations

from typing import Any

from ._usage import fields_of

__all__ = ["LLMResultView", "output_text"]


def _get(obj: Any, name: str) -> Any:
    return fields_of(obj).get(name)


def output_text(response: Any) -> str:
    """The text of a chat completion's choices ('' when there is none)."""
    parts: list[str] = []
    for choice in _get(response, "choices") or ():
        message = _get(choice, "message")
        content = _get(message, "content") if message is not None else _get(choice, "text")
        if isinstance(content, str):
            parts.append(content)
    return "".join(parts)


class _Gen:
    __slots__ = ("generation_info", "text")

    def __init__(self, text: str, finish_reason: str | None) -> None:
        self.text = text
        self.generation_info = {"finish_reason": finish_reason} if finish_reason else {}


class _GenChunk(_Gen):
    # The telemetry observer marks a call as streamed when its generations are chunks.
    __slots__ = ()


class LLMResultView:
    """A chat completion seen through the ``LLMResult`` shape our observers read.

    Observers (the OpenTelemetry one) read ``generations`` (text, finish reason) and
    ``llm_output`` (response id and model) duck-typed; this lets the same observer serve
    both adapters. Built lazily: nothing is read unless an observer asks.
    """

    __slots__ = ("_generations", "_response", "_stream")

    def __init__(self, response: Any, *, stream: bool = False) -> None:
        self._response = response
        self._generations: list[list[Any]] | None = None
        self._stream = stream

    @property
    def generations(self) -> list[list[Any]]:
        if self._generations is None:
            gens: list[Any] = []
            for choice in _get(self._response, "choices") or ():
                message = _get(choice, "message")
                content = _get(message, "content") if message is not None else _get(choice, "text")
                cls = _GenChunk if self._stream else _Gen
                gen = cls(content if isinstance(content, str) else "", _get(choice, "finish_reason"))
                gens.append(gen)
            self._generations = [gens]
        return self._generations

    @property
    def llm_output(self) -> dict[str, Any]:
        return {"id": _get(self._response, "id"), "model_name": _get(self._response, "model")}
