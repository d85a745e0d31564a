"""LangChain adapter: a callback handler that feeds LangChain runs to a CostTracker."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks.base import BaseCallbackHandler

from .._adapter import TrackerAdapterMixin
from .._records import CacheStatus, Counts, TokenUsage
from ..ledger import Ledger
from ..tracking import CostTracker, RunKind, RunObserver
from ..tracking._calls import (
    BILLED_MARKER_KEY,
    CACHE_MARKER_KEY,
    ROUTE_MARKER_KEY,
    VERIFIED_MARKER_KEY,
    delivered_before_error,
    model_params,
    read_bill,
    run_id_text,
    run_kind,
)
from ..tracking._usage import counts_from_metadata, replayed_by_cache, split_writes, usage_from_llm_output

if TYPE_CHECKING:  # pragma: no cover - kept out of the import path (~70 ms)
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult

__all__ = [
    "BILLED_MARKER_KEY",
    "CACHE_MARKER_KEY",
    "ROUTE_MARKER_KEY",
    "VERIFIED_MARKER_KEY",
    "CostCallbackHandler",
    "install",
    "uninstall",
]

logger = logging.getLogger("llm_cost_hooks")

_LLM, _MISS = RunKind.LLM, CacheStatus.MISS  # read once: an Enum class's attribute costs ~900 instr.


def _is_cache_hit(message: Any) -> bool:
    """LangChain's cache path adds ``total_cost: 0`` to replayed usage; ours adds a marker."""
    if (message.response_metadata or {}).get(CACHE_MARKER_KEY) is not None:
        return True
    return replayed_by_cache(getattr(message, "usage_metadata", None))


