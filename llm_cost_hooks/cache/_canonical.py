"""The framework-neutral request key and answer format every adapter maps into.

One entry written by the LangChain adapter is read by the LiteLLM adapter (and the other
way round) when scope, model and the answer-changing parameters match, because both turn
their calls into the same :class:`ChatKey`:

* messages in a neutral shape (``role``, text ``content``, ``name``, assistant
  ``tool_calls`` as ``{id, name, args}``, tool ``tool_call_id``);
* the bare model name;
* only the generation parameters that change the answer (:data:`ANSWER_PARAMS`, with
  aliases such as ``max_completion_tokens`` -> ``max_tokens``; ``None`` and ``n=1``
  dropped). An adapter may pass ``extra`` parameters it does not recognise: they go into
  the key too, so an unknown setting never shares answers (it only costs a miss).

Answers are stored as :func:`encode_answer` JSON: the neutral part (choices' text, tool
calls and finish reasons, the model, token usage) that every adapter can rebuild its own
type from, plus each writer's native form (LangChain's ``langchain_core.load`` JSON, the
LiteLLM response dict) for full fidelity when the same framework reads it back.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._build import CacheFront, CacheOptions, build_core, stored_usage
from ._memo import RequestMemo, RevivedMemo, shallow_copies
from ._scope import begin_run, end_run, resolve_scope, run_scope
from ._serialized import serialized_messages, serialized_params

__all__ = [
    "ANSWER_ALIASES",
    "ANSWER_PARAMS",
    "CacheFront",
    "CacheOptions",
    "ChatKey",
    "RequestMemo",
    "RevivedMemo",
    "SerializedRequests",
    "StoredAnswer",
    "answer_params",
    "begin_run",
    "build_core",
    "canonical_chat",
    "decode_answer",
    "drop_corrupt",
    "encode_answer",
    "end_run",
    "hit_marker",
    "message_text",
    "price_usage",
    "resolve_scope",
    "run_scope",
    "serialized_chat_key",
    "shallow_copies",
    "store_answer",
    "stored_usage",
    "token_usage",
]

logger = logging.getLogger("llm_cost_hooks.cache")

#: Generation parameters that change the answer, with their aliases (key: canonical name).
ANSWER_PARAMS: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "top_k": ("top_k",),
    "max_tokens": ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens"),
    "stop": ("stop", "stop_sequences"),
    "seed": ("seed",),
    "n": ("n",),
    "presence_penalty": ("presence_penalty",),
    "frequency_penalty": ("frequency_penalty",),
    "logit_bias": ("logit_bias",),
    "logprobs": ("logprobs",),
    "top_logprobs": ("top_logprobs",),
    "response_format": ("response_format",),
    "tools": ("tools",),
    "tool_choice": ("tool_choice",),
    "functions": ("functions",),
    "function_call": ("function_call",),
    "parallel_tool_calls": ("parallel_tool_calls",),
    "reasoning_effort": ("reasoning_effort",),
    "thinking": ("thinking",),
}
_ALIAS = {alias: name for name, aliases in ANSWER_PARAMS.items() for alias in aliases}
#: Every parameter name (canonical or alias) :func:`canonical_chat` reads.
ANSWER_ALIASES = frozenset(_ALIAS)


def message_text(content: Any) -> str | None:
    """The text of a message's content (a string or a list of text blocks); ``None`` when
    it holds anything else (images, audio, files)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif (
                isinstance(block, Mapping)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                parts.append(block["text"])
            else:
                return None
        return "\n".join(parts)
    return None


def _norm_content(content: Any) -> Any:
    text = message_text(content)
    return text if text is not None else content


def _norm_tool_calls(calls: Any) -> list[dict[str, Any]]:
    out = []
    for call in calls or []:
        if not isinstance(call, Mapping):
            continue
        fn = call.get("function")
        if isinstance(fn, Mapping):  # OpenAI shape: arguments as a JSON string
            name, args = fn.get("name"), fn.get("arguments")
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args else {}
                except ValueError:
                    pass
        else:  # LangChain shape
            name, args = call.get("name"), call.get("args")
        out.append({"id": call.get("id"), "name": name, "args": args})
    return out


def _norm_message(msg: Mapping[str, Any]) -> dict[str, Any]:
    role = str(msg.get("role") or "user")
    out: dict[str, Any] = {"role": role, "content": _norm_content(msg.get("content"))}
    if out["content"] is None:
        out["content"] = ""
    if msg.get("name"):
        out["name"] = msg["name"]
    if role == "assistant" and msg.get("tool_calls"):
        out["tool_calls"] = _norm_tool_calls(msg["tool_calls"])
    if role == "tool" and msg.get("tool_call_id"):
        out["tool_call_id"] = msg["tool_call_id"]
    return out


def _norm_param(name: str, value: Any) -> Any:
    if name == "stop" and isinstance(value, str):
        return [value]
    return value


def answer_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The answer-changing parameters of ``params`` under their canonical names."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = _ALIAS.get(key)
        if name is None or value is None or value == [] or value == "":
            continue
        if name == "n" and value == 1:
            continue
        out[name] = _norm_param(name, value)
    return out


def _dumps(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ChatKey:
    """What a chat request is cached under: ``llm_string`` (model + parameters, part of the
    partition), ``query`` (the last user message, compared exactly and semantically) and
    ``context`` (everything before it, matched exactly). :func:`canonical_chat` makes one.

    >>> key = canonical_chat("gpt-4o-mini", [{"role": "system", "content": "Be brief."},
    ...                                      {"role": "user", "content": "Where is my card?"}])
    >>> key.model, key.query, key.semantic, "Be brief." in key.context
    ('gpt-4o-mini', 'Where is my card?', True, True)
    """

    model: str
    llm_string: str
    query: str
    context: str
    semantic: bool


def canonical_chat(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> ChatKey:
    """The neutral cache key of a chat request.

    ``messages`` are role/content dicts (OpenAI shape; adapters convert theirs);
    ``params`` may hold anything: only :data:`ANSWER_PARAMS` are read. ``extra``
    parameters are keyed verbatim.

    >>> a = canonical_chat("gpt-4o-mini", [{"role": "user", "content": "Hi"}], {"max_completion_tokens": 5})
    >>> b = canonical_chat("gpt-4o-mini", [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    ...                    {"max_tokens": 5, "n": 1, "stop": None})
    >>> a == b, a.query
    (True, 'Hi')
    """
    msgs = [_norm_message(m) for m in messages]
    query, semantic = "", False
    last = msgs[-1] if msgs else None
    if last is not None and last["role"] == "user" and isinstance(last["content"], str):
        query, semantic = last["content"], True
        rest = {k: v for k, v in last.items() if k not in ("role", "content")}
        msgs = [*msgs[:-1], rest] if rest else msgs[:-1]
    else:  # a tool result or multimodal input last: the whole conversation is the exact key
        query, msgs = _dumps(msgs), []
    key_params = answer_params(params or {})
    if extra:
        key_params["extra"] = {k: v for k, v in sorted(extra.items()) if v is not None}
    llm_string = _dumps({"model": model, "params": key_params})
    return ChatKey(
        model=model,
        llm_string=llm_string,
        query=query,
        context=_dumps(msgs) if msgs else "",
        semantic=semantic,
    )


# Invocation parameters that do not change the answer (transport, client, framework
# plumbing). Anything else that is not a known answer parameter is keyed verbatim, so an
# unusual setting costs a miss, never a wrong answer.
_NOT_ANSWER = re.compile(
    r"^_type$|^name$|api_key|api_base|api_url|base_url|api_version|organization|proxy|timeout|retr(y|ies)|"
    r"headers|client|stream|verbose|callbacks|^tags$|^metadata$|^cache$|rate_limiter|output_version|"
    r"endpoint|region|credentials|^model_kwargs$|^model(_name|_id)?$"
)


@functools.lru_cache(maxsize=256)  # lookup and update of one call, and repeated (hit) prompts, parse once
def serialized_chat_key(prompt: str, llm_string: str) -> ChatKey:
    """The neutral key of a serialised call (what the LiteLLM adapter computes for the same
    model, parameters and messages).

    When the model name cannot be read from ``llm_string`` the whole ``llm_string`` is the
    model key (such entries are not shared with other frameworks). A plain text prompt is
    keyed apart from chat messages with the same text.
    """
    msgs = serialized_messages(prompt)
    params = serialized_params(llm_string)
    model = next(
        (str(params[k]) for k in ("model_name", "model", "model_id") if params and params.get(k)), None
    )
    extra: dict[str, Any] = {}
    if model is None or params is None:
        model, params = llm_string, {}
    else:
        extra = {
            k: v
            for k, v in params.items()
            if k not in ANSWER_ALIASES
            and not _NOT_ANSWER.search(k)
            and not (isinstance(v, dict) and v.get("type") == "secret")
        }
    if msgs is None:  # a plain (non-chat) LLM prompt: never shared with chat answers
        msgs, extra = [{"role": "user", "content": prompt}], {**extra, "prompt": "text"}
    return canonical_chat(model, msgs, params, extra=extra)


class SerializedRequests:
    """The cache request and neutral key of a serialised call (``prompt``, ``llm_string``)
    in a scope, memoised: the lookup and the update of one call, and repeated prompts,
    build it once (a replaced config of ``core`` builds anew)."""

    __slots__ = ("_memo", "core")

    def __init__(self, core: Any) -> None:
        self.core = core
        self._memo = RequestMemo()

    def get(self, prompt: str, llm_string: str, scope: Any) -> tuple[Any, ChatKey]:
        config = self.core.config
        got: tuple[Any, ChatKey] | None = self._memo.get(prompt, llm_string, scope, config)
        if got is None:
            key = serialized_chat_key(prompt, llm_string)
            req = self.core.request(
                key.query, llm_string=key.llm_string, context=key.context, scope=scope, semantic=key.semantic
            )
            got = (req, key)
            self._memo.put(prompt, llm_string, scope, config, got)
        return got


# ------------------------------------------------------------------------- answers
@dataclass(slots=True)
class StoredAnswer:
    """A decoded answer: the neutral choices/model/usage, and the writers' native forms.
    :func:`decode_answer` makes one.

    >>> answer = decode_answer(encode_answer([{"text": "On its way.", "finish_reason": "stop"}],
    ...                                      model="gpt-4o-mini"))
    >>> answer.text, answer.model
    ('On its way.', 'gpt-4o-mini')
    >>> answer.messages()[0]["content"], answer.messages()[0]["finish_reason"]
    ('On its way.', 'stop')
    """

    choices: list[dict[str, Any]]
    model: str | None
    usage: dict[str, int] | None
    native: dict[str, Any]

    @property
    def text(self) -> str:
        return "".join(str(c.get("text") or "") for c in self.choices)

    def messages(self) -> list[dict[str, Any]]:
        """One assistant message per choice: ``content``, ``tool_calls`` (``{id, name, args}``),
        ``finish_reason`` and, on the first, ``usage`` (:func:`token_usage`; else ``None``).
        Raises ``ValueError`` when there is no choice."""
        if not self.choices:
            raise ValueError("stored answer has no choices")
        return [
            {
                "content": str(c.get("text") or ""),
                "tool_calls": [
                    {"id": t.get("id"), "name": t.get("name"), "args": t.get("args") or {}}
                    for t in c.get("tool_calls") or []
                ],
                "finish_reason": c.get("finish_reason"),
                "usage": token_usage(self.usage) if self.usage and i == 0 else None,
            }
            for i, c in enumerate(self.choices)
        ]


_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def encode_answer(
    choices: Sequence[Mapping[str, Any]],
    *,
    model: str | None = None,
    usage: Mapping[str, Any] | None = None,
    native: Mapping[str, Any] | None = None,
) -> str:
    """The JSON an entry stores. ``choices``: ``{"text", "tool_calls", "finish_reason"}``;
    ``usage``: ``input_tokens``, ``output_tokens``, ``cache_read_tokens``, ...;
    ``native``: ``{"langchain": <load JSON>, "litellm": <response dict>}``.

    >>> stored = encode_answer([{"text": "Within 3-5 business days."}], model="gpt-4o-mini")
    >>> decode_answer(stored).choices[0]["text"]
    'Within 3-5 business days.'
    """
    neutral = [
        {
            "text": str(c.get("text") or ""),
            "tool_calls": _norm_tool_calls(c.get("tool_calls")),
            "finish_reason": c.get("finish_reason"),
        }
        for c in choices
    ]
    u = {k: int(usage[k]) for k in _USAGE_KEYS if usage and usage.get(k) is not None}
    return _dumps(
        {"v": 1, "choices": neutral, "model": model, "usage": u or None, "native": dict(native or {})}
    )


def decode_answer(stored: str) -> StoredAnswer:
    """Read an entry's answer; raises ``ValueError`` when it is not one of ours.

    >>> decode_answer(encode_answer([{"text": "Yes."}], usage={"output_tokens": 2})).usage
    {'output_tokens': 2}
    """
    data = json.loads(stored)
    if isinstance(data, Mapping) and data.get("v") == 1 and isinstance(data.get("choices"), list):
        native = data.get("native") or {}
        if not isinstance(native, Mapping):
            raise ValueError("stored answer's native part is not an object")
        usage = data.get("usage")
        return StoredAnswer(
            choices=list(data["choices"]),
            model=data.get("model"),
            usage=dict(usage) if isinstance(usage, Mapping) else None,
            native=dict(native),
        )
    raise ValueError("not a stored answer (format v1)")


def price_usage(usage: Mapping[str, Any] | None, model: str | None, price_book: Any = None) -> float | None:
    """What a call with ``usage`` (neutral token counts) cost on ``model``: the saving a
    hit on its entry records. ``None`` when usage or the model's price is unknown."""
    if not usage or not model:
        return None
    try:
        from ..pricing import PriceBook

        book = price_book or PriceBook.default()
        return float(
            book.cost({k: int(usage.get(k) or 0) for k in _USAGE_KEYS if k != "total_tokens"}, model).total
        )
    except Exception:
        return None


def hit_marker(hit: Any) -> dict[str, Any]:
    """What an adapter attaches to a served answer so the cost records show the hit."""
    marker: dict[str, Any] = {"status": hit.status, "saved_usd": hit.saved_usd}
    if hit.status == "semantic":
        marker.update(similarity=round(hit.similarity, 4), entry_id=hit.entry.id)
    return marker


def token_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Neutral token counts in the input/output shape with details (what LangChain calls
    ``usage_metadata``)."""
    inp, out = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": usage.get("total_tokens") or inp + out,
        "input_token_details": {
            "cache_read": usage.get("cache_read_tokens", 0),
            "cache_creation": usage.get("cache_write_tokens", 0),
        },
        "output_token_details": {"reasoning": usage.get("reasoning_tokens", 0)},
    }


# What langchain_core.load.dumps writes for an object it cannot serialise (unescaped quotes:
# never inside a JSON string value).
_UNREADABLE = '"type": "not_implemented"'


def store_answer(
    core: Any,
    req: Any,
    choices: Sequence[Mapping[str, Any]],
    *,
    model: str,
    usage: Mapping[str, Any] | None,
    native: Mapping[str, Any],
    price_book: Any = None,
) -> str | None:
    """Write a model's answer for ``req`` through ``core`` in the shared format, with the
    saving a hit on it will record. Returns the online verification's outcome
    (``"agree"`` / ``"disagree"``) when this call was one, else ``None``."""
    if any(isinstance(v, str) and _UNREADABLE in v for v in native.values()):
        # Part of the answer has no serialised form (e.g. a routed structured answer's parsed
        # object): it would never read back, so it is not stored (its tier's call was).
        logger.debug("answer not cached: part of it cannot be serialised")
        return None
    req = dataclasses.replace(req, verified=None)  # requests are memoised and shared: never write into one
    core.update(
        req,
        encode_answer(choices, model=model, usage=usage, native=native),
        answer_text="".join(_answer_text(c) for c in choices),
        cost_usd=price_usage(usage, model, price_book),
        model=model,
    )
    verified: str | None = req.verified
    return verified


def _answer_text(choice: Mapping[str, Any]) -> str:
    """What a choice's answer key and agreement are computed from: its text, and its tool
    calls' names and arguments (a tool-call answer has no text; calls with other arguments
    are other answers)."""
    calls = [{"name": t["name"], "args": t["args"]} for t in _norm_tool_calls(choice.get("tool_calls"))]
    return str(choice.get("text") or "") + (_dumps(calls) if calls else "")


def drop_corrupt(core: Any, entry_id: str, exc: BaseException) -> None:
    """An entry could not be read back: count it, warn, and remove it (the call is a miss)."""
    core.count_corrupt()
    # The type only: a validation error quotes the stored answer it could not read.
    logger.warning("cache entry %s is corrupt (%s); removed", entry_id, type(exc).__name__)
    core.invalidate(entry_id=entry_id)
