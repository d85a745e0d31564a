"""The framework-free heart of attribution.

Adapters (LangChain callbacks, LiteLLM loggers) translate their events into calls on a
:class:`CostTracker`: runs start and end, model calls end with a usage or an error. The
tracker prices each call, attributes it, rolls it up to its task (the root run), writes a
:class:`CostRecord` to the ledger and tells observers (telemetry) about every run. Every
downstream view (ledger, spans, metrics) is fed from these same events, so there is one
token count and one price per call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from . import _shutdown
from ._errors import ConfigurationError, InvalidUsageError, LLMCostHooksError, UnknownModelError
from ._records import CacheStatus, CostBreakdown, CostRecord, TokenUsage, storable_text, usage_invalid
from .ledger import Ledger, TaskOutcome, open_ledger

if TYPE_CHECKING:  # pragma: no cover
    from ._settings import Settings

__all__ = [
    "Attribution",
    "CostTracker",
    "RunInfo",
    "RunKind",
    "RunObserver",
    "TaskState",
    "TrackerAdapterMixin",
]

logger = logging.getLogger("llm_cost_hooks")

# Metadata keys read for attribution, with accepted aliases (first wins).
_ATTR_KEYS: dict[str, tuple[str, ...]] = {
    "tenant": ("tenant_id", "tenant"),
    "user": ("user_id", "user"),
    "feature": ("feature",),
    "route": ("route",),
    "prompt_version": ("prompt_version",),
    "task_id": ("task_id",),
}
_ATTR_KEY_SET = frozenset(k for keys in _ATTR_KEYS.values() for k in keys) | {"cost_tags"}
_RETRY_TAG = "retry:attempt:"
# Attribution memo: metadata keys it is keyed by (every key _attribution reads), and a cap.
_ATTR_KEY_ORDER = tuple(sorted(_ATTR_KEY_SET))
_ATTR_MEMO_MAX = 4096
# Token counts this many times the model's context window (or output limit) are flagged
# ``usage_implausible``; without a known window, counts above _IMPLAUSIBLE_TOKENS are.
_IMPLAUSIBLE_FACTOR = 10
_IMPLAUSIBLE_TOKENS = 20_000_000
# Below this many tokens a call is never implausible (skips the check on the hot path).
_PLAUSIBLE_TOKENS = 100_000


class RunKind(str, Enum):
    """What kind of LangChain (or LiteLLM) run a :class:`RunInfo` describes."""

    CHAIN = "chain"
    LLM = "llm"
    TOOL = "tool"
    RETRIEVER = "retriever"
    AGENT = "agent"


@dataclass
class Attribution:
    """Who and what a call is for, resolved from defaults and run metadata."""

    tenant: str | None = None
    user: str | None = None  # already hashed
    feature: str | None = None
    route: str | None = None
    prompt_version: str | None = None
    task_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskState:
    """Running totals of one task, kept while its root run is open."""

    task_id: str
    root_run_id: str
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    calls: int = 0
    failed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True)
class RunInfo:
    """One run (chain, tool, agent, retriever or model call) as the tracker sees it.

    ``observer_data`` lets observers keep per-run state (a span, a token) without a
    second lookup table.
    """

    run_id: str
    parent_id: str | None
    task_id: str
    kind: RunKind
    name: str
    start_time: datetime
    start_ns: int
    metadata: Mapping[str, Any]
    tags: Sequence[str]
    attribution: Attribution
    is_root: bool
    model: str | None = None
    provider: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    messages: Any = None  # kept only to count tokens if the provider reports none
    attempt: int = 1
    observer_data: dict[str, Any] = field(default_factory=dict)
    children: int = 0
    end_ns: int = 0  # time.perf_counter_ns() when the run ended (0 while open)


class RunObserver:
    """Receives every run's start and end. Subclass and override what you need.

    Observers run on the caller's thread, so they must be quick and must not raise
    (the tracker logs and swallows their errors so a chain never breaks because of one).

    ``deferrable = True`` lets the tracker call :meth:`on_run_end` later, on the
    ledger's writer thread, in the order the runs ended (``run.end_ns`` says when), so
    that pricing and the observer's work leave the caller's thread. The tracker does so
    only when every observer is deferrable, the caller does not need the record back and
    the ledger has a background writer; ``tracker.flush()`` waits for those calls.
    """

    deferrable: bool = False

    def attach(self, tracker: CostTracker) -> None:  # pragma: no cover - default no-op
        """This observer was added to ``tracker`` (e.g. to flush it at exit)."""

    def on_run_start(self, run: RunInfo) -> None:  # pragma: no cover - default no-op
        """A run started."""

    def on_run_end(
        self,
        run: RunInfo,
        *,
        record: CostRecord | None,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any = None,
    ) -> None:  # pragma: no cover - default no-op
        """A run ended. ``record`` is set for model calls; ``task`` for root runs."""


def _attach(observer: RunObserver, tracker: CostTracker) -> None:
    attach = getattr(observer, "attach", None)
    if attach is not None:
        try:
            attach(tracker)
        except Exception:
            logger.exception("llm-cost-hooks observer %r failed to attach", observer)


def hash_user(user: str, salt: str) -> str:
    return hashlib.sha256((salt + user).encode()).hexdigest()[:16]


class CostTracker:
    """Prices, attributes and records model calls; rolls them up into tasks.

    >>> from llm_cost_hooks import CostTracker, TokenUsage
    >>> tracker = CostTracker(ledger="memory://", defaults={"tenant_id": "acme"})
    >>> run = tracker.start_llm("r1", None, model="gpt-4o-mini", provider="openai")
    >>> record = tracker.end_llm("r1", TokenUsage(input_tokens=1000, output_tokens=200))
    >>> round(record.cost_usd, 6), record.tenant
    (0.00027, 'acme')
    """

    def __init__(
        self,
        *,
        ledger: str | Ledger | None = None,
        price_book: Any = None,
        token_counter: Any = None,
        defaults: Mapping[str, Any] | None = None,
        observers: Sequence[RunObserver] = (),
        settings: Settings | None = None,
        strict: bool = False,
    ) -> None:
        if settings is None:
            # Imported here: pydantic-settings costs ~25 ms at import time.
            from ._settings import get_settings

            settings = get_settings()
        self.settings = settings
        if price_book is None and (
            os.environ.get("LLM_COST_HOOKS_PRICE_MAP", "").strip()
            or os.environ.get("LLM_COST_HOOKS_PRICE_OVERRIDES", "").strip()
        ):
            # Configured prices are checked now: a bad file fails here with its line and
            # fix, not as a $0 price on every call later.
            from .pricing import PriceBook

            price_book = PriceBook.default()
            price_book.version  # noqa: B018 - loads the map and applies the overrides
        self.ledger = open_ledger(ledger if ledger is not None else self.settings.ledger)
        self._price_book = price_book
        self._token_counter = token_counter
        self.strict = strict
        self.defaults = self._attribution({}, dict(defaults or {}), Attribution())
        self.observers: list[RunObserver] = list(observers)
        for observer in self.observers:
            _attach(observer, self)
        self._runs: dict[str, RunInfo] = {}
        # Runs being ended right now (popped from _runs, record/observers not done yet):
        # flush() waits for them, so a flush right after another thread ended a run sees
        # its record *and* its observers' work (e.g. the span ended).
        self._ending: dict[str, int] = {}  # run id -> the ending thread's ident
        self._tasks: dict[str, TaskState] = {}
        # dict operations are atomic under the GIL; the lock only guards compound updates.
        self._lock = threading.Lock()
        self._warned_models: set[str] = set()
        self._prices: dict[tuple[str, str | None], Any] = {}
        self._attr_memo: dict[tuple[Any, ...], tuple[Attribution, Attribution]] = {}
        self._warned_implausible: set[Any] = set()
        _shutdown.after_fork_in_child(self, CostTracker._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # Threads that were ending runs in the parent do not exist here; a lock one of
        # them held would never be released.
        self._lock = threading.Lock()
        self._ending = {}

    # -- lazily built collaborators -------------------------------------------------------
    @property
    def price_book(self) -> Any:
        if self._price_book is None:
            from .pricing import PriceBook

            self._price_book = PriceBook.default()
        return self._price_book

    @property
    def token_counter(self) -> Any:
        if self._token_counter is None:
            from .tokens import default_counter

            self._token_counter = default_counter()
        return self._token_counter

    def add_observer(self, observer: RunObserver) -> None:
        self.observers.append(observer)
        _attach(observer, self)

    # -- attribution -------------------------------------------------------------------
    def _attribution(
        self, metadata: Mapping[str, Any], defaults: Mapping[str, Any], base: Attribution
    ) -> Attribution:
        values: dict[str, Any] = {
            "tenant": base.tenant,
            "user": base.user,
            "feature": base.feature,
            "route": base.route,
            "prompt_version": base.prompt_version,
            "task_id": base.task_id,
        }
        tags = dict(base.tags)
        for source in (defaults, metadata):
            if not source:
                continue
            for attr, keys in _ATTR_KEYS.items():
                for key in keys:
                    if key in source and source[key] is not None:
                        value = source[key]
                        if isinstance(value, bool) or not isinstance(value, (str, int)):
                            self._bad_input(
                                ConfigurationError(
                                    f"metadata[{key!r}] must be a string, got "
                                    f"{type(value).__name__} {value!r}; pass e.g. "
                                    f"metadata={{{key!r}: 'acme'}}."
                                )
                            )
                            break
                        value = storable_text(str(value))
                        if attr == "user":
                            value = hash_user(value, self.settings.user_hash_salt)
                        values[attr] = value
                        break
            extra = source.get("cost_tags")
            if extra is not None:
                if not isinstance(extra, Mapping):
                    self._bad_input(
                        ConfigurationError(
                            f"metadata['cost_tags'] must be a dict of str to str, got {type(extra).__name__}."
                        )
                    )
                else:
                    tags.update({storable_text(str(k)): storable_text(str(v)) for k, v in extra.items()})
        return Attribution(tags=tags, **values)

    def _bad_input(self, error: LLMCostHooksError) -> None:
        if self.strict:
            raise error
        logger.warning("llm-cost-hooks: %s", error)

    # -- runs ---------------------------------------------------------------------------
    def _start(
        self,
        run_id: str,
        parent_id: str | None,
        kind: RunKind,
        name: str,
        metadata: Mapping[str, Any] | None,
        tags: Sequence[str] | None,
        model: str | None = None,
        provider: str | None = None,
        params: dict[str, Any] | None = None,
        messages: Any = None,
    ) -> RunInfo:
        metadata = metadata or {}
        parent = self._runs.get(parent_id) if parent_id else None
        base = parent.attribution if parent is not None else self.defaults
        # Most runs carry only LangChain's own metadata (ls_*): skip the merge then.
        if metadata and not _ATTR_KEY_SET.isdisjoint(metadata):
            attribution = self._attribution_cached(metadata, base)
        else:
            attribution = base
        if parent is not None:
            task_id = parent.task_id
            is_root = False
            parent.children += 1
        else:
            # The root we see: either a true root run, or the first run under a parent we
            # were not told about (handler attached to a model only) - then the unknown
            # parent groups its calls into one task.
            task_id = attribution.task_id or parent_id or run_id
            is_root = True
        attempt = 1
        for tag in tags or ():
            if tag.startswith(_RETRY_TAG):
                try:
                    attempt = max(attempt, int(tag[len(_RETRY_TAG) :]))
                except ValueError:
                    pass
        if parent is not None:
            attempt = max(attempt, parent.attempt)
        run = RunInfo(
            run_id,
            parent_id,
            task_id,
            kind,
            name,
            datetime.now(timezone.utc),
            time.perf_counter_ns(),
            metadata,
            tags or (),
            attribution,
            is_root,
            model,
            provider,
            {} if params is None else params,
            messages,
            attempt,
        )
        self._runs[run_id] = run
        if is_root and task_id not in self._tasks:
            self._tasks[task_id] = TaskState(task_id=task_id, root_run_id=run_id)
        # Observers see the run complete (a model run with its model, provider and params).
        for obs in self.observers:
            try:
                obs.on_run_start(run)
            except Exception:
                logger.exception("llm-cost-hooks observer %r failed on run start", obs)
        return run

    def _attribution_cached(self, metadata: Mapping[str, Any], base: Attribution) -> Attribution:
        """The attribution of ``metadata`` over ``base``, memoised: requests repeat the same
        few tenants and features, and resolving one (hashing the user id) costs ~5 us."""
        values = [metadata.get(k) for k in _ATTR_KEY_ORDER]
        for value in values:
            # Only plain strings are memoised: other values (cost_tags dicts, ints that
            # compare equal to bools, bad types that must be reported) resolve every time.
            if value is not None and type(value) is not str:
                return self._attribution(metadata, {}, base)
        key = (id(base), *values)
        hit = self._attr_memo.get(key)
        if hit is not None and hit[0] is base:
            return hit[1]
        attribution = self._attribution(metadata, {}, base)
        if len(self._attr_memo) >= _ATTR_MEMO_MAX:
            self._attr_memo.clear()
        # ``base`` is kept in the value so its id cannot be reused while the entry lives.
        self._attr_memo[key] = (base, attribution)
        return attribution

    def start_run(
        self,
        run_id: str,
        parent_id: str | None,
        *,
        kind: RunKind = RunKind.CHAIN,
        name: str = "chain",
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
    ) -> RunInfo:
        """A chain, tool, agent or retriever run started."""
        return self._start(run_id, parent_id, kind, name, metadata, tags)

    def start_llm(
        self,
        run_id: str,
        parent_id: str | None,
        *,
        model: str,
        provider: str | None = None,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        messages: Any = None,
    ) -> RunInfo:
        """A model call started. ``messages`` (OpenAI format, or a callable returning
        them) are kept only to count tokens if the provider reports no usage."""
        return self._start(
            run_id,
            parent_id,
            RunKind.LLM,
            name or model,
            metadata,
            tags,
            model,
            provider,
            dict(params) if params else {},
            messages,
        )

    def end_run(
        self, run_id: str, *, error: BaseException | None = None, outputs: Any = None
    ) -> TaskState | None:
        """A non-model run ended. Closes its task when it is the root."""
        self._ending[run_id] = threading.get_ident()
        try:
            run = self._runs.pop(run_id, None)
            if run is None:
                return None
            run.end_ns = time.perf_counter_ns()
            task = self._finish_task(run, error) if run.is_root else None
            if self.observers:
                if self._defers_observers():
                    # After the deferred model calls queued before it: the task's totals are
                    # complete when the observers see them.
                    self.ledger.run_deferred(_DeferredEnd(self, run, error, task, outputs))
                else:
                    self._notify_end(run, record=None, error=error, task=task, outputs=outputs)
            return task
        finally:
            self._ending.pop(run_id, None)

    def _defers_observers(self) -> bool:
        """Whether run ends (records and observers) can go through the ledger's writer:
        not strict (errors would surface later), a background writer, and every observer
        deferrable (see RunObserver)."""
        return (
            not self.strict
            and self.ledger.defers_writes
            and all(getattr(o, "deferrable", False) for o in self.observers)
        )

    def _finish_task(self, run: RunInfo, error: BaseException | None) -> TaskState | None:
        task = self._tasks.pop(run.task_id, None)
        if task is None or task.root_run_id != run.run_id:
            if task is not None:
                self._tasks[run.task_id] = task
            return None
        success = error is None
        if run.kind is RunKind.LLM:
            # A task that is a single model call: its record already says how it ended.
            return task
        self.ledger.write_task(
            TaskOutcome(
                task_id=task.task_id,
                success=success,
                source="run",
                reason=type(error).__name__ if error else None,
            )
        )
        return task

    def _notify_end(
        self,
        run: RunInfo,
        *,
        record: CostRecord | None,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any = None,
    ) -> None:
        for obs in self.observers:
            try:
                obs.on_run_end(run, record=record, error=error, task=task, outputs=outputs)
            except Exception:
                logger.exception("llm-cost-hooks observer %r failed on run end", obs)

    # -- pricing ------------------------------------------------------------------------
    def price(
        self,
        usage: TokenUsage,
        model: str,
        provider: str | None,
        *,
        batch: bool = False,
        at: datetime | None = None,
    ) -> tuple[CostBreakdown, bool]:
        """Price a usage; returns ``(breakdown, price_estimated)``. Unknown models cost 0
        and are flagged (and logged once) unless ``strict``."""
        key = (model, provider)
        try:
            resolved = self._prices.get(key)
            if resolved is None:
                # Name resolution is the slow part of pricing; models per app are few.
                resolved = self._prices[key] = self.price_book.resolve(model, provider)
            # ``at``: the billing moment, for providers with off-peak prices.
            return resolved.price.cost(usage, batch=batch, at=at), resolved.estimated
        except UnknownModelError as exc:
            if self.strict:
                raise
            if model not in self._warned_models:
                self._warned_models.add(model)
                logger.warning("llm-cost-hooks: %s Recording it at $0, flagged price_estimated.", exc)
            return CostBreakdown(), True
        except Exception as exc:
            if self.strict:
                raise
            if ("pricing", model, type(exc)) not in self._warned_implausible:
                # Once per model and kind of failure: a broken price book fails every call.
                self._warned_implausible.add(("pricing", model, type(exc)))
                logger.exception(
                    "llm-cost-hooks: pricing %r failed; recorded at $0, flagged "
                    "price_estimated (logged once per model)",
                    model,
                )
            return CostBreakdown(), True

    def count_prompt_tokens(self, messages: Any, model: str) -> tuple[int, bool]:
        if messages is None:
            return 0, True
        if callable(messages):
            messages = messages()
        try:
            if isinstance(messages, str):
                c = self.token_counter.count_text(messages, model)
            else:
                c = self.token_counter.count_messages(messages, model)
            return c.tokens, True
        except Exception:
            logger.debug("llm-cost-hooks: could not count prompt tokens", exc_info=True)
            return 0, True

    # -- model call end -----------------------------------------------------------------
    def end_llm(
        self,
        run_id: str,
        usage: TokenUsage | None,
        *,
        model: str | None = None,
        cache_status: CacheStatus = CacheStatus.MISS,
        saved_usd: float | None = None,
        output_text: str | Callable[[], str] | None = None,
        outputs: Any = None,
        batch: bool = False,
        billed_usd: float | None = None,
        tokens_estimated: bool = False,
        defer: bool = False,
    ) -> CostRecord | None:
        """A model call succeeded. ``usage`` None means the provider reported none: the
        tracker counts prompt and ``output_text`` tokens itself and flags them.

        ``billed_usd`` is a dollar amount known for this call (e.g. a replayed call's
        recorded cost): it is recorded as is instead of pricing ``usage``;
        ``tokens_estimated`` flags a ``usage`` that was counted, not reported.

        For a cache hit (``cache_status`` not MISS) the call is billed $0 and
        ``saved_usd`` (by default: the price of ``usage``, the original call's usage) is
        recorded as saved.

        ``defer=True`` (adapters that do not need the record back): when every observer
        is deferrable (or there is none), the tracker is not strict and the ledger has a
        background writer, the call's raw numbers are queued and the writer prices and
        records them and tells the observers (the same record, complete after
        :meth:`flush`); returns None then. The task's dollar totals then also fill in on
        the writer.
        """
        self._ending[run_id] = threading.get_ident()
        try:
            return self._end_llm(
                run_id,
                usage,
                model,
                cache_status,
                saved_usd,
                output_text,
                outputs,
                batch,
                billed_usd,
                tokens_estimated,
                defer,
            )
        finally:
            self._ending.pop(run_id, None)

    def _end_llm(
        self,
        run_id: str,
        usage: TokenUsage | None,
        model: str | None,
        cache_status: CacheStatus,
        saved_usd: float | None,
        output_text: str | Callable[[], str] | None,
        outputs: Any,
        batch: bool,
        billed_usd: float | None,
        tokens_estimated: bool,
        defer: bool,
    ) -> CostRecord | None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return None
        end_ns = run.end_ns = time.perf_counter_ns()
        model_name = model or run.model or "unknown"
        if usage is None:
            in_tok, _ = self.count_prompt_tokens(run.messages, model_name)
            out_tok = 0
            text = output_text() if callable(output_text) else output_text
            if text:
                try:
                    out_tok = self.token_counter.count_text(text, model_name).tokens
                except Exception:
                    out_tok = 0
            usage = TokenUsage(input_tokens=in_tok, output_tokens=out_tok)
            tokens_estimated = True
        if defer and self._defers_observers():
            task = self._tasks.get(run.task_id)
            finished = self._finish_task(run, None) if run.is_root else None
            self.ledger.write_deferred(
                _DeferredCall(
                    self,
                    run,
                    task,
                    usage,
                    model_name,
                    cache_status,
                    saved_usd,
                    batch,
                    billed_usd,
                    tokens_estimated,
                    end_ns,
                    finished,
                    outputs,
                )
            )
            return None
        record = self._success_record(
            run, usage, model_name, cache_status, saved_usd, batch, billed_usd, tokens_estimated, end_ns
        )
        return self._emit(run, record, None, outputs)

    def _success_record(
        self,
        run: RunInfo,
        usage: TokenUsage,
        model_name: str,
        cache_status: CacheStatus,
        saved_usd: float | None,
        batch: bool,
        billed_usd: float | None,
        tokens_estimated: bool,
        end_ns: int,
    ) -> CostRecord:
        """Price a successful call and build its record (on the caller, or on the
        ledger's writer for a deferred call)."""
        if billed_usd is not None:
            breakdown, price_estimated = _billed_breakdown(float(billed_usd), usage), False
        else:
            breakdown, price_estimated = self.price(
                usage, model_name, run.provider, batch=batch, at=run.start_time
            )
        if cache_status is not CacheStatus.MISS:
            saved = breakdown.total if saved_usd is None else saved_usd
            return self._record(
                run,
                model_name,
                _NO_USAGE,
                _NO_COST,
                success=True,
                cache_status=cache_status,
                saved_usd=saved,
                tokens_estimated=tokens_estimated,
                price_estimated=price_estimated,
                end_ns=end_ns,
            )
        # Provider prefix caching (issue 8): reads are already priced at the cache-read
        # rate; record what they saved, and tag what cache writes cost above input.
        premium: float | None = None
        if (
            (usage.cache_read_tokens or usage.cache_write_tokens)
            and billed_usd is None
            and (resolved := self._prices.get((model_name, run.provider))) is not None
        ):
            try:
                cache_saved, premium = _prefix_cache_savings()(
                    resolved.price, usage, batch=batch, at=run.start_time
                )
            except Exception:
                logger.exception("llm-cost-hooks: prompt-cache savings of %r failed", model_name)
            else:
                if cache_saved > 0:
                    cache_status = CacheStatus.PROVIDER_PREFIX
                    saved_usd = (saved_usd or 0.0) + cache_saved
        record = self._record(
            run,
            model_name,
            usage,
            breakdown,
            success=True,
            cache_status=cache_status,
            saved_usd=saved_usd or 0.0,
            tokens_estimated=tokens_estimated,
            price_estimated=price_estimated,
            end_ns=end_ns,
        )
        if premium is not None and usage.cache_write_tokens:
            record.tags["prompt_cache.write_premium_usd"] = f"{premium:.10g}"
        return record

    def end_llm_delegated(
        self, run_id: str, *, error: BaseException | None = None, outputs: Any = None
    ) -> TaskState | None:
        """A model run that delegated to child model runs (a router) ended.

        Its children were recorded, each with its own model and price, so this run
        writes no record (no double counting); observers are still told, and a root
        run still closes its task: the same ending as a chain's.
        """
        return self.end_run(run_id, error=error, outputs=outputs)

    def error_llm(
        self, run_id: str, error: BaseException, *, usage: TokenUsage | None = None
    ) -> CostRecord | None:
        """A model call failed. Recorded as failed, with its prompt tokens (counted here
        when the provider reported none) and the price of those tokens."""
        self._ending[run_id] = threading.get_ident()
        try:
            return self._error_llm(run_id, error, usage)
        finally:
            self._ending.pop(run_id, None)

    def _error_llm(self, run_id: str, error: BaseException, usage: TokenUsage | None) -> CostRecord | None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return None
        run.end_ns = time.perf_counter_ns()
        model_name = run.model or "unknown"
        estimated = False
        if usage is None:
            in_tok, estimated = self.count_prompt_tokens(run.messages, model_name)
            usage = TokenUsage(input_tokens=in_tok)
        breakdown, price_estimated = self.price(usage, model_name, run.provider, at=run.start_time)
        record = self._record(
            run,
            model_name,
            usage,
            breakdown,
            success=False,
            cache_status=CacheStatus.MISS,
            saved_usd=0.0,
            tokens_estimated=estimated,
            price_estimated=price_estimated,
            error_type=type(error).__qualname__,
            end_ns=run.end_ns,
        )
        return self._emit(run, record, error, None)

    def _record(
        self,
        run: RunInfo,
        model: str,
        usage: TokenUsage,
        breakdown: CostBreakdown,
        *,
        success: bool,
        cache_status: CacheStatus,
        saved_usd: float,
        tokens_estimated: bool,
        price_estimated: bool,
        error_type: str | None = None,
        end_ns: int | None = None,
    ) -> CostRecord:
        a = run.attribution
        if end_ns is None:
            end_ns = time.perf_counter_ns()
        tags = dict(a.tags)
        if (
            usage.__pydantic_private__ is not None
            or usage.input_tokens + usage.output_tokens > _PLAUSIBLE_TOKENS
        ):
            self._flag_usage(tags, usage, model, run.provider)
        provider = run.provider
        return CostRecord._trusted(
            {
                "request_id": run.run_id,
                "task_id": run.task_id,
                "parent_id": run.parent_id,
                "timestamp": run.start_time,
                "tenant": a.tenant or self.settings.default_tenant,
                "user": a.user,
                "feature": a.feature,
                "route": a.route,
                "prompt_version": a.prompt_version,
                "provider": provider if provider is None or provider.isascii() else storable_text(provider),
                "model": model if model.isascii() and len(model) <= 512 else storable_text(model),
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
                "cost_usd": breakdown.total,
                "cost_breakdown": breakdown,
                "saved_usd": float(saved_usd),
                "cache_status": cache_status,
                "latency_ms": (end_ns - run.start_ns) / 1e6,
                "success": success,
                "error_type": None if error_type is None else storable_text(error_type),
                "attempt": run.attempt,
                "tags": tags,
                "tokens_estimated": tokens_estimated,
                "price_estimated": price_estimated,
            }
        )

    def _flag_usage(self, tags: dict[str, str], usage: TokenUsage, model: str, provider: str | None) -> None:
        """Tag a record whose counts the provider reported broken (``usage_invalid``: the
        original values) or beyond belief (``usage_implausible``: why)."""
        original = usage_invalid(usage)
        if original is not None:
            tags["usage_invalid"] = json.dumps(original, sort_keys=True)
            if ("invalid", model) not in self._warned_implausible:
                self._warned_implausible.add(("invalid", model))
                logger.warning(
                    "llm-cost-hooks: %r reported invalid token usage %s; recorded the repaired "
                    "counts, flagged with the usage_invalid tag.",
                    model,
                    original,
                )
        limits: list[tuple[str, int, int | None]] = [
            ("input_tokens", usage.input_tokens, None),
            ("output_tokens", usage.output_tokens, None),
        ]
        resolved = self._prices.get((model, provider))
        if resolved is not None:
            limits = [
                ("input_tokens", usage.input_tokens, resolved.price.max_input_tokens),
                ("output_tokens", usage.output_tokens, resolved.price.max_output_tokens),
            ]
        for name, count, window in limits:
            ceiling = window * _IMPLAUSIBLE_FACTOR if window else _IMPLAUSIBLE_TOKENS
            if count > ceiling:
                why = (
                    f"{name}={count} is over {_IMPLAUSIBLE_FACTOR}x the model's limit of {window}"
                    if window
                    else f"{name}={count} is over {_IMPLAUSIBLE_TOKENS}"
                )
                tags["usage_implausible"] = why
                if model not in self._warned_implausible:
                    self._warned_implausible.add(model)
                    logger.warning(
                        "llm-cost-hooks: implausible usage for %r (%s); recorded as reported and "
                        "flagged with the usage_implausible tag. Check the provider's usage data.",
                        model,
                        why,
                    )
                break

    def _emit(
        self, run: RunInfo, record: CostRecord, error: BaseException | None, outputs: Any
    ) -> CostRecord:
        self._roll_up(self._tasks.get(run.task_id), record)
        self.ledger.write(record)
        finished = self._finish_task(run, error) if run.is_root else None
        self._notify_end(run, record=record, error=error, task=finished, outputs=outputs)
        return record

    def _roll_up(self, task: TaskState | None, record: CostRecord) -> None:
        if task is None:
            return
        with self._lock:
            task.cost_usd += record.cost_usd
            task.saved_usd += record.saved_usd
            task.calls += 1
            task.failed_calls += 0 if record.success else 1
            task.input_tokens += record.input_tokens
            task.output_tokens += record.output_tokens

    # -- user API ---------------------------------------------------------------------
    def mark_task(self, task_id: str, *, success: bool, reason: str | None = None) -> None:
        """Record the user's verdict on a task (e.g. the answer was rejected)."""
        if not isinstance(task_id, str) or not task_id:
            raise ConfigurationError(f"task_id must be a non-empty string, got {task_id!r}.")
        self.ledger.write_task(
            TaskOutcome(task_id=task_id, success=bool(success), source="user", reason=reason)
        )

    def annotate(self, run_id: str, tags: Mapping[str, Any]) -> bool:
        """Add ``tags`` to an open run: they go on its cost record (and span), and on the
        runs started under it afterwards. Used by in-chain components (context budgets,
        guards) that learn something about a call after it started. Returns False when
        the run is not open (e.g. no handler saw it start)."""
        run = self._runs.get(run_id)
        if run is None:
            return False
        # Copy, never mutate: the attribution object may be shared with the parent/defaults.
        run.attribution = replace(
            run.attribution,
            tags={
                **run.attribution.tags,
                **{storable_text(str(k)): storable_text(str(v)) for k, v in tags.items()},
            },
        )
        return True

    def child_runs(self, run_id: str) -> int:
        """How many runs have started under an open run (0 when it is not open). A router
        whose answer came from a cache in front of it started none."""
        run = self._runs.get(run_id)
        return run.children if run else 0

    def task_of(self, run_id: str) -> str | None:
        """The task id of an open run."""
        run = self._runs.get(run_id)
        return run.task_id if run else None

    @property
    def open_runs(self) -> int:
        return len(self._runs)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (up to ``timeout`` s) until the runs other threads are ending right now
        are recorded and observed, then until the ledger has written everything queued.
        Returns False on timeout."""
        deadline = time.monotonic() + timeout
        me = threading.get_ident()  # an observer flushing from inside a run's end: not waited for
        while (busy := any(i != me for i in list(self._ending.values()))) and time.monotonic() < deadline:
            time.sleep(0.001)
        return self.ledger.flush(max(deadline - time.monotonic(), 0.1)) and not busy

    def close(self) -> None:
        self.ledger.close()


_NO_USAGE = TokenUsage()
_NO_COST = CostBreakdown()


class _DeferredCall:
    """A successful model call's raw numbers, priced and recorded by the ledger's writer."""

    __slots__ = (
        "batch",
        "billed_usd",
        "cache_status",
        "end_ns",
        "finished",
        "model",
        "outputs",
        "run",
        "saved_usd",
        "task",
        "tokens_estimated",
        "tracker",
        "usage",
    )

    def __init__(
        self,
        tracker: CostTracker,
        run: RunInfo,
        task: TaskState | None,
        usage: TokenUsage,
        model: str,
        cache_status: CacheStatus,
        saved_usd: float | None,
        batch: bool,
        billed_usd: float | None,
        tokens_estimated: bool,
        end_ns: int,
        finished: TaskState | None = None,
        outputs: Any = None,
    ) -> None:
        self.tracker = tracker
        self.run = run
        self.task = task
        self.usage = usage
        self.model = model
        self.cache_status = cache_status
        self.saved_usd = saved_usd
        self.batch = batch
        self.billed_usd = billed_usd
        self.tokens_estimated = tokens_estimated
        self.end_ns = end_ns
        self.finished = finished  # the task, when this run was its root
        self.outputs = outputs

    def __call__(self) -> CostRecord:
        t = self.tracker
        record = t._success_record(
            self.run,
            self.usage,
            self.model,
            self.cache_status,
            self.saved_usd,
            self.batch,
            self.billed_usd,
            self.tokens_estimated,
            self.end_ns,
        )
        t._roll_up(self.task, record)
        if t.observers:  # deferrable ones (end_llm checked): told here, on the writer
            t._notify_end(self.run, record=record, error=None, task=self.finished, outputs=self.outputs)
        self.outputs = None
        return record


class _DeferredEnd:
    """A non-model run's end, told to deferrable observers on the ledger's writer."""

    __slots__ = ("error", "outputs", "run", "task", "tracker")

    def __init__(
        self,
        tracker: CostTracker,
        run: RunInfo,
        error: BaseException | None,
        task: TaskState | None,
        outputs: Any,
    ) -> None:
        self.tracker, self.run, self.error, self.task, self.outputs = tracker, run, error, task, outputs

    def __call__(self) -> None:
        self.tracker._notify_end(
            self.run, record=None, error=self.error, task=self.task, outputs=self.outputs
        )


_prefix_savings_fn: Any = None


def _prefix_cache_savings() -> Any:
    # Imported on first use (not per call: an import statement costs ~1 us on the hot path).
    global _prefix_savings_fn
    if _prefix_savings_fn is None:
        from .prompt_cache._savings import prefix_cache_savings

        _prefix_savings_fn = prefix_cache_savings
    return _prefix_savings_fn


def _billed_breakdown(total: float, usage: TokenUsage) -> CostBreakdown:
    """A known dollar total split between input and output in proportion to tokens
    (the split is unknown; the total is exact)."""
    tokens = usage.input_tokens + usage.output_tokens
    share_in = usage.input_tokens / tokens if tokens else 0.0
    return CostBreakdown(input=total * share_in, output=total - total * share_in)


def validate_usage(data: Mapping[str, Any]) -> TokenUsage:
    """Build a :class:`TokenUsage` from a mapping, with a typed error for bad counts."""
    try:
        return TokenUsage(**data)
    except InvalidUsageError:
        raise
    except Exception as exc:  # pydantic wraps validator errors
        raise InvalidUsageError(str(exc)) from exc


class TrackerAdapterMixin:
    """What every adapter (LangChain handler, LiteLLM logger) offers over its tracker."""

    tracker: CostTracker

    @property
    def ledger(self) -> Ledger:
        return self.tracker.ledger

    def records(self) -> list[CostRecord]:
        """All records so far (flushes the ledger first)."""
        self.tracker.flush()
        return list(self.tracker.ledger.records())

    def report(self, by: Sequence[str] | str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        """Totals grouped by ``by`` (see :class:`~llm_cost_hooks.ledger.LedgerReports`)."""
        return self.tracker.ledger.reports().totals(by=by, **kwargs)

    def mark_task(self, task_id: Any, *, success: bool, reason: str | None = None) -> None:
        """Record that a task (its root run id, a str or UUID) succeeded or failed."""
        self.tracker.mark_task(str(task_id), success=success, reason=reason)
