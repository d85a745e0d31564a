"""Where ``cache_control`` breakpoints go, and how much of a request can be cached.

A request is read in the order the provider hashes its prefix: tool definitions, then
system messages, then the conversation. It splits into segments that change at different
rates -- tools, system prompt, history (few-shot examples and earlier turns), long
documents in the final turn -- and the *tail*: the final user turn (or the trailing tool
results of an agent loop), which is new in every request and never gets a breakpoint.

Candidate breakpoints sit at the end of each stable segment. A candidate is kept when
the prefix up to it reaches the model's minimum cacheable length; at most
``max_breakpoints`` minus the breakpoints already in the request are placed, the longest
prefix first. Content that certainly changes per request (UUIDs, timestamps with seconds,
epoch times, long hex ids) ends the stable prefix wherever it appears: nothing after it
can be read back from the cache.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from threading import Lock
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from .._errors import ConfigurationError
from ._rules import DEFAULT_CACHE_RULES, CacheMode, CacheRule, ResolvedCacheRule, resolve_cache_rule

__all__ = [
    "BreakpointInfo",
    "BreakpointReport",
    "add_cache_breakpoints",
    "analyze_request",
    "find_volatile",
]

Segment = Literal["tools", "system", "history", "documents"]

# (kind, pattern, certain): "certain" content changes on every request; a bare date
# changes daily, which still leaves most requests of a day a cache hit.
_VOLATILE: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    ("uuid", re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), True),
    ("timestamp", re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}:\d{2}"), True),
    ("time", re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b"), True),
    ("epoch", re.compile(r"\b1[5-9]\d{8}(?:\d{3})?\b"), True),
    ("hex_id", re.compile(r"\b[0-9a-f]{24,}\b"), True),
    ("date", re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), False),
)  # fmt: skip

# One pass over a text that has none of them (the usual case) instead of one per kind.
_ANY_VOLATILE = re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern, _ in _VOLATILE))

_NO_MARK_KINDS = frozenset({"thinking", "redacted_thinking"})
_PER_MESSAGE = 3  # OpenAI's framing tokens per message; close enough for Claude


def find_volatile(text: str) -> list[tuple[str, bool]]:
    """Kinds of per-request content found in ``text``: ``[(kind, certain), ...]``.

    >>> find_volatile("request 3f2b8c1e-9a4d-4c2b-8e7f-1a2b3c4d5e6f at 2026-11-23 10:04:05")
    [('uuid', True), ('timestamp', True), ('time', True), ('date', False)]
    """
    if not _ANY_VOLATILE.search(text):
        return []
    return [(kind, certain) for kind, pattern, certain in _VOLATILE if pattern.search(text)]


class BreakpointInfo(BaseModel):
    """One breakpoint placed (or found) in a request.

    >>> system = {"role": "system", "content": "You are a support agent. " * 400}
    >>> messages, tools, report = add_cache_breakpoints(
    ...     [system, {"role": "user", "content": "Where is my card?"}], None, "claude-sonnet-4-5")
    >>> report.breakpoints
    [BreakpointInfo(segment='system', location='messages', index=0, content_index=None, prefix_tokens=2404)]
    """

    segment: Segment
    location: Literal["tools", "messages"]
    index: int = Field(description="Index in the tools list or the messages list.")
    content_index: int | None = Field(
        default=None, description="Index of the content block; None for a tool or a message-level mark."
    )
    prefix_tokens: int = Field(description="Tokens of the prompt up to and including this block.")


class BreakpointReport(BaseModel):
    """What :func:`add_cache_breakpoints` did and how cacheable the request is.

    >>> system = {"role": "system", "content": "You are a support agent. " * 400}
    >>> messages, tools, report = add_cache_breakpoints(
    ...     [system, {"role": "user", "content": "Where is my card?"}], None, "claude-sonnet-4-5")
    >>> report.mode.value, report.max_breakpoints, report.total_tokens, report.cacheable_tokens
    ('explicit', 4, 2415, 2404)
    >>> round(report.cacheable_share, 3), report.volatile, report.warnings
    (0.995, [], [])
    """

    model: str
    mode: CacheMode
    min_cacheable_tokens: int
    max_breakpoints: int
    existing_breakpoints: int = 0
    breakpoints: list[BreakpointInfo] = Field(default_factory=list)
    total_tokens: int = 0
    stable_prefix_tokens: int = Field(
        default=0, description="Tokens before the tail and before per-request content."
    )
    cacheable_tokens: int = Field(
        default=0, description="Tokens a repeat of this request can read from the cache."
    )
    volatile: list[str] = Field(
        default_factory=list, description="Per-request content found, as 'kind@segment'."
    )
    skipped: list[str] = Field(default_factory=list, description="Candidates not used, with the reason.")
    warnings: list[str] = Field(default_factory=list)

    @property
    def cacheable_share(self) -> float:
        return self.cacheable_tokens / self.total_tokens if self.total_tokens else 0.0


# --------------------------------------------------------------------------- views


@dataclass
class _Block:
    location: Literal["tools", "messages"]
    index: int
    content_index: int | None
    role: str
    kind: str
    tokens: int
    volatile: list[tuple[str, bool]]
    eligible: bool
    marked: bool
    segment: str = ""


@dataclass
class MessageView:
    """A framework-neutral view of one message: its role and content blocks.

    ``parts`` is the content as a list of dicts (a string content becomes one text part
    with ``whole=True``); adapters build views from their own message types.
    """

    role: str
    parts: list[Mapping[str, Any]]
    whole: bool = False
    marked: bool = False  # message-level cache_control
    extra_tokens: int = 0  # tool calls and other non-content tokens
    extra_text: str = ""


_count_cache: OrderedDict[tuple[str, str], int] = OrderedDict()
_count_lock = Lock()
_COUNT_CACHE_SIZE = 4096


def count_tokens(text: str, model: str, counter: Any = None) -> int:
    """Tokens of ``text``, memoised: system prompts and tools repeat on every call."""
    if not text:
        return 0
    key = (model, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest())
    cached = _count_cache.get(key)
    if cached is not None:
        return cached
    if counter is None:
        from ..tokens import default_counter

        counter = default_counter()
    tokens: int
    try:
        tokens = counter.count_text(text, model).tokens
    except Exception:
        tokens = max(1, len(text) // 4)
    with _count_lock:
        _count_cache[key] = tokens
        if len(_count_cache) > _COUNT_CACHE_SIZE:
            _count_cache.popitem(last=False)
    return tokens


def _part_text(part: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, text used for counting and scanning) of one content part."""
    kind = str(part.get("type", "text"))
    if kind == "text":
        return kind, str(part.get("text", ""))
    if kind == "tool_result":
        content = part.get("content")
        if isinstance(content, str):
            return kind, content
        return kind, json.dumps(content, default=str, sort_keys=True)
    if kind in ("image", "image_url"):
        # Images bill by pixels (Anthropic: ~w*h/750); the size is not known here.
        return kind, ""
    if kind == "document":
        source = part.get("source") or {}
        data = source.get("data") if isinstance(source, Mapping) else None
        if isinstance(data, str) and source.get("type") == "text":
            return kind, data
        return kind, ""
    return kind, json.dumps(
        {k: v for k, v in part.items() if k != "cache_control"}, default=str, sort_keys=True
    )


