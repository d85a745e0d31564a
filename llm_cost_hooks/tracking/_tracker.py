"""The framework-free heart of attribution.

Adapters (LangChain callbacks, LiteLLM loggers) translate their events into calls on a
:class:`CostTracker`: runs start and end, model calls end with a usage or an error. The
tracker keeps the open runs and their tasks (the root runs), captures each ended model
call as a :class:`~._builder.RawCall`, and hands it to the record builder (pricing);
the record goes to the ledger and the observers (telemetry) are told about every run.
Every downstream view (ledger, spans, metrics) is fed from these same events, so there
is one token count and one price per call.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from .. import _shutdown
from .._errors import (
    BudgetExceeded,
    CircuitOpenError,
    ConfigurationError,
    DeduplicatedCallFailed,
    LLMCostHooksError,
    SettingsError,
    SpendStoreUnavailable,
)
from .._records import CacheStatus, CostBreakdown, CostRecord, Counts, TokenUsage, storable_text
from ..ledger import Ledger, TaskOutcome, open_ledger
from ._attribution import ATTR_KEY_SET, AttributionResolver, SaltSource, check_defaults
from ._builder import RawCall, RecordBuilder
from ._calls import run_id_text
from ._deferred import PendingEnd, PendingRecord
from ._pricing import Pricer
from ._runs import Attribution, RunInfo, RunKind, RunObserver, TaskState, notify_end, notify_start

if TYPE_CHECKING:  # pragma: no cover
    from .._settings import Settings

__all__ = ["CostTracker"]

logger = logging.getLogger("llm_cost_hooks")

# Our refusals: the request never reached a provider, so its record bills nothing.
_NOT_SENT = (BudgetExceeded, CircuitOpenError, DeduplicatedCallFailed, SpendStoreUnavailable)

_RETRY_TAG = "retry:attempt:"
# Read once: an attribute of an Enum class goes through its metaclass's __getattr__.
_LLM = RunKind.LLM
_NO_METADATA: Mapping[str, Any] = MappingProxyType({})
# The params and observer data of an ended run no observer is told of (read-only, shared).
_ENDED_DICT = cast("dict[str, Any]", _NO_METADATA)
_new = object.__new__
# Bound once: a module attribute read per use costs a global and an attribute look-up.
_perf_ns, _wall_ns, _get_ident = time.perf_counter_ns, time.time_ns, threading.get_ident

# A run with no end event this long after its start is ended as failed (RunNotEnded): a
# start without an end (LangChain on some errors, a callback manager dropped mid-call)
# must not keep its run, prompt and task in memory for the life of the process. No model
# call runs for an hour; a chain (an agent) may, so chains, tools and agents get a day.
_STALE_RUN_NS = 3600 * 1_000_000_000
_STALE_CHAIN_NS = 24 * _STALE_RUN_NS
# Open runs are checked for stale ones when their count passes this (then twice what is
# left open): a cost per start only when runs pile up.
_SWEEP_MIN_RUNS = 256


class RunNotEnded(TimeoutError):
    """The run's end event never came (see _STALE_RUN_NS)."""


# cache_scope(...) (llm_cost_hooks.cache) also attributes the calls inside it. Read only
# once that module is loaded (no scope can be set before): importing the cache from here
# would load it, and its dependencies, for every tracker.
_SCOPE_MODULE = "llm_cost_hooks.cache._scope"
_modules = sys.modules


def _scope_metadata() -> dict[str, Any] | None:
    """The attribution fields of the enclosing ``cache_scope(...)``, as metadata keys."""
    module = _modules.get(_SCOPE_MODULE)
    scope = module._scope_var.get() if module is not None else None
    if scope is None:
        return None
    fields = {
        "tenant_id": scope.tenant,
        "user_id": scope.user,
        "feature": scope.feature,
        "route": scope.route,
        "prompt_version": scope.prompt_version,
    }
    return fields if any(v is not None for v in fields.values()) else None


def _attach(observer: RunObserver, tracker: CostTracker) -> None:
    attach = getattr(observer, "attach", None)
    if attach is not None:
        try:
            attach(tracker)
        except Exception:
            logger.exception("llm-cost-hooks observer %r failed to attach", observer)


