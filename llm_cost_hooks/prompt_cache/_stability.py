"""Prefix stability: does a prompt put what changes per request before what does not?

A provider caches the longest *prefix* two requests share. A template that starts with
the user's input, a timestamp, an id or retrieved text makes every request's prefix
unique, so none of the static instructions after it can be cached. For each registered
template this module finds its first variable part and the static tokens behind it, and,
from the ledger's real calls of that prompt version, what share of the input tokens is
cacheable now and after moving the variable parts to the end, and the dollars that
reordering would save.

The dollars come from a replay of the ledger's calls in time order with the provider's
rules: the prefix (if at least the model's minimum cacheable length) is read from the
cache when the same prompt version was called within the cache TTL (5 minutes, refreshed
on each hit), otherwise it is written (at the cache-write rate for explicit-breakpoint
providers, at the input rate for implicit ones); the rest of each call's input is billed
as input. ``saving = cost(current order) - cost(reordered)``, over the ledger's period;
``per_month`` scales it by 30 days / the period covered (at least one day).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel

from .._records import CostRecord
from ..prompts._registry import PromptRegistry, RegisteredPrompt, default_registry
from ._placement import count_tokens
from ._rules import CacheMode, resolve_cache_rule

__all__ = [
    "PrefixReportRow",
    "PromptSegment",
    "PromptStability",
    "analyze_prompt",
    "classify_variable",
    "prefix_report",
    "prompt_segments",
]

VariableKind = Literal["user_input", "retrieved", "timestamp", "id", "history", "static", "variable"]

_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("timestamp", re.compile(r"(^|_)(now|date|time|timestamp|today|datetime|current_time|current_date)($|_)")),
    ("id", re.compile(r"(^|_)(id|uuid|guid|request_id|session_id|trace_id|user_id|order_id|ticket_id)$")),
    ("retrieved", re.compile(r"(context|document|docs|retrieved|sources|passages|chunks|knowledge|search_results|snippets)")),
    ("history", re.compile(r"(history|messages|conversation|chat|memory|transcript)")),
    ("user_input", re.compile(r"(input|question|query|user|message|request|prompt|text|ask)")),
)  # fmt: skip


def classify_variable(name: str) -> VariableKind:
    """What a template variable most likely holds, from its name.

    >>> classify_variable("question"), classify_variable("retrieved_docs"), classify_variable("now")
    ('user_input', 'retrieved', 'timestamp')
    """
    lowered = name.lower()
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(lowered):
            return kind  # type: ignore[return-value]
    return "variable"


class PromptSegment(BaseModel):
    """A static run of text or a variable of a template, in the provider's prefix order."""

    part_index: int  # -1 for tool definitions
    role: str
    static: bool
    text: str  # the literal text, or the variable name
    kind: VariableKind | Literal["text", "tools"] = "text"
    tokens: int = 0


def _ordered_parts(prompt: RegisteredPrompt) -> list[tuple[int, Any]]:
    # Providers send system text first (Anthropic's ``system`` field), then the turns.
    parts = list(enumerate(prompt.parts))
    return [p for p in parts if p[1].role == "system"] + [p for p in parts if p[1].role != "system"]


def prompt_segments(prompt: RegisteredPrompt, model: str | None = None) -> list[PromptSegment]:
    """Split a template into static text and variables, tools first.

    >>> from llm_cost_hooks.prompts import RegisteredPrompt, PromptPart
    >>> p = RegisteredPrompt(name="x", parts=[PromptPart(role="user", text="Q: {question}\\nRules: be nice")])
    >>> [(s.static, s.text) for s in prompt_segments(p, "gpt-4o")]
    [(True, 'Q: '), (False, 'question'), (True, '\\nRules: be nice')]
    """
    import json

    model = model or prompt.model or "gpt-4o"
    segments: list[PromptSegment] = []
    if prompt.tools:
        text = json.dumps(prompt.tools, sort_keys=True)
        segments.append(
            PromptSegment(
                part_index=-1,
                role="tools",
                static=True,
                text=text,
                kind="tools",
                tokens=count_tokens(text, model),
            )
        )
    for index, part in _ordered_parts(prompt):
        if part.kind == "placeholder":
            segments.append(
                PromptSegment(part_index=index, role=part.role, static=False, text=part.text, kind="history")
            )
            continue
        try:
            pieces = list(string.Formatter().parse(part.text))
        except ValueError:
            pieces = [(part.text, None, None, None)]
        for literal, field, _, _ in pieces:
            if literal:
                segments.append(
                    PromptSegment(
                        part_index=index,
                        role=part.role,
                        static=True,
                        text=literal,
                        tokens=count_tokens(literal, model),
                    )
                )
            if field:
                name = field.split(".")[0].split("[")[0]
                if name in prompt.static_vars:
                    segments.append(
                        PromptSegment(part_index=index, role=part.role, static=True, text=name, kind="static")
                    )
                else:
                    segments.append(
                        PromptSegment(
                            part_index=index,
                            role=part.role,
                            static=False,
                            text=name,
                            kind=classify_variable(name),
                        )
                    )
    return segments