_IMAGE_TOKENS = 1600  # Anthropic's ~1.15 MP image (1092x1092) is ~1600 tokens


_volatile_cache: OrderedDict[str, list[tuple[str, bool]]] = OrderedDict()


def _volatile_cached(text: str) -> list[tuple[str, bool]]:
    """:func:`find_volatile`, memoised for long texts (system prompts repeat per call)."""
    if len(text) < 256:
        return find_volatile(text)
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    found = _volatile_cache.get(key)
    if found is None:
        found = find_volatile(text)
        with _count_lock:
            _volatile_cache[key] = found
            if len(_volatile_cache) > _COUNT_CACHE_SIZE:
                _volatile_cache.popitem(last=False)
    return found


def _tool_text(tool: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in tool.items() if k != "cache_control"}, default=str, sort_keys=True)


def _explode(
    views: Sequence[MessageView], tools: Sequence[Mapping[str, Any]], model: str, counter: Any
) -> list[_Block]:
    blocks: list[_Block] = []
    for i, tool in enumerate(tools):
        text = _tool_text(tool)
        blocks.append(
            _Block(
                "tools",
                i,
                None,
                "tool",
                "tool",
                count_tokens(text, model, counter),
                _volatile_cached(text),
                True,
                "cache_control" in tool,
                "tools",
            )
        )
    # The provider puts every system message first (Anthropic's ``system`` field).
    order = [i for i, v in enumerate(views) if v.role == "system"] + [
        i for i, v in enumerate(views) if v.role != "system"
    ]
    for i in order:
        view = views[i]
        first = True
        for j, part in enumerate(view.parts):
            kind, text = _part_text(part)
            tokens = count_tokens(text, model, counter)
            if kind in ("image", "image_url"):
                tokens = _IMAGE_TOKENS
            if first:
                tokens += _PER_MESSAGE + view.extra_tokens
                first = False
            empty = kind == "text" and not text.strip()
            blocks.append(
                _Block(
                    "messages",
                    i,
                    None if view.whole else j,
                    view.role,
                    kind,
                    tokens,
                    _volatile_cached(text),
                    eligible=kind not in _NO_MARK_KINDS and not empty,
                    marked=("cache_control" in part) or (view.marked and j == len(view.parts) - 1),
                )
            )
        if not view.parts:  # e.g. an assistant message with only tool calls
            blocks.append(
                _Block(
                    "messages",
                    i,
                    None,
                    view.role,
                    "empty",
                    _PER_MESSAGE + view.extra_tokens,
                    find_volatile(view.extra_text),
                    eligible=False,
                    marked=view.marked,
                )
            )
    return blocks