def _check_observers(observers: Any) -> None:
    """:class:`ConfigurationError` saying what to pass, before anything is opened."""
    if (
        hasattr(observers, "on_run_end")
        or hasattr(observers, "on_model_row")
        or isinstance(observers, (str, bytes))
    ):
        raise ConfigurationError(
            f"observers must be a list of observers, e.g. observers=[observer]; got a single {type(observers).__name__}."
        )
    try:
        iter(observers)
    except TypeError:
        raise ConfigurationError(
            f"observers must be a list of observers, e.g. observers=[observer]; got a {type(observers).__name__}."
        ) from None


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
        check_defaults(defaults)
        _check_observers(observers)
        settings_given = settings is not None
        env_map = os.environ.get("LLM_COST_HOOKS_PRICE_MAP", "").strip() or None
        env_overrides = os.environ.get("LLM_COST_HOOKS_PRICE_OVERRIDES", "").strip() or None
        if settings is None:
            # Imported here: pydantic-settings costs ~25 ms at import time.
            from .._settings import get_settings

            settings = get_settings()
            # The environment as it is now (the default price book reads it the same way).
            price_map, price_overrides = env_map, env_overrides
        else:
            price_map = (settings.price_map or "").strip() or None
            price_overrides = (settings.price_overrides or "").strip() or None
        self.settings = settings
        if price_book is None and (price_map or price_overrides):
            # Configured prices are checked now: a bad file fails here with its line and
            # fix, not as a $0 price on every call later.
            from ..pricing import PriceBook

            if (price_map, price_overrides) == (env_map, env_overrides):
                price_book = PriceBook.default()
            else:  # settings=Settings(price_map=...) given in code: its files, not the env's
                price_book = PriceBook(price_map_path=price_map, overrides=price_overrides)
            price_book.version  # noqa: B018 - loads the map and applies the overrides
        try:
            self.ledger = open_ledger(ledger if ledger is not None else self.settings.ledger)
        except SettingsError:
            raise
        except ConfigurationError as exc:
            if ledger is not None or settings_given:
                raise
            # The URL came from the environment: say which variable to fix.
            raise SettingsError(
                f"LLM_COST_HOOKS_LEDGER={self.settings.ledger!r} is not valid: {exc}",
                variable="LLM_COST_HOOKS_LEDGER",
            ) from None
        self._pricer = Pricer(price_book, strict)
        self._builder = RecordBuilder(self._pricer, self.settings.default_tenant)
        self._token_counter = token_counter
        salt = self.settings.user_hash_salt
        self._attributions = AttributionResolver(SaltSource(self.ledger) if salt is None else salt, strict)
        self.defaults = self._attributions.resolve({}, dict(defaults or {}), Attribution())
        self.observers: list[RunObserver] = list(observers)
        for observer in self.observers:
            _attach(observer, self)
        self._runs: dict[str, RunInfo] = {}
        # Runs being ended right now (popped from _runs, record/observers not done yet):
        # flush() waits for them, so a flush right after another thread ended a run sees
        # its record *and* its observers' work (e.g. the span ended).
        self._ending: dict[str, int] = {}  # run id -> the ending thread's ident
        self._tasks: dict[str, TaskState] = {}
        self._sweep_runs = _SWEEP_MIN_RUNS  # open runs that trigger a stale-run sweep
        _shutdown.after_fork_in_child(self, CostTracker._after_fork_in_child)

    def _after_fork_in_child(self) -> None:
        # Threads that were ending runs in the parent do not exist here.
        self._ending = {}

    @property
    def strict(self) -> bool:
        """Whether bad input and unknown models raise (else: logged, recorded as flagged)."""
        return self._pricer.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self._pricer.strict = self._attributions.strict = value

    def _billed_model(self, requested: str, returned: str, provider: str | None) -> str:
        """See :meth:`Pricer.billed_model` (the adapters read the returned model)."""
        return self._pricer.billed_model(requested, returned, provider)

    # -- lazily built collaborators -------------------------------------------------------
    @property
    def price_book(self) -> Any:
        return self._pricer.book

    @property
    def token_counter(self) -> Any:
        if self._token_counter is None:
            from ..tokens import default_counter

            self._token_counter = default_counter()
        return self._token_counter

    def add_observer(self, observer: RunObserver) -> None:
        self.observers.append(observer)
        _attach(observer, self)

    def tenant_of(self, metadata: Mapping[str, Any] | None = None, run_id: Any = None) -> str | None:
        """The tenant a record of a call names: the started run ``run_id``'s, else the one
        ``metadata`` names over ``defaults`` (an enclosing ``cache_scope`` wins), and for a
        call naming none (or an unusable one) the ``defaults`` tenant, else
        ``LLM_COST_HOOKS_DEFAULT_TENANT``. The spend guard charges this tenant.

        >>> tracker = CostTracker(ledger="memory://", defaults={"tenant_id": "acme"})
        >>> tracker.tenant_of({}), tracker.tenant_of({"tenant_id": "globex"})
        ('acme', 'globex')
        """
        run = self._runs.get(run_id_text(run_id)) if run_id is not None else None
        if run is not None:
            attribution = run.attribution
        else:
            attribution = self.defaults
            # Only the tenant keys: the tenant is all that is asked (no user id hashed).
            named = {k: metadata[k] for k in ("tenant_id", "tenant") if metadata and k in metadata}
            scoped = _scope_metadata()
            try:
                if named:
                    attribution = self._attributions.resolve(named, {}, attribution)
                if scoped is not None and scoped.get("tenant_id") is not None:
                    attribution = self._attributions.resolve(
                        {"tenant_id": scoped["tenant_id"]}, {}, attribution
                    )
            except LLMCostHooksError:  # strict: the record's start raises it to the caller
                attribution = self.defaults
        return attribution.tenant or self._builder.default_tenant

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
        if metadata and not ATTR_KEY_SET.isdisjoint(metadata):
            attribution = self._attributions.cached(metadata, base)
        else:
            attribution = base
        scoped = _scope_metadata()
        if scoped is not None:
            # The scope wins over metadata, as it does for the cache: the record names the
            # tenant whose cache partition and budget the call used.
            attribution = self._attributions.cached(scoped, attribution)
        if parent is not None:
            task_id = parent.task_id
            is_root = False
            parent.children += 1
            if parent.is_root and parent.kind is _LLM and task_id not in self._tasks:
                # A model run with runs of its own (a router): its task's totals now count.
                self._tasks[task_id] = TaskState(task_id=task_id, root_run_id=parent.run_id)
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
        # RunInfo's fields set here: calling a Python class runs its __init__ in a frame of
        # its own (~3,500 instructions a run).
        run = _new(RunInfo)
        run.run_id, run.parent_id, run.task_id, run.kind, run.name = run_id, parent_id, task_id, kind, name
        run._start_time = None  # made from the wall clock's int (wall_ns) when read
        run.start_ns, run.wall_ns, run.end_ns = _perf_ns(), _wall_ns(), 0
        run.metadata, run.tags, run.attribution, run.is_root = metadata, tags or (), attribution, is_root
        run.model, run.provider, run.params = model, provider, {} if params is None else params
        run.messages, run.attempt, run.observer_data, run.children = messages, attempt, {}, 0
        self._runs[run_id] = run
        if len(self._runs) > self._sweep_runs:
            self._end_stale_runs(run.start_ns)
        # A lone model call's totals are its record: without observers nobody reads its
        # task (made when a run starts under it).
        observers = self.observers
        if is_root and task_id not in self._tasks and (kind is not _LLM or observers):
            # TaskState's fields set here, as for RunInfo (no dataclass __init__ frame).
            task = _new(TaskState)
            task.task_id, task.root_run_id = task_id, run_id
            task.cost_usd = task.saved_usd = 0.0
            task.calls = task.failed_calls = task.input_tokens = task.output_tokens = 0
            self._tasks[task_id] = task
        # Observers see the run complete (a model run with its model, provider and params).
        if observers:
            if len(observers) == 1:  # the usual case: no notify_start frame and loop
                obs = observers[0]
                try:
                    obs.on_run_start(run)
                except Exception:
                    logger.exception("llm-cost-hooks observer %r failed on run start", obs)
            else:
                notify_start(observers, run)
        return run

    def _end_stale_runs(self, now_ns: int) -> None:
        """End, as failed, the open model calls started over an hour before ``now_ns`` and
        the other runs started over a day before. Their records say RunNotEnded."""
        llm_before, other_before = now_ns - _STALE_RUN_NS, now_ns - _STALE_CHAIN_NS
        try:
            runs = list(self._runs.values())
        except RuntimeError:  # changed by another thread: the next start checks again
            return
        ended = 0
        for run in runs:
            if run.start_ns >= (llm_before if run.kind is _LLM else other_before):
                continue
            if self._runs.get(run.run_id) is not run:  # ended meanwhile
                continue
            error = RunNotEnded("no end event within an hour (a model call) or a day of its start")
            try:
                if run.kind is _LLM:
                    self.error_llm(run.run_id, error)
                else:
                    self.end_run(run.run_id, error=error)
            except Exception:  # strict pricing or an observer: the run still goes
                self._runs.pop(run.run_id, None)
                logger.debug("llm-cost-hooks: ending a stale run failed", exc_info=True)
            ended += 1
        if ended:
            logger.warning(
                "llm-cost-hooks: %d run(s) had no end event within an hour (model calls) or a "
                "day (chains, tools) of their start; recorded as failed (RunNotEnded) and "
                "dropped from memory.",
                ended,
            )
        self._sweep_runs = max(_SWEEP_MIN_RUNS, 2 * len(self._runs))

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
            _LLM,
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
        run = self._take(run_id)
        try:
            if run is None:
                return None
            task = self._finish_task(run, error) if run.is_root else None
            if self.observers:
                if self._defers_observers():
                    # After the deferred model calls queued before it: the task's totals are
                    # complete when the observers see them.
                    self.ledger.run_deferred(PendingEnd(self.observers, run, error, task, outputs))
                else:
                    notify_end(self.observers, run, None, error, task, outputs)
            return task
        finally:
            self._ending.pop(run_id, None)

    def _take(self, run_id: str) -> RunInfo | None:
        """Take an ending run out of the open runs, stamped with its end time. Until the
        caller pops ``run_id`` from ``_ending``, flush() waits for it."""
        self._ending[run_id] = _get_ident()
        run = self._runs.pop(run_id, None)
        if run is not None:
            run.end_ns = _perf_ns()
        return run

    def _defers_observers(self) -> bool:
        """Whether run ends (records and observers) can go through the ledger's writer:
        not strict (errors would surface later), a background writer, and every observer
        deferrable (see RunObserver)."""
        observers = self.observers
        return (
            not self._pricer.strict
            and self.ledger._defers
            and (not observers or all(getattr(o, "deferrable", False) for o in observers))
        )

    def _finish_task(self, run: RunInfo, error: BaseException | None) -> TaskState | None:
        task = self._tasks.pop(run.task_id, None)
        if task is None or task.root_run_id != run.run_id:
            if task is not None:
                self._tasks[run.task_id] = task
            return None
        if run.kind is _LLM:
            # A task that is a single model call: its record already says how it ended.
            return task
        self.ledger.write_task(
            TaskOutcome(
                task_id=task.task_id,
                success=error is None,
                source="run",
                reason=type(error).__name__ if error else None,
            )
        )
        return task

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
        return self._pricer.price(usage, model, provider, batch=batch, at=at)

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
        usage: TokenUsage | Counts | None,
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

        ``usage`` may also be the five counts (input, output, cache read, cache write,
        reasoning) when they are plain, consistent ints (adapters pass what
        ``tracking._usage.counts_from_metadata`` returns): no usage object is built then
        unless the record is.

        ``defer=True`` (adapters that do not need the record back): when every observer
        is deferrable (or there is none), the tracker is not strict and the ledger has a
        background writer, the call's raw numbers are queued and the writer prices and
        records them and tells the observers (the same record, complete after
        :meth:`flush`); returns None then. The task's dollar totals then also fill in on
        the writer.
        """
        # _take(), inline (a call frame less per model call).
        self._ending[run_id] = _get_ident()
        run = self._runs.pop(run_id, None)
        try:
            if run is None:
                return None
            run.end_ns = end_ns = _perf_ns()
            if model is not None and not isinstance(model, str):
                # A response naming its model with something other than text (a dict, a
                # list): priced and recorded as the model the call asked for, not lost.
                model = None
            model_name = model or run.model or "unknown"
            if usage is None:
                usage = self._count_usage(run, model_name, output_text)
                tokens_estimated = True
            observers = self.observers
            # _defers_observers(), inline (a call frame less per model call).
            if (
                defer
                and not self._pricer.strict
                and self.ledger._defers
                and (
                    not observers
                    or (
                        getattr(observers[0], "deferrable", False)
                        if len(observers) == 1  # no generator for the usual single observer
                        else all(getattr(o, "deferrable", False) for o in observers)
                    )
                )
            ):
                task = self._tasks.get(run.task_id)
                finished = None
                if run.is_root and task is not None:
                    if run.kind is _LLM and task.root_run_id == run.run_id:
                        # _finish_task() inline for a model call that is its task's root.
                        finished = self._tasks.pop(run.task_id, None)
                    else:
                        finished = self._finish_task(run, None)
                told: Sequence[RunObserver] = observers
                if not observers:
                    # Nothing reads them any more: a queued call must not keep the chat's
                    # objects alive (every garbage collection walks the writer's queue), nor
                    # the run's own dicts: objects a queued call keeps count towards the next
                    # garbage collection (a call without a handler keeps none). An observer
                    # added before the writer gets to it is not told of a run it never saw.
                    outputs = run.messages = None
                    run.metadata = _NO_METADATA
                    run.params = run.observer_data = _ENDED_DICT
                    told = ()
                elif len(observers) == 1 and getattr(obs := observers[0], "digests_calls", False):
                    # The only observer reads what it needs now; the call's objects go
                    # (digest_call() inline: a call frame less per model call).
                    try:
                        outputs = obs.digest_call(run, outputs)
                    except Exception:
                        logger.exception("llm-cost-hooks observer %r failed to digest a call", obs)
                    else:
                        if not isinstance(run.messages, str):
                            run.messages = None
                        run.metadata = _NO_METADATA
                # The ledger builds it on its writer. PendingRecord's fields set here, as for
                # RunInfo above (a class call's __init__ frame: ~3,000 instructions).
                p = _new(PendingRecord)
                p.builder, p.task, p.finished, p.observers, p.outputs = (
                    self._builder,
                    task,
                    finished,
                    told,
                    outputs,
                )
                p.run, p.usage, p.model, p.end_ns, p.cache_status = (
                    run,
                    usage,
                    model_name,
                    end_ns,
                    cache_status,
                )
                p.saved_usd, p.batch, p.billed_usd, p.tokens_estimated = (
                    saved_usd,
                    batch,
                    billed_usd,
                    tokens_estimated,
                )
                p.error_type = None
                self.ledger.write(p)  # type: ignore[arg-type]  # built on the writer (write_deferred)
                return None
            if isinstance(usage, tuple):
                usage = TokenUsage._counted(usage)
            call = RawCall(
                run, usage, model_name, end_ns, cache_status, saved_usd, batch, billed_usd, tokens_estimated
            )
            return self._emit(call, None, outputs)
        finally:
            self._ending.pop(run_id, None)

    def _count_usage(
        self, run: RunInfo, model: str, output_text: str | Callable[[], str] | None
    ) -> TokenUsage:
        """The usage of a call whose provider reported none, counted here."""
        in_tok, _ = self.count_prompt_tokens(run.messages, model)
        out_tok = 0
        text = output_text() if callable(output_text) else output_text
        if text:
            try:
                out_tok = self.token_counter.count_text(text, model).tokens
            except Exception:
                out_tok = 0
        return TokenUsage(input_tokens=in_tok, output_tokens=out_tok)

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
        self,
        run_id: str,
        error: BaseException,
        *,
        usage: TokenUsage | Counts | None = None,
        output_text: str | None = None,
    ) -> CostRecord | None:
        """A model call failed. Recorded as failed, with its prompt tokens (counted here
        when the provider reported none) and the price of those tokens; a call refused
        before it was sent (a budget, an open circuit, a shared call that failed
        elsewhere) with no tokens and no cost. ``output_text``: what a stream that failed
        or was stopped part-way had delivered (billed by the provider), counted here and
        flagged estimated when no usage came with it."""
        run = self._take(run_id)
        try:
            if run is None:
                return None
            model_name = run.model or "unknown"
            estimated = False
            if isinstance(usage, tuple):
                usage = TokenUsage._counted(usage)
            if usage is None and isinstance(error, _NOT_SENT):
                usage = TokenUsage()
            elif usage is None and output_text:
                usage, estimated = self._count_usage(run, model_name, output_text), True
            elif usage is None:
                in_tok, estimated = self.count_prompt_tokens(run.messages, model_name)
                usage = TokenUsage(input_tokens=in_tok)
            call = RawCall(
                run,
                usage,
                model_name,
                run.end_ns,
                tokens_estimated=estimated,
                error_type=type(error).__qualname__,
            )
            return self._emit(call, error, None)
        finally:
            self._ending.pop(run_id, None)

    def _emit(self, call: RawCall, error: BaseException | None, outputs: Any) -> CostRecord:
        """Build, count, write and tell: a call's end on the caller's thread."""
        run = call.run
        record = self._builder.build(call)
        task = self._tasks.get(run.task_id)
        if task is not None:
            task.add(record)
        self.ledger.write(record)
        finished = self._finish_task(run, error) if run.is_root else None
        if self.observers:
            notify_end(self.observers, run, record, error, finished, outputs)
        return record

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