def _to_openai(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    from langchain_core.messages import convert_to_openai_messages

    return convert_to_openai_messages(list(messages))


class CostCallbackHandler(TrackerAdapterMixin, BaseCallbackHandler):
    """Records the tokens, dollars and attribution of every model call in a chain.

    Attribution comes from ``defaults`` and the run's config ``metadata`` (keys
    ``tenant_id``, ``user_id`` (hashed), ``feature``, ``route``, ``prompt_version``,
    ``task_id``, ``cost_tags``); child runs inherit from their parents. Every call under
    one top-level ``invoke`` belongs to one task.

    It runs inline on the caller's thread or event loop (no executor hop) and does no
    I/O there: records go to the ledger's background writer. With a background ledger
    (SQLite, JSONL) and no observer, a call's end only queues its raw numbers: the writer
    prices it and builds its record (the same record; :meth:`records` and :meth:`flush`
    wait for it, and the ledger flushes at interpreter exit).

    >>> from langchain_core.language_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage
    >>> handler = CostCallbackHandler(ledger="memory://")
    >>> model = GenericFakeChatModel(messages=iter([AIMessage("hi", usage_metadata={
    ...     "input_tokens": 12, "output_tokens": 3, "total_tokens": 15})]))
    >>> _ = model.invoke("hello", config={"callbacks": [handler],
    ...     "metadata": {"tenant_id": "acme", "ls_model_name": "gpt-4o-mini"}})
    >>> handler.records()[0].tenant
    'acme'
    """

    run_inline = True  # called directly in async code: no thread-pool hop per event
    # Read by LangChain per event: class attributes, not property calls. True: events it skips.
    ignore_retry = ignore_custom_event = True
    ignore_llm = ignore_chat_model = ignore_chain = ignore_agent = ignore_retriever = False

    def __init__(
        self,
        ledger: str | Ledger | None = None,
        *,
        defaults: Mapping[str, Any] | None = None,
        price_book: Any = None,
        token_counter: Any = None,
        observers: Sequence[RunObserver] = (),
        strict: bool = False,
        tracker: CostTracker | None = None,
        default_model: str | None = None,
    ) -> None:
        super().__init__()
        self.tracker = tracker or CostTracker(
            ledger=ledger,
            price_book=price_book,
            token_counter=token_counter,
            defaults=defaults,
            observers=observers,
            strict=strict,
        )
        self.default_model = default_model
        # The last model run started, its id as text: its end usually comes next (one formatting).
        self._last_id: tuple[Any, str] = (None, "")
        self.raise_error = strict  # strict: our typed errors reach the caller, not LangChain's log

    def flush(self, timeout: float = 10.0) -> bool:
        return self.tracker.flush(timeout)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        # Named: a keyword left to **kwargs is first compared with every parameter's name.
        name: str | None = None,
        invocation_params: dict[str, Any] | None = None,
        options: Any = None,
        batch_size: Any = None,
        **kwargs: Any,
    ) -> None:
        # CostTracker.start_llm without its argument handling (params is a new dict here).
        inv, metadata = invocation_params or {}, metadata or {}
        model, provider, params = model_params(serialized, metadata, inv, self.default_model)
        self._last_id = (run_id, rid := run_id_text(run_id))
        self.tracker._start(
            rid,
            run_id_text(parent_run_id) if parent_run_id else None,
            _LLM,
            name or (serialized or {}).get("name") or model,
            metadata,
            tags,
            model,
            provider,
            params,
            partial(_to_openai, messages[0] if messages else []),  # converted only to count tokens
        )

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        inv = kwargs.get("invocation_params") or {}
        model, provider, params = model_params(serialized, metadata or {}, inv, self.default_model)
        name = kwargs.get("name") or (serialized or {}).get("name") or model
        parent = run_id_text(parent_run_id) if parent_run_id else None
        self.tracker.start_llm(
            run_id_text(run_id), parent, model=model, provider=provider, name=name, params=params,
            metadata=metadata, tags=tags, messages="\n".join(prompts),
        )  # fmt: skip

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,  # named, as in on_chat_model_start: passed on every call
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        last = self._last_id
        rid = last[1] if last[0] is run_id else run_id_text(run_id)
        usage: TokenUsage | Counts | None = None
        model: str | None = None
        cache_status, billed_estimated = _MISS, False
        saved: float | None = None
        billed: float | None = None
        bill_tags = None
        gens = response.generations  # a pydantic field: read once
        generation = gens[0][0] if gens and gens[0] else None
        message = getattr(generation, "message", None)
        if message is not None:
            rm = message.response_metadata or {}
            # Markers are rare: test for None first (an ABC isinstance check costs ~0.3 us).
            route = rm.get(ROUTE_MARKER_KEY)
            if (
                route is not None
                and isinstance(route, Mapping)
                and route.get("delegated")
                and (self.tracker.child_runs(rid) or not _is_cache_hit(message))
            ):
                # A router's own run: its tier calls were recorded as child runs. A cache hit
                # in front of the router ran no tier (no child runs), so it is recorded below
                # as a hit; a hit inside a tier was recorded by that tier's run.
                self.tracker.end_llm_delegated(rid, outputs=response)
                return
            bill = rm.get(BILLED_MARKER_KEY)
            if bill is not None and (known := read_bill(bill)) is not None:
                billed, billed_estimated, saved, bill_tags = known
            model = rm.get("model_name") or rm.get("model")
            marker = rm.get(CACHE_MARKER_KEY)
            verified = rm.get(VERIFIED_MARKER_KEY)
            if verified is not None:
                self.tracker.annotate(rid, {"cache.verified": verified})
            um = getattr(message, "usage_metadata", None)
            if um:
                usage = counts_from_metadata(um)
                if type(usage) is tuple and usage[3]:  # writes: split by the request's markers?
                    usage = split_writes(usage, um, self.tracker._runs.get(rid))
                if replayed_by_cache(um):
                    cache_status = CacheStatus.EXACT
            if marker is not None and isinstance(marker, Mapping):
                cache_status = CacheStatus(marker.get("status", "exact"))
                saved = marker.get("saved_usd")
            elif bill_tags and cache_status is _MISS:  # not for a copy served by a cache or dedup
                self.tracker.annotate(rid, bill_tags)
        if usage is None and response.llm_output:
            usage = usage_from_llm_output(response.llm_output)
            model = model or response.llm_output.get("model_name") or response.llm_output.get("model")

        # The answer's text is read only to count its tokens (no usage reported).
        output_text = None if usage is not None else (lambda: "".join(g.text for gs in gens for g in gs))
        self.tracker.end_llm(
            rid,
            usage,
            model=model,
            cache_status=cache_status,
            saved_usd=saved,
            output_text=output_text,
            outputs=response,
            billed_usd=billed,
            tokens_estimated=billed_estimated,
            # The record is not needed here: priced on the ledger's writer when possible.
            defer=True,
        )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, response: Any = None, **kw: Any) -> None:
        if getattr(error, "llm_cost_hooks_delegated", False):  # a router whose tiers all failed,
            self.tracker.end_llm_delegated(run_id_text(run_id), error=error)  # each one recorded
            return
        usage, text = delivered_before_error(response)  # a stream stopped part-way was billed
        self.tracker.error_llm(run_id_text(run_id), error, usage=usage, output_text=text)

    def _start_other(
        self,
        kind: RunKind,
        serialized: Mapping[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: Mapping[str, Any],
    ) -> None:
        kind, name = run_kind(kind, serialized, kwargs)
        parent, rid = run_id_text(parent_run_id) if parent_run_id else None, run_id_text(run_id)
        self.tracker.start_run(rid, parent, kind=kind, name=name, metadata=metadata, tags=tags)

    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_other(RunKind.CHAIN, serialized, run_id, parent_run_id, tags, metadata, kwargs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.end_run(run_id_text(run_id))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.end_run(run_id_text(run_id), error=error)

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_other(RunKind.TOOL, serialized, run_id, parent_run_id, tags, metadata, kwargs)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.end_run(run_id_text(run_id))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.end_run(run_id_text(run_id), error=error)

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start_other(RunKind.RETRIEVER, serialized, run_id, parent_run_id, tags, metadata, kwargs)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.end_run(run_id_text(run_id))

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self.tracker.end_run(run_id_text(run_id), error=error)


_installed: list[tuple[contextvars.ContextVar[Any], CostCallbackHandler]] = []


def hook_handler(
    name: str, handler: BaseCallbackHandler, *, inheritable: bool
) -> contextvars.ContextVar[Any]:
    """Add ``handler`` to every callback manager LangChain builds from now on, in every
    thread and task (its configure hook: the mechanism its own tracers use)."""
    from langchain_core.tracers.context import register_configure_hook

    # A default value (not .set()) so contexts created before or after, in any thread,
    # see the handler.
    var: contextvars.ContextVar[Any] = contextvars.ContextVar(name, default=handler)
    register_configure_hook(var, inheritable)
    return var


def install(handler: CostCallbackHandler | None = None, /, **kwargs: Any) -> CostCallbackHandler:
    """Measure every chain and model in the process, without touching call sites.

    Uses langchain_core's configure hook (the mechanism its own tracers use): the
    handler is added to every callback manager LangChain builds, in every thread and task.
    Returns the handler; ``kwargs`` go to :class:`CostCallbackHandler`.

    >>> import llm_cost_hooks.langchain as lch
    >>> handler = lch.install(ledger="memory://")
    >>> lch.uninstall(handler)
    """
    handler = handler or CostCallbackHandler(**kwargs)
    var = hook_handler(f"llm_cost_hooks_handler_{id(handler)}", handler, inheritable=True)
    _installed.append((var, handler))
    return handler


def uninstall(handler: CostCallbackHandler | None = None) -> None:
    """Undo :func:`install` (all installed handlers when ``handler`` is None)."""
    from langchain_core.tracers import context as lc_context

    hooks = getattr(lc_context, "_configure_hooks", None)
    for var, h in list(_installed):
        if handler is not None and h is not handler:
            continue
        _installed.remove((var, h))
        if hooks is not None:
            hooks[:] = [hook for hook in hooks if hook[0] is not var]
        else:  # pragma: no cover - private list renamed upstream
            var.set(None)
        h.flush()
