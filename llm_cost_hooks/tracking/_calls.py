"""What an adapter reads of a model call, framework-free: the ``response_metadata``
markers by which the package's own models and caches tell the cost handler how a call
was served, the model and request parameters of a call's start, and record tags put on
a run through the handlers attached to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from .._records import Counts, TokenUsage
from ._runs import RunKind
from ._usage import counts_from_metadata

__all__ = [
    "BILLED_MARKER_KEY",
    "CACHE_MARKER_KEY",
    "ROUTE_MARKER_KEY",
    "VERIFIED_MARKER_KEY",
    "annotate_run",
    "call_model",
    "model_params",
    "read_bill",
    "run_id_text",
    "run_kind",
]

#: ``response_metadata`` key by which our caches tell the handler how a hit was served:
#: ``{"status": "exact" | "semantic", "saved_usd": float | None}``.
CACHE_MARKER_KEY = "llm_cost_hooks_cache"
#: ``response_metadata`` key by which RoutedChatModel says which tier answered and why;
#: with ``"delegated": True`` the run wrote no record itself (its tier calls are child
#: runs with their own records), so the handler skips it instead of counting twice.
ROUTE_MARKER_KEY = "llm_cost_hooks_route"
#: ``response_metadata`` key carrying a call's known dollars (ReplayChatModel replays a
#: recorded call): ``{"cost_usd": float, "tokens_estimated": bool}``, optionally
#: ``"saved_usd"`` (e.g. what a batch API saved) and ``"tags"`` for the record; recorded as is.
BILLED_MARKER_KEY = "llm_cost_hooks_billed"
#: ``response_metadata`` key by which our caches say that a call was a would-be semantic hit
#: answered by the model to verify it: ``"agree"`` / ``"disagree"``, recorded as the tag
#: ``cache.verified`` (``llm-cost report --show cache`` estimates hit precision from them).
VERIFIED_MARKER_KEY = "llm_cost_hooks_cache_verified"


def read_bill(bill: Any) -> tuple[float, bool, float | None, Mapping[str, Any] | None] | None:
    """``(cost_usd, tokens_estimated, saved_usd, tags)`` of a :data:`BILLED_MARKER_KEY`
    value, or None when it carries no dollar amount."""
    if not isinstance(bill, Mapping) or not isinstance(cost := bill.get("cost_usd"), (int, float)):
        return None
    saved = bill.get("saved_usd")
    tags = bill.get("tags")
    return (
        float(cost),
        bool(bill.get("tokens_estimated")),
        float(saved) if isinstance(saved, (int, float)) else None,
        tags if isinstance(tags, Mapping) else None,
    )


# Request parameters recorded on a model run (spans show them).
_PARAM_KEY_SET = frozenset(
    "temperature max_tokens max_completion_tokens top_p top_k frequency_penalty presence_penalty stop seed n".split()
)


def call_model(
    serialized: Mapping[str, Any] | None,
    metadata: Mapping[str, Any],
    kwargs: Mapping[str, Any],
    default_model: str | None,
) -> tuple[str, str | None, dict[str, Any]]:
    """(model, provider, request parameters) of a model run's start, from its metadata
    (``ls_model_name``, ``ls_provider``, ``ls_temperature``, ...) and invocation params.

    >>> call_model(None, {"ls_provider": "openai"},
    ...     {"invocation_params": {"model": "gpt-4o", "temperature": 0.2, "stream": True}}, None)
    ('gpt-4o', 'openai', {'temperature': 0.2})
    """
    return model_params(serialized, metadata, kwargs.get("invocation_params") or {}, default_model)


def model_params(
    serialized: Mapping[str, Any] | None,
    metadata: Mapping[str, Any],
    inv: Mapping[str, Any],
    default_model: str | None,
) -> tuple[str, str | None, dict[str, Any]]:
    """:func:`call_model` of the run's ``invocation_params`` (``inv``)."""
    model = (
        metadata.get("ls_model_name")
        or inv.get("model")
        or inv.get("model_name")
        or inv.get("model_id")
        or default_model
        or (serialized or {}).get("name")
        or "unknown"
    )
    provider = metadata.get("ls_provider") or inv.get("_type")
    # Only the keys the call has: a set intersection, not ten lookups per call (a loop:
    # a comprehension costs a frame of its own).
    params: dict[str, Any] = {}
    for k in _PARAM_KEY_SET.intersection(inv):
        if (value := inv[k]) is not None:
            params[k] = value
    if "temperature" not in params and metadata.get("ls_temperature") is not None:
        params["temperature"] = metadata["ls_temperature"]
    if "max_tokens" not in params and metadata.get("ls_max_tokens") is not None:
        params["max_tokens"] = metadata["ls_max_tokens"]
    return model if type(model) is str else str(model), provider, params


def run_id_text(run_id: Any) -> str:
    """``str(run_id)``: a UUID's canonical text built from its bytes' hex, a third cheaper
    than ``UUID.__str__`` (which formats its int and joins five slices of it).

    >>> run_id_text(UUID("12345678-9abc-def0-1234-56789abcdef0"))
    '12345678-9abc-def0-1234-56789abcdef0'
    """
    if type(run_id) is UUID:
        b = run_id.int.to_bytes(16, "big")
        # The first ten bytes in groups of two ("xxxx-xxxx-...") with the first dash gone.
        return f"{b[:10].hex('-', 2).replace('-', '', 1)}-{b[10:].hex()}"
    return str(run_id)


def run_kind(
    kind: RunKind, serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
) -> tuple[RunKind, str]:
    """(kind, name) of a chain, tool or retriever run; a chain named like an agent is one."""
    name = str(kwargs.get("name") or (serialized or {}).get("name") or kind.value)
    if kind is RunKind.CHAIN and "agent" in name.lower():
        kind = RunKind.AGENT
    return kind, name


def annotate_run(run_manager: Any, tags: Mapping[str, Any], run_id: Any = None) -> int:
    """Put ``tags`` on the cost record (and span) of a run, through every cost handler
    attached to ``run_manager`` (``CostTracker.annotate``). Returns how many took them."""
    if not tags or run_manager is None:
        return 0
    target = str(run_id if run_id is not None else run_manager.run_id)
    done = 0
    seen: set[int] = set()
    for handler in list(getattr(run_manager, "handlers", []) or []) + list(
        getattr(run_manager, "inheritable_handlers", []) or []
    ):
        tracker = getattr(handler, "tracker", None)
        if tracker is None or id(tracker) in seen or not hasattr(tracker, "annotate"):
            continue
        seen.add(id(tracker))
        done += bool(tracker.annotate(target, tags))
    return done


def delivered_before_error(response: Any) -> tuple[Counts | TokenUsage | None, str | None]:
    """What a failed model run had delivered, from the result LangChain passes with the
    error (``LLMResult``-like: ``generations[0][0]`` holds the chunks a stream yielded
    before it failed or was stopped): their usage when the provider sent it, and their
    text. ``(None, None)`` when nothing was delivered."""
    gens = getattr(response, "generations", None)
    part = gens[0][0] if gens and gens[0] else None
    if part is None:
        return None, None
    um = getattr(getattr(part, "message", None), "usage_metadata", None)
    text = getattr(part, "text", None)
    # str(): LangChain 1.x text is a callable str subclass, which would be called as a thunk.
    return (counts_from_metadata(um) if um else None), (str(text) if isinstance(text, str) else None)
