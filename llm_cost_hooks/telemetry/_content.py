"""Prompt and answer content in the GenAI conventions' message format (opt-in only).

Inputs arrive as OpenAI-format message dicts (or a plain prompt string); outputs are
read duck-typed from a LangChain ``LLMResult``-like object (``.generations`` of objects
with ``.text`` and optionally ``.message``), so this module imports no framework.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _json_args(args: Any) -> Any:
    if isinstance(args, str):
        try:
            return json.loads(args)
        except ValueError:
            return args
    return args


def _parts_from_content(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, Sequence):
        for item in content:
            if isinstance(item, str):
                parts.append({"type": "text", "content": item})
            elif isinstance(item, Mapping):
                if item.get("type") == "text" or "text" in item:
                    parts.append({"type": "text", "content": str(item.get("text", ""))})
                else:  # images, audio, ...: keep the kind, never the payload
                    parts.append({"type": str(item.get("type", "unknown"))})
    return parts


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """OpenAI-format messages (or a prompt string) -> ``gen_ai.input.messages``."""
    if isinstance(messages, str):
        return [{"role": "user", "parts": [{"type": "text", "content": messages}]}]
    out: list[dict[str, Any]] = []
    for m in messages or ():
        if not isinstance(m, Mapping):
            continue
        role = str(m.get("role", "user"))
        if role == "tool":
            parts = [
                {"type": "tool_call_response", "id": m.get("tool_call_id"), "response": m.get("content")}
            ]
        else:
            parts = _parts_from_content(m.get("content"))
            for tc in m.get("tool_calls") or ():
                fn = tc.get("function") or {}
                parts.append(
                    {
                        "type": "tool_call",
                        "id": tc.get("id"),
                        "name": fn.get("name"),
                        "arguments": _json_args(fn.get("arguments")),
                    }
                )
        out.append({"role": role, "parts": parts})
    return out


def output_messages(outputs: Any, finish_reasons: Sequence[str | None]) -> list[dict[str, Any]]:
    """Generations of an ``LLMResult``-like object -> ``gen_ai.output.messages``."""
    out: list[dict[str, Any]] = []
    i = 0
    for group in getattr(outputs, "generations", None) or ():
        for gen in group:
            message = getattr(gen, "message", None)
            if message is not None:
                parts = _parts_from_content(getattr(message, "content", None))
                for tc in getattr(message, "tool_calls", None) or ():
                    parts.append(
                        {
                            "type": "tool_call",
                            "id": tc.get("id"),
                            "name": tc.get("name"),
                            "arguments": tc.get("args"),
                        }
                    )
            else:
                parts = _parts_from_content(getattr(gen, "text", None))
            reason = finish_reasons[i] if i < len(finish_reasons) else None
            out.append({"role": "assistant", "parts": parts, "finish_reason": reason or "stop"})
            i += 1
    return out


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
