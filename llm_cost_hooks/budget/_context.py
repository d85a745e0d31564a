"""Context budgets: fit a chat request into per-segment token budgets by transforming it.

A request is a list of OpenAI-format message dicts. Each message belongs to one
*segment*; the convention, in order of precedence:

1. An explicit annotation: ``message["segment"]`` or ``message["metadata"]["segment"]``,
   one of ``system``, ``policy``, ``history``, ``retrieved``, ``tools``. A retrieved
   document's relevance is ``message["score"]`` or ``message["metadata"]["score"]``
   (higher is better). The annotations are removed from the messages sent on.
2. Otherwise by role: the first ``system`` message is ``system``; later ``system``
   messages and ``developer`` messages are ``policy``; ``tool`` / ``function`` results
   are ``tools``; ``user`` and ``assistant`` messages are ``history``.

The ``output`` segment is the reply: ``max_tokens`` is clamped to it.

Enforcement, per segment:

* ``system`` / ``policy`` are never cut by default (``oversize="raise"`` raises
  :class:`~llm_cost_hooks.BudgetExceeded` naming the segment; ``"truncate"`` cuts them).
* ``tools``: long tool results are cut (head kept) with a marker, newest results first
  get the budget.
* ``history`` (and ``tools`` if still over): whole turns are dropped oldest-first. A turn
  starts at a user message and holds the assistant replies, tool calls and tool results
  that follow it, so a tool call is never separated from its result. What the user said
  in dropped turns is kept (``keep_facts``, on by default): their fact clauses (numbers,
  dates, names, places, amounts, choices and the words that say what they refer to, see
  :func:`~llm_cost_hooks.budget.extract_facts`) go into one compact user message where
  the dropped turns were, inside the same history budget; when the whole line does not
  fit, a few more old turns are folded into it, then the clauses without values go first.
* The last turn (with the last user message) is always kept; if it alone is too big, its
  oldest assistant / tool-call groups go first, then the texts of its remaining assistant
  messages are cut, and only then is the last user message cut: its head and tail are
  kept with a marker in the middle (``strict=True`` raises
  :class:`~llm_cost_hooks.BudgetExceeded` instead). :attr:`TrimResult.last_user_cut` and
  the record tag ``budget.history.last_user_cut`` say how many tokens went.
* ``retrieved``: documents are taken best-first by score until the segment is full; the
  kept ones stay in their original positions.

Token counts use the same recipe as :meth:`TokenCounter.count_messages` (3 tokens of
framing per message), so the sum of the segments plus 3 is the request's prompt size.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field

from .._errors import BudgetExceeded, ConfigurationError
from .._options import ConfigModel
from ._facts import fact_clauses

if TYPE_CHECKING:
    from ..tokens import TokenCounter

__all__ = [
    "SEGMENTS",
    "ContextBudget",
    "SegmentBudgets",
    "TrimResult",
    "segment_of",
]

#: The message segments, in the order they are reported.
SEGMENTS: tuple[str, ...] = ("system", "policy", "history", "retrieved", "tools")
_ANNOTATION_KEYS = frozenset({"segment", "score", "metadata"})
_ROLE_SEGMENTS = {
    "user": "history",
    "assistant": "history",
    "human": "history",
    "ai": "history",
    "tool": "tools",
    "function": "tools",
    "developer": "policy",
}
_MESSAGE_FRAMING = 3  # tokens per message in OpenAI's recipe
_REPLY_PRIMING = 3


class SegmentBudgets(ConfigModel):
    """Token budgets of one route, per segment. ``None`` means unlimited.

    >>> SegmentBudgets(system=400, policy=500, history=1500, retrieved=3500, tools=1000, output=800).history
    1500
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: int | None = Field(None, ge=0)
    policy: int | None = Field(None, ge=0)
    history: int | None = Field(None, ge=0)
    retrieved: int | None = Field(None, ge=0)
    tools: int | None = Field(None, ge=0)
    output: int | None = Field(None, ge=1)

    def of(self, segment: str) -> int | None:
        value: int | None = getattr(self, segment)
        return value