class PromptStability(BaseModel):
    """How much of a template a provider can cache, as written and reordered.
    :func:`analyze_prompt` makes one.

    >>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
    >>> prompt = register_prompt("rag", [("system", "Today is {today}. " + "Follow the refund policy. " * 300),
    ...                                  ("human", "{question}")],
    ...                          model="claude-sonnet-4-5", version="v1", registry=PromptRegistry())
    >>> stability = analyze_prompt(prompt)
    >>> stability.cacheable_now, stability.cacheable_reordered > 1024
    (0, True)
    """

    prompt: str
    model: str
    static_tokens: int
    prefix_tokens: int  # static tokens before the first variable
    first_variable: str | None
    first_variable_kind: str | None
    static_after_variable_tokens: int
    min_cacheable_tokens: int
    mode: CacheMode
    variable_before_static: bool

    @property
    def cacheable_now(self) -> int:
        return self.prefix_tokens if self.prefix_tokens >= self.min_cacheable_tokens else 0

    @property
    def cacheable_reordered(self) -> int:
        return self.static_tokens if self.static_tokens >= self.min_cacheable_tokens else 0


def analyze_prompt(
    prompt: RegisteredPrompt, model: str | None = None, *, price_book: Any = None
) -> PromptStability:
    """Where the first variable sits in ``prompt`` and how many static tokens follow it.

    >>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
    >>> prompt = register_prompt("rag", [("system", "Today is {today}. " + "Follow the refund policy. " * 300),
    ...                                  ("human", "{question}")],
    ...                          model="claude-sonnet-4-5", version="v1", registry=PromptRegistry())
    >>> stability = analyze_prompt(prompt)
    >>> stability.first_variable, stability.first_variable_kind, stability.variable_before_static
    ('today', 'timestamp', True)
    >>> stability.prefix_tokens, stability.min_cacheable_tokens
    (3, 1024)
    """
    model = model or prompt.model or "gpt-4o"
    rule = resolve_cache_rule(model, price_book=price_book)
    segments = prompt_segments(prompt, model)
    prefix = 0
    first: PromptSegment | None = None
    after = 0
    for seg in segments:
        if first is None:
            if seg.static:
                prefix += seg.tokens
            else:
                first = seg
        elif seg.static:
            after += seg.tokens
    static = sum(s.tokens for s in segments if s.static)
    # Worth flagging when what reordering frees is a real share of the prompt.
    flagged = first is not None and after >= max(64, 0.05 * static)
    return PromptStability(
        prompt=prompt.key,
        model=model,
        static_tokens=static,
        prefix_tokens=prefix,
        first_variable=first.text if first else None,
        first_variable_kind=first.kind if first else None,
        static_after_variable_tokens=after,
        min_cacheable_tokens=rule.min_tokens,
        mode=rule.mode,
        variable_before_static=flagged,
    )