def _tail_start(views: Sequence[MessageView]) -> int:
    """Index of the first message of the tail (the part new in this request)."""
    non_system = [i for i, v in enumerate(views) if v.role != "system"]
    if not non_system:
        return len(views)
    last = non_system[-1]
    if views[last].role == "tool":  # agent loop: the new tool results are the tail
        start = last
        while start - 1 >= 0 and views[start - 1].role == "tool":
            start -= 1
        return start
    if views[last].role in ("user", "human"):
        return last
    return len(views)  # ends with an assistant prefill: the whole history is stable


# ------------------------------------------------------------------------- planning


@dataclass
class Plan:
    rule: ResolvedCacheRule
    report: BreakpointReport
    marks: list[_Block] = field(default_factory=list)


def plan_breakpoints(
    views: Sequence[MessageView],
    tools: Sequence[Mapping[str, Any]],
    model: str,
    *,
    provider: str | None = None,
    price_book: Any = None,
    counter: Any = None,
    rules: Sequence[CacheRule] = DEFAULT_CACHE_RULES,
    max_breakpoints: int | None = None,
    min_tokens: int | None = None,
    cache_documents: bool = True,
    document_min_tokens: int = 256,
) -> Plan:
    """Decide the breakpoints of a request given as :class:`MessageView` objects."""
    rule = resolve_cache_rule(model, provider, price_book=price_book, rules=tuple(rules))
    limit = rule.max_breakpoints if max_breakpoints is None else max_breakpoints
    if limit < 0:
        raise ConfigurationError(f"max_breakpoints must be >= 0, got {limit}.")
    if rule.max_breakpoints and limit > rule.max_breakpoints:
        raise ConfigurationError(
            f"max_breakpoints={limit} exceeds the provider's limit of {rule.max_breakpoints} for {model!r}."
        )
    minimum = rule.min_tokens if min_tokens is None else min_tokens
    blocks = _explode(views, tools, model, counter)
    tail = _tail_start(views)

    # Segment of each block, then where the stable prefix ends.
    last_user_text = None
    if tail < len(views) and views[tail].role in ("user", "human"):
        texts = [j for j, b in enumerate(blocks) if b.location == "messages" and b.index == tail]
        last_user_text = texts[-1] if texts else None
    for pos, b in enumerate(blocks):
        if b.location == "tools":
            continue
        if b.role == "system":
            b.segment = "system"
        elif b.index < tail:
            b.segment = "history"
        elif (
            cache_documents
            and b.index == tail
            and last_user_text is not None
            and pos < last_user_text
            and b.tokens >= document_min_tokens
        ):
            b.segment = "documents"
        else:
            b.segment = "tail"
    report = BreakpointReport(
        model=model,
        mode=rule.mode,
        min_cacheable_tokens=minimum,
        max_breakpoints=limit if rule.mode is CacheMode.EXPLICIT else 0,
        total_tokens=sum(b.tokens for b in blocks) + 3,
        existing_breakpoints=sum(1 for b in blocks if b.marked),
    )
    stable_end = len(blocks)
    for pos, b in enumerate(blocks):
        for kind, certain in b.volatile:
            report.volatile.append(f"{kind}@{b.segment}")
            if certain and b.segment != "tail" and pos < stable_end:
                stable_end = pos
                report.warnings.append(
                    f"{kind} in the {b.segment} (block {pos}) changes on every request: nothing after it "
                    "can be cached; move it after the static parts (e.g. into the final user turn)."
                )
        if b.segment in ("tail", "") and b.location == "messages" and pos < stable_end:
            # Documents after the user's text are part of the tail, not of the prefix.
            stable_end = pos
    cumulative: list[int] = []
    total = 0
    for b in blocks:
        total += b.tokens
        cumulative.append(total)
    report.stable_prefix_tokens = cumulative[stable_end - 1] if stable_end > 0 else 0

    # One candidate per segment: its last eligible block inside the stable prefix.
    candidates: dict[str, int] = {}
    for pos in range(min(stable_end, len(blocks))):
        b = blocks[pos]
        if b.eligible and b.segment in ("tools", "system", "history", "documents"):
            candidates[b.segment] = pos
    plan = Plan(rule=rule, report=report)

    if rule.mode is not CacheMode.EXPLICIT:
        report.cacheable_tokens = report.stable_prefix_tokens if report.stable_prefix_tokens >= minimum else 0
        return plan

    slots = max(limit - report.existing_breakpoints, 0)
    usable: list[int] = []
    for segment, pos in candidates.items():
        if blocks[pos].marked:
            report.skipped.append(f"{segment}: already marked")
        elif cumulative[pos] < minimum:
            report.skipped.append(f"{segment}: prefix {cumulative[pos]} tokens < minimum {minimum}")
        else:
            usable.append(pos)
    usable.sort()
    chosen: list[int] = []
    if usable and slots:
        # The longest stable prefix first (it saves the most), then the segments shared
        # most widely across requests: system, tools, history, documents.
        preference = [usable[-1]] + sorted(
            usable[:-1], key=lambda p: ("system", "tools", "history", "documents").index(blocks[p].segment)
        )
        chosen = sorted(preference[:slots])
        for pos in preference[slots:]:
            report.skipped.append(f"{blocks[pos].segment}: no breakpoint left (limit {limit})")
    elif usable:
        report.skipped.append(
            f"request already has {report.existing_breakpoints} breakpoint(s), the limit is {limit}"
        )
    for pos in chosen:
        b = blocks[pos]
        plan.marks.append(b)
        report.breakpoints.append(BreakpointInfo(
            segment=cast(Segment, b.segment), location=b.location, index=b.index, content_index=b.content_index,
            prefix_tokens=cumulative[pos],
        ))  # fmt: skip
    marked_positions = [p for p, b in enumerate(blocks) if b.marked and p < stable_end] + chosen
    furthest = max(marked_positions, default=-1)
    report.cacheable_tokens = cumulative[furthest] if furthest >= 0 and cumulative[furthest] >= minimum else 0
    return plan