@dataclass
class TrimResult:
    """What :meth:`ContextBudget.apply` did.

    ``messages`` are the messages to send (annotations removed); ``kept`` the original
    indices of the kept messages, in order; ``replaced`` maps an original index to its
    new (cut) content; ``inserted`` the added compact facts message by its position in
    ``messages``; ``removed`` the net tokens removed per segment; ``max_tokens`` the
    clamped output cap. :meth:`report` says per segment what was dropped and kept.

    >>> budget = ContextBudget(SegmentBudgets(history=40))
    >>> result = budget.apply([
    ...     {"role": "user", "content": "Book a table for 4 at 19:30 on Friday."},
    ...     {"role": "assistant", "content": "Which area of town would you like to eat in today?"},
    ...     {"role": "user", "content": "Somewhere central."}])
    >>> result.kept, result.dropped_messages, result.facts_kept, result.removed
    ([2], 2, ['Book table for 4 at 19:30 on Friday'], {'history': 10})
    """

    messages: list[dict[str, Any]]
    kept: list[int]
    replaced: dict[int, Any]
    before: dict[str, int]
    after: dict[str, int]
    removed: dict[str, int]
    max_tokens: int | None
    requested_max_tokens: int | None
    route: str | None = None
    dropped_messages: int = 0
    #: Fact clauses of dropped user messages kept in the compact message, oldest first.
    facts_kept: list[str] = field(default_factory=list)
    #: Fact clauses of dropped user messages that did not fit the history budget.
    facts_dropped: list[str] = field(default_factory=list)
    #: Messages added to the request, by position in ``messages`` (the compact facts message).
    inserted: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Tokens cut from the middle of the last user message (it alone exceeded the budget).
    last_user_cut: int = 0
    _dropped_by_segment: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def trimmed(self) -> bool:
        return bool(self.removed) or self.output_clamped

    @property
    def output_clamped(self) -> bool:
        return (
            self.requested_max_tokens is not None
            and self.max_tokens is not None
            and self.max_tokens < self.requested_max_tokens
        )

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens of the trimmed request (same recipe as ``count_messages``)."""
        return sum(self.after.values()) + _REPLY_PRIMING

    def tags(self) -> dict[str, str]:
        """Record tags: ``budget.trimmed.<segment>`` = tokens removed, and the output clamp."""
        tags = {f"budget.trimmed.{seg}": str(n) for seg, n in self.removed.items() if n}
        if self.output_clamped:
            tags["budget.output.clamped_from"] = str(self.requested_max_tokens)
            tags["budget.output.max_tokens"] = str(self.max_tokens)
        if self.dropped_messages:
            tags["budget.dropped_messages"] = str(self.dropped_messages)
        # Counts only: fact texts are prompt text and stay out of records and spans.
        if self.facts_kept or self.facts_dropped:
            tags["budget.history.facts_kept"] = str(len(self.facts_kept))
            tags["budget.history.facts_dropped"] = str(len(self.facts_dropped))
        if self.last_user_cut:
            tags["budget.history.last_user_cut"] = str(self.last_user_cut)
        return tags

    def report(self) -> dict[str, dict[str, int]]:
        """Per segment: tokens ``before`` / ``after``, ``messages_dropped`` and, for
        ``history``, ``facts_kept`` / ``facts_dropped`` and ``last_user_cut``.

        >>> budget = ContextBudget(SegmentBudgets(history=40))
        >>> msgs = [{"role": "user", "content": "Book a table for 4 at 19:30 on Friday."},
        ...         {"role": "assistant", "content": "Which area of town would you like to eat in today?"},
        ...         {"role": "user", "content": "The centre. Is there anything with a vegan menu?"}]
        >>> budget.apply(msgs).report()["history"]
        {'before': 49, 'after': 39, 'messages_dropped': 2, 'facts_kept': 1, 'facts_dropped': 0, 'last_user_cut': 0}
        """
        out: dict[str, dict[str, int]] = {}
        for seg in SEGMENTS:
            if not self.before[seg] and not self.after[seg]:
                continue
            row = {
                "before": self.before[seg],
                "after": self.after[seg],
                "messages_dropped": self._dropped_by_segment.get(seg, 0),
            }
            if seg == "history":
                row.update(
                    facts_kept=len(self.facts_kept),
                    facts_dropped=len(self.facts_dropped),
                    last_user_cut=self.last_user_cut,
                )
            out[seg] = row
        return out


def _annotation(message: Mapping[str, Any], key: str) -> Any:
    if key in message:
        return message[key]
    meta = message.get("metadata")
    if isinstance(meta, Mapping):
        return meta.get(key)
    return None


def segment_of(message: Mapping[str, Any], *, first_system: bool = True) -> str:
    """The segment of one message (see the module docstring for the convention).

    >>> segment_of({"role": "tool", "tool_call_id": "c1", "content": "42"})
    'tools'
    """
    explicit = _annotation(message, "segment")
    if explicit is not None:
        if explicit not in SEGMENTS:
            raise ConfigurationError(
                f"message segment {explicit!r} is unknown; use one of {', '.join(SEGMENTS)}."
            )
        return str(explicit)
    role = message.get("role")
    if role == "system":
        return "system" if first_system else "policy"
    if role == "developer":
        return "policy"
    if role in ("tool", "function"):
        return "tools"
    if role in ("user", "assistant", "human", "ai"):
        return "history"
    raise ConfigurationError(
        f"cannot tell the segment of a message with role {role!r}; give it "
        "message['segment'] (one of " + ", ".join(SEGMENTS) + ")."
    )


@dataclass
class _HistoryOutcome:
    facts_kept: list[str] = field(default_factory=list)
    facts_dropped: list[str] = field(default_factory=list)
    facts_message: dict[str, Any] | None = None
    facts_tokens: int = 0
    insert_before: int = -1
    last_user_cut: int = 0


@dataclass
class _Msg:
    index: int
    data: dict[str, Any]
    segment: str
    tokens: int
    score: float | None = None
    content_cut: Any = None
    dropped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ContextBudget:
    """Fits chat requests into per-segment token budgets, per route.

    ``budgets`` is one :class:`SegmentBudgets` (or dict) for every route, or a mapping
    ``route -> budgets`` with an optional ``"default"`` entry. ``keep_facts`` keeps the
    facts of dropped user turns in one compact message (``facts_prefix`` + clauses);
    ``strict`` raises :class:`~llm_cost_hooks.BudgetExceeded` rather than cut the last
    user message; ``oversize`` says whether system / policy messages over budget raise
    or are cut.

    >>> budget = ContextBudget(SegmentBudgets(history=60, output=100), model="gpt-4o-mini")
    >>> msgs = [{"role": "system", "content": "Be brief."}]
    >>> for i in range(10):
    ...     msgs += [{"role": "user", "content": f"Question number {i} about hotels?"},
    ...              {"role": "assistant", "content": f"Answer number {i}."}]
    >>> msgs.append({"role": "user", "content": "And the last one?"})
    >>> result = budget.apply(msgs, max_tokens=500)
    >>> result.messages[0]["role"], result.messages[-1]["content"], result.max_tokens
    ('system', 'And the last one?', 100)
    >>> result.after["history"] <= 60
    True
    """

    def __init__(
        self,
        budgets: SegmentBudgets | Mapping[str, Any],
        *,
        model: str = "gpt-4o-mini",
        counter: Any = None,
        oversize: Literal["raise", "truncate"] = "raise",
        marker: str = "\n[... truncated {removed} tokens]",
        cache_size: int = 4096,
        keep_facts: bool = True,
        facts_prefix: str = "Earlier in this conversation I said: ",
        strict: bool = False,
    ) -> None:
        self._routes: dict[str, SegmentBudgets] = {}
        if isinstance(budgets, SegmentBudgets):
            self._default: SegmentBudgets | None = budgets
        elif isinstance(budgets, Mapping):
            if (
                budgets
                and all(isinstance(v, (SegmentBudgets, Mapping)) for v in budgets.values())
                and not (set(budgets) <= set(SegmentBudgets.model_fields))
            ):
                for route, value in budgets.items():
                    self._routes[str(route)] = _coerce_budgets(value, str(route))
                self._default = self._routes.pop("default", None)
            else:
                self._default = _coerce_budgets(budgets, "default")
        else:
            raise ConfigurationError(
                "budgets must be SegmentBudgets, a dict of segment -> tokens, or a dict of "
                f"route -> SegmentBudgets; got {type(budgets).__name__}."
            )
        if oversize not in ("raise", "truncate"):
            raise ConfigurationError(f"oversize must be 'raise' or 'truncate', got {oversize!r}.")
        if "{removed}" not in marker:
            raise ConfigurationError(
                "marker must contain '{removed}', e.g. '[... truncated {removed} tokens]'."
            )
        self.model = model
        self.keep_facts = keep_facts
        self.facts_prefix = facts_prefix
        self.strict = strict
        self.oversize = oversize
        self.marker = marker
        self._counter: TokenCounter | None = counter
        self._cache: dict[tuple[str, str], int] = {}
        self._facts_cache: dict[tuple[str, str], list[tuple[str, bool, int]]] = {}
        self._cache_size = cache_size
        # Fold older turns into the facts line when it does not fit (measured in bench/bench_context.py).
        self._fold_turns = True
        self._lock = threading.Lock()

    # -- configuration -------------------------------------------------------------------
    @property
    def counter(self) -> TokenCounter:
        if self._counter is None:
            from ..tokens import default_counter

            self._counter = default_counter()
        return self._counter

    def covers(self, route: str | None) -> bool:
        """Whether ``route`` has budgets (its own or the default ones).

        >>> ContextBudget({"/support": SegmentBudgets(history=100)}).covers("/billing")
        False
        """
        return (route is not None and route in self._routes) or self._default is not None

    def budgets_for(self, route: str | None) -> SegmentBudgets:
        """The budgets of ``route`` (the default ones when the route has none)."""
        if route is not None and route in self._routes:
            return self._routes[route]
        if self._default is not None:
            return self._default
        raise ConfigurationError(
            f"no context budget for route {route!r} and no 'default'; known routes: "
            f"{', '.join(sorted(self._routes)) or '(none)'}."
        )

    # -- counting ------------------------------------------------------------------------
    def count_message(self, message: Mapping[str, Any], model: str | None = None) -> int:
        """Tokens of one (clean) message, framing included (``count_messages`` recipe)."""
        model = model or self.model
        content = message.get("content")
        key = None
        if isinstance(content, str) and len(message) == 2 and "role" in message:  # cacheable
            key = (model + "\x00" + str(message["role"]), content)
            hit = self._cache.get(key)
            if hit is not None:
                return hit
        n = self.counter.count_messages([message], model).tokens - _REPLY_PRIMING
        if key is not None:
            if len(self._cache) >= self._cache_size:
                with self._lock:
                    self._cache.clear()
            self._cache[key] = n
        return n

    def _text_tokens(self, text: str, model: str) -> list[int]:
        name, _ = self.counter.encoding_name_for(model)
        return self.counter.get_encoding(name).encode(text, disallowed_special=())

    def _decode(self, tokens: list[int], model: str) -> str:
        name, _ = self.counter.encoding_name_for(model)
        return self.counter.get_encoding(name).decode(tokens)

    def _cut(self, msg: _Msg, target: int, model: str) -> int:
        """Cut ``msg``'s text content so the message takes at most ``target`` tokens.
        Returns its new size (may stay above target when even the marker does not fit)."""
        content = msg.data.get("content")
        text = content if isinstance(content, str) else _text_of(content)
        tokens = self._text_tokens(text, model)
        overhead = msg.tokens - len(tokens) if isinstance(content, str) else None
        if overhead is None:
            # Images and other non-text parts stay in the message: they count as overhead.
            probe = dict(msg.data, content=_replace_text(content, ""))
            overhead = self.count_message(probe, model)
        keep = max(
            target - overhead - len(self._text_tokens(self.marker.format(removed=len(tokens)), model)), 0
        )
        new_size = msg.tokens
        for _ in range(4):  # re-tokenising the joined text can shift a token or two
            removed = len(tokens) - keep
            new_text = self._decode(tokens[:keep], model) + self.marker.format(removed=removed)
            cut = new_text if isinstance(content, str) else _replace_text(content, new_text)
            new_size = self.count_message(dict(msg.data, content=cut), model)
            if new_size <= target or keep == 0:
                break
            keep = max(keep - (new_size - target), 0)
        msg.content_cut = cut
        msg.tokens = new_size
        return new_size

    # -- enforcement ---------------------------------------------------------------------
    def apply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        route: str | None = None,
        max_tokens: int | None = None,
        model: str | None = None,
    ) -> TrimResult:
        """Return the request trimmed to the route's budgets (the input is not changed)."""
        model = model or self.model
        budgets = self.budgets_for(route)
        msgs = self._classify(messages, model)
        before = _totals(msgs)

        for seg in ("system", "policy"):
            self._enforce_fixed(msgs, seg, budgets.of(seg), model)
        self._cut_tool_results(msgs, budgets.tools, model)
        hist = self._drop_turns(msgs, budgets.history, budgets.tools, model)
        self._fill_retrieved(msgs, budgets.retrieved)

        after = _totals(msgs)
        after["history"] += hist.facts_tokens
        removed = {seg: before[seg] - after[seg] for seg in SEGMENTS if before[seg] > after[seg]}
        kept = [m.index for m in msgs if not m.dropped]
        replaced = {m.index: m.content_cut for m in msgs if not m.dropped and m.content_cut is not None}
        out: list[dict[str, Any]] = []
        inserted: dict[int, dict[str, Any]] = {}
        dropped_by_segment: dict[str, int] = {}
        for m in msgs:
            if m.dropped:
                dropped_by_segment[m.segment] = dropped_by_segment.get(m.segment, 0) + 1
                continue
            if hist.facts_message is not None and m.index == hist.insert_before:
                inserted[len(out)] = hist.facts_message
                out.append(hist.facts_message)
            out.append(dict(m.data, content=m.content_cut) if m.content_cut is not None else m.data)
        cap = budgets.output
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise ConfigurationError(f"max_tokens must be a positive integer, got {max_tokens!r}.")
        new_max = max_tokens if cap is None else (cap if max_tokens is None else min(max_tokens, cap))
        return TrimResult(
            messages=out,
            kept=kept,
            replaced=replaced,
            before=before,
            after=after,
            removed=removed,
            max_tokens=new_max,
            requested_max_tokens=max_tokens,
            route=route,
            dropped_messages=len(msgs) - len(kept),
            facts_kept=hist.facts_kept,
            facts_dropped=hist.facts_dropped,
            inserted=inserted,
            last_user_cut=hist.last_user_cut,
            _dropped_by_segment=dropped_by_segment,
        )

    def apply_request(
        self, request: Mapping[str, Any], *, route: str | None = None
    ) -> tuple[dict[str, Any], TrimResult]:
        """Trim an OpenAI/LiteLLM-style request dict (``messages``, ``max_tokens``,
        ``model``); returns the new request and the result. For LiteLLM hooks."""
        if "messages" not in request:
            raise ConfigurationError("request has no 'messages'; pass an OpenAI/LiteLLM chat request dict.")
        key = "max_completion_tokens" if "max_completion_tokens" in request else "max_tokens"
        model = str(request.get("model") or self.model)
        result = self.apply(request["messages"], route=route, max_tokens=request.get(key), model=model)
        new = dict(request, messages=result.messages)
        if result.max_tokens is not None:
            new[key] = result.max_tokens
        return new, result

    # -- steps ---------------------------------------------------------------------------
    def _classify(self, messages: Sequence[Mapping[str, Any]], model: str) -> list[_Msg]:
        out: list[_Msg] = []
        seen_system = False
        for i, raw in enumerate(messages):
            if type(raw) is dict and "role" in raw and not (raw.keys() & _ANNOTATION_KEYS):
                # The common case, kept cheap: a plain message, segment from its role, sent
                # as it is (never changed in place: a cut message is a new dict).
                role = raw["role"]
                if role == "system":
                    seg = "policy" if seen_system else "system"
                    seen_system = True
                else:
                    seg = _ROLE_SEGMENTS.get(role) or segment_of(raw)
                out.append(_Msg(i, raw, seg, self.count_message(raw, model)))
                continue
            if not isinstance(raw, Mapping) or "role" not in raw:
                raise ConfigurationError(
                    f"message {i} must be an OpenAI-format dict with a 'role', got {type(raw).__name__}."
                )
            seg = segment_of(raw, first_system=not seen_system)
            if raw.get("role") == "system" and seg in ("system", "policy"):
                seen_system = True
            data = {k: v for k, v in raw.items() if k not in _ANNOTATION_KEYS}
            score = _annotation(raw, "score")
            if score is not None and not isinstance(score, (int, float)):
                raise ConfigurationError(f"message {i}: score must be a number, got {score!r}.")
            out.append(
                _Msg(i, data, seg, self.count_message(data, model), None if score is None else float(score))
            )
        return out

    def _enforce_fixed(self, msgs: list[_Msg], seg: str, budget: int | None, model: str) -> None:
        if budget is None:
            return
        members = [m for m in msgs if m.segment == seg]
        total = sum(m.tokens for m in members)
        if total <= budget:
            return
        if self.oversize == "raise":
            raise _exceeded(
                seg,
                budget,
                0,
                total,
                f"Raise SegmentBudgets({seg}=...) to at least {total} for this route, shorten the "
                f"{seg} message(s), or pass oversize='truncate' to cut them.",
            )
        # Cut the later messages of the segment first; the first one carries the persona.
        room = budget - sum(m.tokens for m in members[:-1])
        for m in reversed(members):
            if total <= budget:
                break
            target = max(m.tokens - (total - budget), 0) if room < 0 else room
            total -= m.tokens - self._cut(m, target, model)

    def _cut_tool_results(self, msgs: list[_Msg], budget: int | None, model: str) -> None:
        if budget is None:
            return
        results = [m for m in msgs if m.segment == "tools"]
        if sum(m.tokens for m in results) <= budget:
            return
        remaining = budget
        for m in reversed(results):  # newest results get the budget first
            if m.tokens > remaining:
                self._cut(m, remaining, model)
            remaining = max(remaining - m.tokens, 0)

    def _drop_turns(
        self, msgs: list[_Msg], history: int | None, tools: int | None, model: str
    ) -> _HistoryOutcome:
        outcome = _HistoryOutcome()
        conv = [m for m in msgs if m.segment in ("history", "tools")]
        if not conv:
            return outcome

        # Running totals (kept while whole messages are dropped; cuts below recount).
        live = {"history": 0, "tools": 0}
        for m in conv:
            if not m.dropped:
                live[m.segment] += m.tokens

        def over() -> bool:
            return (history is not None and live["history"] > history) or (
                tools is not None and live["tools"] > tools
            )

        def drop(m: _Msg) -> None:
            if not m.dropped:
                m.dropped = True
                live[m.segment] -= m.tokens

        if not over():
            return outcome
        turns: list[list[_Msg]] = []
        for m in conv:
            if not turns or (m.data.get("role") in ("user", "human") and m.segment == "history"):
                turns.append([m])
            else:
                turns[-1].append(m)
        gone = 0
        for turn in turns[:-1]:  # oldest first, always keep the last turn
            if not over():
                break
            for m in turn:
                drop(m)
            gone += 1
        if over():
            self._shrink_last_turn(turns[-1], conv, live, over, drop, history, model, outcome)
        if self.keep_facts and gone:
            self._keep_facts(turns, gone, live, history, model, outcome)
        return outcome

    def _keep_facts(
        self,
        turns: list[list[_Msg]],
        gone: int,
        live: dict[str, int],
        history: int | None,
        model: str,
        outcome: _HistoryOutcome,
    ) -> None:
        """Put the fact clauses of the dropped user messages into one compact message.

        When the whole line does not fit, older turns are folded in too (their user
        messages become clauses, their assistant replies go), up to a turn with tool
        results (their data has no place in the line); of the turn just before the last
        only the user message can be folded: its assistant reply stays, as the last user
        message often answers it.
        """

        def is_user(m: _Msg) -> bool:
            return m.segment == "history" and m.data.get("role") in ("user", "human")

        per_message: dict[int, list[tuple[str, bool, int]]] = {}

        def clauses_now() -> list[tuple[str, bool, int]]:
            seen: set[str] = set()
            out: list[tuple[str, bool, int]] = []
            for turn in turns[:-1]:
                for m in turn:
                    if not (m.dropped and is_user(m)):
                        continue
                    if m.index not in per_message:
                        per_message[m.index] = self._clauses(_text_of(m.data.get("content")), model)
                    for clause in per_message[m.index]:
                        if clause[0].lower() not in seen:
                            seen.add(clause[0].lower())
                            out.append(clause)
            return out

        base = self._count_uncached(self._facts_message([]), model)

        def estimate(clauses: list[tuple[str, bool, int]]) -> int:
            # Clause tokens plus one per "; " separator; checked exactly below.
            return base + sum(c[2] for c in clauses) + max(len(clauses) - 1, 0) if clauses else 0

        def room() -> float:
            return float("inf") if history is None else history - live["history"]

        steps: list[list[_Msg]] = []
        if self._fold_turns:
            for turn in turns[gone:-2]:
                if any(m.segment == "tools" for m in turn):
                    break
                steps.append(turn)
            else:
                if len(turns) >= 2 and gone <= len(turns) - 2 and is_user(turns[-2][0]):
                    steps.append(turns[-2][:1])
        clauses = clauses_now()
        for step in steps:
            if not clauses or estimate(clauses) <= room():
                break
            for m in step:
                if not m.dropped:
                    m.dropped = True
                    live[m.segment] -= m.tokens
            clauses = clauses_now()
        # Clauses without a value leave first, then the oldest ones.
        order = sorted(range(len(clauses)), key=lambda i: (clauses[i][1], i))
        keep = [True] * len(clauses)
        kept = clauses
        exact = 0
        for i in [-1, *order]:
            if i >= 0:
                keep[i] = False
                kept = [c for c, k in zip(clauses, keep) if k]
            if not kept or estimate(kept) > room():
                continue
            exact = self._count_uncached(self._facts_message([c[0] for c in kept]), model)
            if exact <= room():
                break
        else:
            kept = []
        outcome.facts_kept = [c[0] for c in kept]
        outcome.facts_dropped = (
            [c[0] for c, k in zip(clauses, keep) if not k] if kept else [c[0] for c in clauses]
        )
        if outcome.facts_kept:
            outcome.facts_message = self._facts_message(outcome.facts_kept)
            outcome.facts_tokens = exact
            first_dropped = next(i for i, turn in enumerate(turns) if any(m.dropped for m in turn))
            outcome.insert_before = next(
                m.index for turn in turns[first_dropped:] for m in turn if not m.dropped
            )

    def _clauses(self, text: str, model: str) -> list[tuple[str, bool, int]]:
        """Fact clauses of one message with their token counts (cached: a conversation
        sends the same old messages again on every turn)."""
        key = (model, text)
        hit = self._facts_cache.get(key)
        if hit is None:
            hit = [(f.text, f.strong, len(self._text_tokens(f.text, model))) for f in fact_clauses(text)]
            if len(self._facts_cache) >= self._cache_size:
                with self._lock:
                    self._facts_cache.clear()
            if self._cache_size:
                self._facts_cache[key] = hit
        return hit

    def _count_uncached(self, message: Mapping[str, Any], model: str) -> int:
        # Compact messages differ on every request: counting them must not churn the cache.
        return self.counter.count_messages([message], model).tokens - _REPLY_PRIMING

    def _facts_message(self, clauses: list[str]) -> dict[str, Any]:
        return {"role": "user", "content": self.facts_prefix + "; ".join(clauses) + "."}

    def _shrink_last_turn(
        self,
        last: list[_Msg],
        conv: list[_Msg],
        live: dict[str, int],
        over: Any,
        drop: Any,
        history: int | None,
        model: str,
        outcome: _HistoryOutcome,
    ) -> None:
        # The last turn alone is too big: drop its oldest assistant / tool-call groups.
        head = last[0] if last[0].data.get("role") in ("user", "human") else None
        groups: list[list[_Msg]] = []
        for m in last[1 if head else 0 :]:
            if m.segment == "tools" and groups:
                groups[-1].append(m)  # a tool result stays with the call before it
            else:
                groups.append([m])
        for group in groups[:-1]:
            if not over():
                return
            for m in group:
                drop(m)
        if not over() or history is None:
            return
        # Still too big: cut the remaining assistant texts of the turn, the user message last.
        rest = [
            m
            for m in last
            if not m.dropped
            and m.segment == "history"
            and m is not head
            and isinstance(m.data.get("content"), str)
            and m.data.get("content")
        ]
        for m in rest:
            excess = sum(x.tokens for x in conv if x.segment == "history" and not x.dropped) - history
            if excess <= 0:
                return
            self._cut(m, max(m.tokens - excess, 0), model)
        live["history"] = sum(m.tokens for m in conv if m.segment == "history" and not m.dropped)
        if over() and head is not None and live["history"] > history:
            others = live["history"] - head.tokens
            if self.strict:
                raise _exceeded(
                    "history",
                    history,
                    others,
                    head.tokens,
                    "Raise SegmentBudgets(history=...) for this route, send a shorter last user "
                    "message, or leave out strict=True to keep its head and tail.",
                )
            before = head.tokens
            self._cut_middle(head, history - others, model, history)
            outcome.last_user_cut = before - head.tokens
            live["history"] = others + head.tokens

    def _cut_middle(self, msg: _Msg, target: int, model: str, history: int) -> None:
        """Keep the head and the tail of ``msg``'s text with a marker between them, in at
        most ``target`` tokens; the request is refused when not even the marker fits."""
        content = msg.data.get("content")
        text = content if isinstance(content, str) else _text_of(content)
        tokens = self._text_tokens(text, model)

        def with_text(new_text: str) -> Any:
            # Images and other non-text parts stay, so they are counted in every size.
            return new_text if isinstance(content, str) else _replace_text(content, new_text)

        overhead = self.count_message(dict(msg.data, content=with_text("")), model)
        keep = (
            target - overhead - len(self._text_tokens(self.marker.format(removed=len(tokens)) + "\n", model))
        )
        for _ in range(6):  # re-tokenising the joined text can shift a token or two
            if keep < 0:
                break
            head_n = (keep + 1) // 2
            tail = tokens[len(tokens) - (keep - head_n) :] if keep - head_n else []
            new_text = (
                self._decode(tokens[:head_n], model)
                + self.marker.format(removed=len(tokens) - keep)
                + "\n"
                + self._decode(tail, model)
            )
            candidate = with_text(new_text)
            new_size = self.count_message(dict(msg.data, content=candidate), model)
            if new_size <= target:
                msg.content_cut = candidate
                msg.tokens = new_size
                return
            keep -= max(new_size - target, 1)
        raise _exceeded(
            "history",
            history,
            history - target,
            msg.tokens,
            "The last user message cannot be cut that far (its framing, the truncation marker and "
            "any images stay): raise SegmentBudgets(history=...) for this route or send less.",
        )

    def _fill_retrieved(self, msgs: list[_Msg], budget: int | None) -> None:
        if budget is None:
            return
        docs = [m for m in msgs if m.segment == "retrieved"]
        if sum(m.tokens for m in docs) <= budget:
            return
        order = sorted(docs, key=lambda m: -(m.score if m.score is not None else float("-inf")))
        remaining = budget
        for m in order:
            if m.tokens <= remaining:
                remaining -= m.tokens
            else:
                m.dropped = True


