"""A local stand-in for api.openai.com and api.anthropic.com: byte-realistic bodies of the
providers' current APIs (Chat Completions, Responses, Messages; JSON and SSE), with the
usage fields each documents. The usage numbers are fixed per model so a caller can check
the cost record against a hand computation. The response's ``service_tier`` is the one the
request asked for when it is ``flex`` or ``priority``, else ``default``, as OpenAI answers.

Run: python fake_providers.py  (prints the base URL; serves until killed)
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

# Returned (dated) model per requested alias, and the usage the provider reports.
OPENAI_MODELS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-4o-audio-preview": "gpt-4o-audio-preview-2024-12-17",
    "gpt-5": "gpt-5-2025-08-07",
}
# prompt, cached, completion, reasoning, audio in, audio out
OPENAI_USAGE = {
    "gpt-4o-2024-08-06": (1117, 1024, 46, 0, 0, 0),
    "gpt-4o-mini-2024-07-18": (1117, 1024, 46, 0, 0, 0),
    "o4-mini-2025-04-16": (1350, 1152, 260, 192, 0, 0),
    "gpt-4o-audio-preview-2024-12-17": (900, 0, 120, 0, 300, 80),
    "gpt-5-2025-08-07": (1350, 1152, 260, 192, 0, 0),
}


def served_tier(body: dict[str, Any]) -> str:
    """The tier OpenAI reports for a request: the one asked for, ``default`` for ``auto``
    or none (an account without Scale Tier)."""
    asked = body.get("service_tier")
    return asked if asked in ("flex", "priority") else "default"


ANTHROPIC_MODELS = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
}
# input (uncached), cache write 5m, cache write 1h, cache read, output; the writes split by
# the lifetimes the request's cache_control markers ask for.
ANTHROPIC_USAGE = {
    "5m": (21, 2051, 0, 1800, 503),  # no marker, or only 5-minute ones
    "1h": (21, 0, 2051, 1800, 503),  # every marker asks for 1 hour
    "mixed": (21, 1000, 1051, 1800, 503),
}


def ttl_mode(body: dict[str, Any]) -> str:
    ttls = set()
    for part in [body.get("system"), *[m.get("content") for m in body.get("messages") or []]]:
        for block in part if isinstance(part, list) else []:
            if isinstance(block, dict) and block.get("cache_control"):
                ttls.add(block["cache_control"].get("ttl", "5m"))
    return "mixed" if len(ttls) > 1 else ("1h" if ttls == {"1h"} else "5m")


def openai_usage(model: str) -> dict[str, Any]:
    p, c, o, r, ai, ao = OPENAI_USAGE[model]
    return {
        "prompt_tokens": p,
        "completion_tokens": o,
        "total_tokens": p + o,
        "prompt_tokens_details": {"cached_tokens": c, "audio_tokens": ai},
        "completion_tokens_details": {
            "reasoning_tokens": r,
            "audio_tokens": ao,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def responses_usage(model: str) -> dict[str, Any]:
    p, c, o, r, _, _ = OPENAI_USAGE[model]
    return {
        "input_tokens": p,
        "input_tokens_details": {"cached_tokens": c},
        "output_tokens": o,
        "output_tokens_details": {"reasoning_tokens": r},
        "total_tokens": p + o,
    }


def anthropic_usage(mode: str, output: int | None = None) -> dict[str, Any]:
    i, w5, w1, rd, o = ANTHROPIC_USAGE[mode]
    return {
        "input_tokens": i,
        "cache_creation_input_tokens": w5 + w1,
        "cache_read_input_tokens": rd,
        "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1},
        "output_tokens": o if output is None else output,
        "service_tier": "standard",
    }


def _fill(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments that satisfy a tool's JSON schema (required properties, by type)."""
    out: dict[str, Any] = {}
    props = schema.get("properties") or {}
    for name in schema.get("required") or list(props):
        t = (props.get(name) or {}).get("type", "string")
        out[name] = {"integer": 21, "number": 21.5, "boolean": True, "array": [], "object": {}}.get(
            t, "Paris"
        )
    return out