# ------------------------------------------------------------------ dict front end


def message_view(message: Mapping[str, Any]) -> MessageView:
    """How the planner sees one OpenAI/Anthropic-format message dict."""
    if not isinstance(message, Mapping):
        raise ConfigurationError(
            f"messages must be dicts with 'role' and 'content' (OpenAI or Anthropic format), got {type(message).__name__}."
        )
    role = str(message.get("role", "user"))
    content = message.get("content")
    extra = ""
    if message.get("tool_calls"):
        extra = json.dumps(message["tool_calls"], default=str)
    extra_tokens = len(extra) // 4
    if isinstance(content, str):
        parts: list[Mapping[str, Any]] = [{"type": "text", "text": content}]
        whole = True
    elif isinstance(content, Sequence):
        parts = [p if isinstance(p, Mapping) else {"type": "text", "text": str(p)} for p in content]
        whole = False
    else:
        parts, whole = [], False
    return MessageView(
        role=role,
        parts=parts,
        whole=whole,
        marked="cache_control" in message,
        extra_tokens=extra_tokens,
        extra_text=extra,
    )


def _cache_control(ttl: str | None) -> dict[str, str]:
    return {"type": "ephemeral", "ttl": ttl} if ttl else {"type": "ephemeral"}


def marked_content(content: Any, index: int | None, cc: Mapping[str, str]) -> list[Any]:
    """A message's ``content`` (a string or content blocks) as blocks, with the breakpoint
    ``cc`` on block ``index`` (a string becomes one marked text block)."""
    if content is None or isinstance(content, str):
        return [{"type": "text", "text": content or "", "cache_control": dict(cc)}]
    parts = list(content)
    part = parts[index or 0]
    if isinstance(part, str):
        part = {"type": "text", "text": part}
    parts[index or 0] = {**part, "cache_control": dict(cc)}
    return parts