def _exceeded(seg: str, limit: int, spent: int, requested: int, fix: str) -> BudgetExceeded:
    """A context budget that cannot be met, with the setting that would let it be."""
    error = BudgetExceeded(f"context.{seg}", limit=limit, spent=spent, requested=requested, unit="tokens")
    error.args = (f"{error.args[0]} {fix}",)
    return error


def _coerce_budgets(value: Any, route: str) -> SegmentBudgets:
    if isinstance(value, SegmentBudgets):
        return value
    try:
        return SegmentBudgets(**value)
    except Exception as exc:
        raise ConfigurationError(
            f"context budgets of route {route!r} are invalid ({exc}); use e.g. "
            "{'system': 400, 'policy': 500, 'history': 1500, 'retrieved': 3500, 'tools': 1000, 'output': 800}."
        ) from exc


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, Mapping) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts)


def _replace_text(content: Any, text: str) -> list[Any]:
    """Multi-part content with its text parts replaced by one text part (images etc. stay)."""
    others = [
        p for p in content if not (isinstance(p, str) or (isinstance(p, Mapping) and p.get("type") == "text"))
    ]
    return [{"type": "text", "text": text}, *others]


def _totals(msgs: list[_Msg]) -> dict[str, int]:
    totals = dict.fromkeys(SEGMENTS, 0)
    for m in msgs:
        if not m.dropped:
            totals[m.segment] += m.tokens
    return totals