class PrefixReportRow(BaseModel):
    """One prompt version's prefix stability over the ledger's traffic; a row of
    :func:`prefix_report`.

    >>> from datetime import datetime, timedelta, timezone
    >>> from llm_cost_hooks import CostRecord
    >>> from llm_cost_hooks.prompts import PromptRegistry, register_prompt
    >>> prompt_registry = PromptRegistry()
    >>> prompt = register_prompt("rag", [("system", "Today is {today}. " + "Follow the refund policy. " * 300),
    ...                                  ("human", "{question}")],
    ...                          model="claude-sonnet-4-5", version="v1", registry=prompt_registry)
    >>> start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    >>> records = [CostRecord(model="claude-sonnet-4-5", prompt_version="rag@v1", input_tokens=2000,
    ...                       cost_usd=0.01, timestamp=start + timedelta(hours=i)) for i in range(24)]
    >>> [row] = prefix_report(records, registry=prompt_registry)
    >>> row.prompt_version, row.calls, row.first_variable
    ('rag@v1', 24, 'today')
    >>> row.flag
    "timestamp '{today}' comes before ... static tokens: move it after them"
    """

    prompt_version: str
    model: str
    calls: int
    avg_input_tokens: float
    observed_cached_share: float  # cache-read tokens / input tokens, as billed
    cacheable_share_now: float
    cacheable_share_reordered: float
    first_variable: str | None
    static_tokens_after_variable: int
    reorder_saving_usd: float
    reorder_saving_per_month_usd: float
    flag: str | None


def _replay_cost(records: list[CostRecord], prefix: int, rule: Any, ttl_s: float) -> float:
    miss_rate = rule.cache_write_rate if rule.mode is CacheMode.EXPLICIT else rule.input_rate
    total = 0.0
    last: float | None = None
    for r in records:
        t = r.timestamp.timestamp()
        p = min(prefix, r.input_tokens)
        if p <= 0 or rule.mode is CacheMode.NONE:
            total += r.input_tokens * rule.input_rate
            continue
        warm = last is not None and t - last <= ttl_s
        total += p * (rule.cache_read_rate if warm else miss_rate) + (r.input_tokens - p) * rule.input_rate
        last = t
    return total


def prefix_report(
    records: Iterable[CostRecord],
    registry: PromptRegistry | None = None,
    *,
    price_book: Any = None,
    ttl_seconds: float = 300.0,
) -> list[PrefixReportRow]:
    """Per prompt version in the ledger (that the registry knows): cacheable share now and
    reordered, and the dollars reordering would save. Largest saving first.

    >>> prefix_report([], registry=None)
    []
    """
    registry = registry if registry is not None else default_registry()
    groups: dict[tuple[str, str], list[CostRecord]] = {}
    for r in records:
        if r.prompt_version and r.success and r.input_tokens:
            groups.setdefault((r.prompt_version, r.model), []).append(r)
    rows: list[PrefixReportRow] = []
    for (version, model), recs in groups.items():
        prompt = registry.find(version)
        if prompt is None:
            continue
        recs.sort(key=lambda r: r.timestamp)
        rule = resolve_cache_rule(model, recs[0].provider, price_book=price_book)
        stab = analyze_prompt(prompt, model, price_book=price_book)
        inputs = sum(r.input_tokens for r in recs)
        now = sum(min(stab.cacheable_now, r.input_tokens) for r in recs)
        reordered = sum(min(stab.cacheable_reordered, r.input_tokens) for r in recs)
        saving = _replay_cost(recs, stab.cacheable_now, rule, ttl_seconds) - _replay_cost(
            recs, stab.cacheable_reordered, rule, ttl_seconds
        )
        span_days = max((recs[-1].timestamp - recs[0].timestamp).total_seconds() / 86400, 1.0)
        flag = None
        if stab.variable_before_static:
            flag = (
                f"{stab.first_variable_kind} '{{{stab.first_variable}}}' comes before "
                f"{stab.static_after_variable_tokens} static tokens: move it after them"
            )
        rows.append(PrefixReportRow(
            prompt_version=version, model=model, calls=len(recs), avg_input_tokens=inputs / len(recs),
            observed_cached_share=sum(r.cache_read_tokens for r in recs) / inputs,
            cacheable_share_now=now / inputs, cacheable_share_reordered=reordered / inputs,
            first_variable=stab.first_variable, static_tokens_after_variable=stab.static_after_variable_tokens,
            reorder_saving_usd=saving, reorder_saving_per_month_usd=saving * 30 / span_days, flag=flag,
        ))  # fmt: skip
    rows.sort(key=lambda row: -row.reorder_saving_usd)
    return rows