def anthropic_tool(function: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI-format tool's ``function`` as an Anthropic tool dict."""
    entry: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters", {"type": "object", "properties": {}}),
    }
    if function.get("description"):
        entry["description"] = function["description"]
    return entry


def anthropic_tools(
    tools: Sequence[Any],
    to_function: Callable[[Any], Mapping[str, Any]],
    *,
    ttl: Literal["5m", "1h"] | None = None,
    mark: bool = True,
) -> list[dict[str, Any]]:
    """Tools as Anthropic tool dicts, the last one marked unless ``mark`` is false. A tool
    already in that format is kept (its old mark dropped); any other goes through
    ``to_function``, the adapter's conversion to an OpenAI-format tool's ``function``."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        if isinstance(tool, Mapping) and {"name", "input_schema"} <= set(tool):
            out.append({k: v for k, v in tool.items() if k != "cache_control"})
        else:
            out.append(anthropic_tool(to_function(tool)))
    return mark_last_tool(out, ttl) if mark else out


def tools_worth_marking(
    tools: Sequence[Mapping[str, Any]], model: str, rule: Any, min_tokens: int | None
) -> bool:
    """True when ``tools`` alone reach the model's minimum cacheable length on a provider
    that needs explicit breakpoints (``rule``: its resolved cache rule)."""
    tool_tokens = sum(count_tokens(json.dumps(t, sort_keys=True), model) for t in tools)
    return bool(rule.needs_breakpoints) and tool_tokens >= (
        rule.min_tokens if min_tokens is None else min_tokens
    )


def mark_last_tool(tools: list[dict[str, Any]], ttl: str | None) -> list[dict[str, Any]]:
    """``tools`` with a breakpoint on the last one (the whole tool prefix is cached)."""
    if tools:
        tools[-1] = {**tools[-1], "cache_control": _cache_control(ttl)}
    return tools


@dataclass(frozen=True)
class BreakpointOptions:
    """How breakpoints are placed for one model, whatever the adapter's message type:
    ``plan`` the marks of a request, ``marked`` the new content of the messages they
    touch, ``tools`` the tool list with its breakpoint when the tools alone are worth one."""

    model: str
    provider: str | None = None
    ttl: Literal["5m", "1h"] | None = None
    max_breakpoints: int | None = None
    min_tokens: int | None = None
    cache_documents: bool = True
    price_book: Any = None

    def checked(self, owner: str) -> BreakpointOptions:
        """These options, or a :class:`ConfigurationError` naming ``owner`` (a chain step
        is configured once, so it fails early; the per-request helpers do not check)."""
        if not isinstance(self.model, str) or not self.model:
            raise ConfigurationError(
                f"{owner} needs model='<the chat model's name>', e.g. 'claude-sonnet-4-5'."
            )
        if self.ttl not in (None, "5m", "1h"):
            raise ConfigurationError(f"ttl must be '5m' or '1h', got {self.ttl!r}.")
        return self

    def plan(self, views: Sequence[MessageView], tools: Sequence[Mapping[str, Any]] | None) -> Plan:
        return plan_breakpoints(
            views,
            list(tools or []),
            self.model,
            provider=self.provider,
            price_book=self.price_book,
            max_breakpoints=self.max_breakpoints,
            min_tokens=self.min_tokens,
            cache_documents=self.cache_documents,
        )

    def marked(self, plan: Plan, contents: Sequence[Any]) -> dict[int, list[Any]]:
        """The new content of each message the plan marks, by index (``contents``: the
        messages' contents; tool marks travel with the bound tools, not the messages)."""
        cc = _cache_control(self.ttl)
        out: dict[int, list[Any]] = {}
        for block in plan.marks:
            if block.location == "messages":
                current = out.get(block.index, contents[block.index])
                out[block.index] = marked_content(current, block.content_index, cc)
        return out

    def tools(self, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Anthropic tool dicts, the last one marked when the tools alone reach the model's
        minimum cacheable length on a provider that needs explicit breakpoints."""
        rule = resolve_cache_rule(self.model, self.provider, price_book=self.price_book)
        worth = tools_worth_marking(tools, self.model, rule, self.min_tokens)
        return mark_last_tool(tools, self.ttl) if worth else tools


def add_cache_breakpoints(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    model: str,
    *,
    provider: str | None = None,
    ttl: Literal["5m", "1h"] | None = None,
    max_breakpoints: int | None = None,
    min_tokens: int | None = None,
    cache_documents: bool = True,
    price_book: Any = None,
    counter: Any = None,
    rules: Sequence[CacheRule] = DEFAULT_CACHE_RULES,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None, BreakpointReport]:
    """Add ``cache_control`` breakpoints to an OpenAI/Anthropic-format request.

    Returns new ``(messages, tools, report)``; the inputs are never mutated. Only models
    whose provider needs explicit breakpoints get them (Claude on Anthropic, Bedrock,
    Vertex AI, ...); for others (OpenAI, Gemini, DeepSeek: implicit caching) the request
    comes back unchanged and the report says how much of it is cacheable. This is the
    function a LiteLLM pre-call hook calls.

    >>> system = {"role": "system", "content": "You are a support agent. " * 400}
    >>> msgs, _, report = add_cache_breakpoints(
    ...     [system, {"role": "user", "content": "Where is my card?"}], None, "claude-sonnet-4-5")
    >>> msgs[0]["content"][0]["cache_control"], [b.segment for b in report.breakpoints]
    ({'type': 'ephemeral'}, ['system'])
    >>> msgs[1]["content"]  # the user turn is never marked
    'Where is my card?'
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ConfigurationError("messages must be a list of message dicts.")
    tool_list = list(tools or [])
    for tool in tool_list:
        if not isinstance(tool, Mapping):
            raise ConfigurationError(
                f"tools must be dicts (OpenAI or Anthropic format), got {type(tool).__name__}."
            )
    views = [message_view(m) for m in messages]
    plan = plan_breakpoints(
        views,
        tool_list,
        model,
        provider=provider,
        price_book=price_book,
        counter=counter,
        rules=rules,
        max_breakpoints=max_breakpoints,
        min_tokens=min_tokens,
        cache_documents=cache_documents,
    )
    out_messages: list[dict[str, Any]] = [m if isinstance(m, dict) else dict(m) for m in messages]
    out_tools: list[dict[str, Any]] | None = [dict(t) for t in tool_list] if tools is not None else None
    if not plan.marks:
        return list(out_messages), out_tools, plan.report
    cc = _cache_control(ttl)
    copied: set[int] = set()
    for b in plan.marks:
        if b.location == "tools":
            assert out_tools is not None
            out_tools[b.index] = {**out_tools[b.index], "cache_control": dict(cc)}
            continue
        if b.index not in copied:
            out_messages[b.index] = copy.deepcopy(dict(messages[b.index]))
            copied.add(b.index)
        msg = out_messages[b.index]
        if msg.get("role") == "tool" and isinstance(msg.get("content"), str):
            # LiteLLM hoists a message-level mark onto the tool_result block; Anthropic
            # rejects marks inside tool_result content.
            msg["cache_control"] = dict(cc)
        else:
            msg["content"] = marked_content(msg.get("content"), b.content_index, cc)
    return out_messages, out_tools, plan.report


def analyze_request(
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    model: str,
    **kwargs: Any,
) -> BreakpointReport:
    """The cacheability report of a request without changing it.

    >>> analyze_request([{"role": "user", "content": "hi"}], None, "gpt-4o-mini").cacheable_tokens
    0
    """
    views = [message_view(m) for m in messages]
    return plan_breakpoints(views, list(tools or []), model, **kwargs).report
