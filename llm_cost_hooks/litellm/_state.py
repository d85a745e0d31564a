"""Shared state of the LiteLLM logger: the call bookkeeping its event handlers
(:mod:`._events`) and pre-call hooks (:mod:`._hooks`) both use, and the constants and
metadata reading they share."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..pricing._compare import CostChecks, CostComparison
from ..tracking import CostTracker

# Also the ``response._hidden_params`` key by which our LiteLLM cache marks a hit
# (``{"status": "exact" | "semantic", "saved_usd": float | None}``): one name on both sides.
from ..tracking._calls import CACHE_MARKER_KEY

if TYPE_CHECKING:
    from ..budget._requests import Holds
    from ..dedup._hooked import HookDedup
    from ._prepare import PromptCacheOptions

__all__ = ["CACHE_MARKER_KEY", "CostComparison"]

logger = logging.getLogger("llm_cost_hooks")


def registry_id(callback: object) -> str:
    """A value unique to ``callback``, for a public attribute of it. LiteLLM keeps one
    callback per key of its class name and public str/int/bool attributes: two instances
    of one class that look alike would be one, and the second is never given events."""
    return f"{id(callback):x}-{time.monotonic_ns():x}"


def in_callbacks(callback: object) -> bool:
    """``callback`` is in ``litellm.callbacks`` (by identity)."""
    import litellm

    callbacks = litellm.callbacks
    return isinstance(callbacks, list) and any(cb is callback for cb in callbacks)


_PARAM_KEYS = ("temperature", "max_tokens", "max_completion_tokens", "top_p", "top_k",
               "frequency_penalty", "presence_penalty", "stop", "seed", "n")  # fmt: skip
# LiteLLM call types that are model calls; file, batch, model-listing and admin calls
# (which also reach callbacks) are not recorded.
_MODEL_CALL_TYPES = frozenset({
    "completion", "acompletion", "text_completion", "atext_completion", "embedding", "aembedding",
    "responses", "aresponses", "anthropic_messages", "generate_content", "agenerate_content",
})  # fmt: skip
# Chat calls: the only ones whose answers can be shared between deduplicated requests.
_CHAT_CALL_TYPES = frozenset({"completion", "acompletion"})
# Who is calling, as a LiteLLM proxy records it in the call's metadata (the fields LiteLLM's
# own semantic cache scopes by): organisation, team and virtual key.
_PROXY_IDENTITY = ("user_api_key_org_id", "user_api_key_team_id", "user_api_key_hash", "user_api_key")
_MAX_REMEMBERED = 20_000
_MISSING = object()  # call ids kept to number retries and drop duplicate events


def _metadata_of(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's metadata: ``metadata=`` of the SDK call, or the request metadata a
    proxy forwards (``requester_metadata``), under either of LiteLLM's keys."""
    lp = kwargs.get("litellm_params") or {}
    merged: dict[str, Any] = {}
    for key in ("litellm_metadata", "metadata"):
        md = lp.get(key)
        if isinstance(md, Mapping):
            req = md.get("requester_metadata")
            if isinstance(req, Mapping):
                for k, v in req.items():
                    merged.setdefault(k, v)
            merged.update(md)
    if not merged:
        md = kwargs.get("metadata")
        if isinstance(md, Mapping):
            merged.update(md)
    return merged


def _priced_model(kwargs: Mapping[str, Any], model: str) -> str:
    """The model a call is billed as: the ``base_model`` its deployment declares (an Azure
    deployment name says nothing about the model behind it), as LiteLLM prices it, else
    ``model``."""
    params = kwargs.get("litellm_params")
    # (dict, Mapping): LiteLLM passes dicts, which pass without the ABC's isinstance check
    # (~1,500 instructions each; this runs on every success event).
    if not isinstance(params, (dict, Mapping)):
        return model
    base = params.get("base_model")
    for key in ("metadata", "litellm_metadata"):
        if base:
            break
        meta = params.get(key)
        info = meta.get("model_info") if isinstance(meta, (dict, Mapping)) else None
        base = info.get("base_model") if isinstance(info, (dict, Mapping)) else None
    return base if isinstance(base, str) and base else model


class Expected:
    """An async call whose success event is still to come: the event loop it runs on and,
    once LiteLLM has it, the response (kept to record the call if that event never
    arrives: the loop's end can cancel it)."""

    __slots__ = ("kwargs", "loop", "response")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.response: Any = None
        # A cache hit has no pre-call event: the call's kwargs to open its run from.
        self.kwargs: dict[str, Any] | None = None


class _LoggerState:
    """The attributes :class:`~llm_cost_hooks.litellm.CostHooksLogger` sets in
    ``__init__``, declared once for the parts of the class defined in other modules."""

    tracker: CostTracker
    cost_tolerance: float
    cost_check: CostChecks
    comparisons: deque[CostComparison]
    cost_checks: dict[str, int]
    guard: Any
    context_budget: Any
    prompt_cache: PromptCacheOptions | None
    dedup: HookDedup | None
    require_bound_tenant: bool
    _lock: threading.Lock
    _open: dict[str, str]  # litellm_call_id -> our open run id
    _open_dead: set[str]
    _open_prune_at: int
    _attempts: OrderedDict[str, int]
    _done: OrderedDict[str, None]
    holds: Holds  # spend-guard holds by call id
    _prepared: OrderedDict[str, None]
    _unprepared_warned: bool
    _pending_tags: dict[str, dict[str, str]]
    _refused: OrderedDict[str, None]
    _shared: OrderedDict[str, str]
    _tentative: OrderedDict[str, float]
    _expected: OrderedDict[str, Expected]

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > _MAX_REMEMBERED:
            table.popitem(last=False)

    def _in_flight(self) -> dict[str, str]:
        """The calls (call id -> run id) started and not yet recorded, that ``flush()``
        waits for; a call open for 5 min is not waited for."""
        stale_ns = time.perf_counter_ns() - 300 * 10**9
        return {
            cid: rid
            for cid, rid in list(self._open.items())
            if rid not in self._tentative
            and (run := self.tracker._runs.get(rid)) is not None
            and run.start_ns > stale_ns
        }

    def _still_in_flight(self, waiting: dict[str, str]) -> dict[str, str]:
        # Recorded, and its budget hold settled (or its cost charged): its end handling
        # settles right after the record, then ends the call's bookkeeping.
        runs, open_, holds = self.tracker._runs, self._open, self.holds
        return {c: r for c, r in waiting.items() if r in runs or (c in holds and open_.get(c) == r)}

    def _replaced(self) -> bool:  # CostHooksLogger: another logger took its place
        return False

    def _release(self, call_id: str) -> None:
        self.holds.release(call_id)

    def _finish(self, call_id: str, *, success: bool) -> None:  # CostHooksLogger: see ._events
        return None

    def _watch(self, call_id: str, stream: bool) -> None:  # CostHooksLogger: see ._cancel
        return None

    def _unwatch(self, call_id: str) -> None:
        return None

    def _cut_at_loop_end(self, call_id: str, run_id: str) -> bool:  # CostHooksLogger: see ._cancel
        return False

    def _late_success(self, kwargs: Mapping[str, Any], response: Any) -> None:  # see ._cancel
        return None