def _openai_tool(tools: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    fn = tools[0].get("function") or tools[0]
    return fn["name"], _fill(fn.get("parameters") or {})


def _has_tool_result_openai(messages: list[dict[str, Any]]) -> bool:
    return any(m.get("role") == "tool" for m in messages)


def _has_tool_result_anthropic(messages: list[dict[str, Any]]) -> bool:
    for m in messages:
        content = m.get("content")
        if isinstance(content, list) and any(b.get("type") == "tool_result" for b in content):
            return True
    return False


def _json_schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        return rf["json_schema"].get("schema") or {}
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        return fmt.get("schema") or {}
    oc = body.get("output_config") or body.get("output_format") or {}
    if isinstance(oc, dict) and (oc.get("format") or oc).get("type") == "json_schema":
        return (oc.get("format") or oc).get("schema") or {}
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send_json(self, obj: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _send_sse(self, events: list[tuple[str | None, dict[str, Any] | str]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event, data in events:
            text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
            chunk = (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
            self.wfile.write(chunk.encode())
            self.wfile.flush()
        self.close_connection = True

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        Handler.log.append({"path": self.path, "body": body})
        path = self.path.split("?")[0]
        if path.endswith("/chat/completions"):
            self._chat(body)
        elif path.endswith("/responses"):
            self._responses(body)
        elif path.endswith("/messages"):
            self._messages(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    # -- OpenAI Chat Completions --------------------------------------------------------
    def _chat(self, body: dict[str, Any]) -> None:
        model = OPENAI_MODELS.get(body["model"], body["model"])
        tools = body.get("tools") or []
        schema = _json_schema_of(body)
        tool_call = None
        content: str | None = "The weather in Paris is 21 C and sunny."
        if tools and not _has_tool_result_openai(body.get("messages") or []):
            name, args = _openai_tool(tools)
            tool_call = {
                "id": "call_Vx8mKqE3DX0p8BDqfDrdR0PZ",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            content = None
        elif schema is not None:
            content = json.dumps(_fill(schema))
        finish = "tool_calls" if tool_call else "stop"
        base = {
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "created": 1741570283,
            "model": model,
            "service_tier": served_tier(body),
            "system_fingerprint": "fp_fc9f1d7035",
        }
        if not body.get("stream"):
            message = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
            if tool_call:
                message["tool_calls"] = [tool_call]
            self._send_json(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                    "usage": openai_usage(model),
                }
            )
            return
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        chunk = {**base, "object": "chat.completion.chunk"}
        extra = {"usage": None} if include else {}
        events: list[tuple[str | None, Any]] = []
        first = {"role": "assistant", "content": "" if not tool_call else None, "refusal": None}
        if tool_call:
            first["tool_calls"] = [
                {
                    "index": 0,
                    "id": tool_call["id"],
                    "type": "function",
                    "function": {"name": tool_call["function"]["name"], "arguments": ""},
                }
            ]
        events.append(
            (
                None,
                {
                    **chunk,
                    "choices": [{"index": 0, "delta": first, "logprobs": None, "finish_reason": None}],
                    **extra,
                },
            )
        )
        if tool_call:
            args = tool_call["function"]["arguments"]
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                events.append(
                    (
                        None,
                        {
                            **chunk,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": part}}]},
                                    "logprobs": None,
                                    "finish_reason": None,
                                }
                            ],
                            **extra,
                        },
                    )
                )
        else:
            for word in (content or "").split(" "):
                events.append(
                    (
                        None,
                        {
                            **chunk,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"content": word + " "},
                                    "logprobs": None,
                                    "finish_reason": None,
                                }
                            ],
                            **extra,
                        },
                    )
                )
        events.append(
            (
                None,
                {
                    **chunk,
                    "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}],
                    **extra,
                },
            )
        )
        if include:
            events.append((None, {**chunk, "choices": [], "usage": openai_usage(model)}))
        events.append((None, "[DONE]"))
        self._send_sse(events)

    # -- OpenAI Responses ----------------------------------------------------------------
    def _responses(self, body: dict[str, Any]) -> None:
        model = OPENAI_MODELS.get(body["model"], body["model"])
        tools = body.get("tools") or []
        inputs = body.get("input") or []
        had_result = isinstance(inputs, list) and any(
            isinstance(i, dict) and i.get("type") == "function_call_output" for i in inputs
        )
        schema = _json_schema_of(body)
        text = "The weather in Paris is 21 C and sunny."
        if tools and not had_result:
            t = tools[0]
            item = {
                "type": "function_call",
                "id": "fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0",
                "call_id": "call_unLAR8MvFNptuiZK6K6HCy5k",
                "name": t["name"],
                "arguments": json.dumps(_fill(t.get("parameters") or {})),
                "status": "completed",
            }
        else:
            if schema is not None:
                text = json.dumps(_fill(schema))
            item = {
                "type": "message",
                "id": "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c4b1f1af",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
            }
        resp = {
            "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c4b1f1af",
            "object": "response",
            "created_at": 1741476777,
            "status": "completed",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "model": model,
            "output": [item],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": served_tier(body),
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": tools,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": responses_usage(model),
            "user": None,
            "metadata": {},
        }
        if not body.get("stream"):
            self._send_json(resp)
            return
        pending = {**resp, "status": "in_progress", "output": [], "usage": None}
        seq = iter(range(1000))
        ev: list[tuple[str | None, Any]] = []

        def add(kind: str, **data: Any) -> None:
            ev.append((kind, {"type": kind, "sequence_number": next(seq), **data}))

        add("response.created", response=pending)
        add("response.in_progress", response=pending)
        if item["type"] == "function_call":
            add(
                "response.output_item.added",
                output_index=0,
                item={**item, "arguments": "", "status": "in_progress"},
            )
            add(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=0,
                delta=item["arguments"],
            )
            add(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=0,
                arguments=item["arguments"],
            )
        else:
            add(
                "response.output_item.added",
                output_index=0,
                item={**item, "status": "in_progress", "content": []},
            )
            add(
                "response.content_part.added",
                item_id=item["id"],
                output_index=0,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
            for word in text.split(" "):
                add(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=0,
                    content_index=0,
                    delta=word + " ",
                    logprobs=[],
                )
            add(
                "response.output_text.done",
                item_id=item["id"],
                output_index=0,
                content_index=0,
                text=text,
                logprobs=[],
            )
            add(
                "response.content_part.done",
                item_id=item["id"],
                output_index=0,
                content_index=0,
                part={"type": "output_text", "text": text, "annotations": [], "logprobs": []},
            )
        add("response.output_item.done", output_index=0, item=item)
        add("response.completed", response=resp)
        self._send_sse(ev)

    # -- Anthropic Messages --------------------------------------------------------------
    def _messages(self, body: dict[str, Any]) -> None:
        model = ANTHROPIC_MODELS.get(body["model"], body["model"])
        mode = ttl_mode(body)
        tools = body.get("tools") or []
        forced = (body.get("tool_choice") or {}).get("type") == "tool"
        schema = _json_schema_of(body)
        text = "The weather in Paris is 21 C and sunny."
        if tools and (forced or not _has_tool_result_anthropic(body.get("messages") or [])):
            t = tools[0]
            if forced:
                t = next(x for x in tools if x["name"] == body["tool_choice"]["name"])
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": "toolu_01A09q90qw90lq917835lq9",
                "name": t["name"],
                "input": _fill(t.get("input_schema") or {}),
            }
            stop = "tool_use"
        else:
            if schema is not None:
                text = json.dumps(_fill(schema))
            block = {"type": "text", "text": text}
            stop = "end_turn"
        msg = {
            "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": anthropic_usage(mode),
        }
        if not body.get("stream"):
            self._send_json(
                msg, {"request-id": "req_018EeWyXxfu5pfWkrYcMdjWG", "anthropic-organization-id": "x"}
            )
            return
        start_usage = anthropic_usage(mode, output=1)
        ev: list[tuple[str | None, Any]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {**msg, "content": [], "stop_reason": None, "usage": start_usage},
                },
            ),
        ]
        if block["type"] == "tool_use":
            ev.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}},
                )
            )
            ev.append(("ping", {"type": "ping"}))
            js = json.dumps(block["input"])
            for part in (js[: len(js) // 2], js[len(js) // 2 :]):
                ev.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": part},
                        },
                    )
                )
        else:
            ev.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            ev.append(("ping", {"type": "ping"}))
            for word in text.split(" "):
                ev.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": word + " "},
                        },
                    )
                )
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        # message_delta carries the cumulative usage (output tokens; the input-side counts too).
        i, w5, w1, rd, o = ANTHROPIC_USAGE[mode]
        ev.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {
                        "input_tokens": i,
                        "cache_creation_input_tokens": w5 + w1,
                        "cache_read_input_tokens": rd,
                        "output_tokens": o,
                    },
                },
            )
        )
        ev.append(("message_stop", {"type": "message_stop"}))
        self._send_sse(ev)


def start() -> tuple[str, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


if __name__ == "__main__":
    url, srv = start()
    print(url, flush=True)
    threading.Event().wait()
