"""Finished model spans handed straight to the SDK's span processors.

A model call's span is made when the call has ended, with every attribute and both times
known. Through ``Tracer.start_span`` and ``Span.end`` the SDK would build a mutable span
(a lock, bounded attribute, event and link containers), then copy it into the read-only
``ReadableSpan`` that its span processors receive: about three quarters of a model span's
CPU. When nothing can watch the span while it is open (a sampler that ignores attributes,
span processors whose start and ending hooks do nothing, the SDK's own span metrics off,
no attribute value length limit), :class:`DirectSpans` makes that ``ReadableSpan`` itself,
with the SDK's sampling decision, ids, trace flags, resource and scope, and gives it to the
processors' ``on_end``. A sampler whose decision is fixed per kind of parent is asked once
per kind, not per span. Anything else, or an SDK release outside
:data:`._sdk.DIRECT_SPANS_RANGE`, takes the SDK's own path.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from . import _sdk

__all__ = ["DirectSpans", "direct_spans", "start_attributes_unread"]


def _attribute_blind_samplers() -> tuple[type, ...]:
    """The SDK samplers that decide without reading attributes (public classes)."""
    try:
        from opentelemetry.sdk.trace.sampling import ParentBased, StaticSampler, TraceIdRatioBased
    except Exception:
        return ()
    return (StaticSampler, TraceIdRatioBased, ParentBased)


_BLIND_SAMPLERS = _attribute_blind_samplers()
_NOOP_ON_START = _sdk.noop_on_start_methods()


def _sampler_is_attribute_blind(sampler: Any) -> bool:
    if type(sampler) not in _BLIND_SAMPLERS:
        return False
    if isinstance(sampler, _BLIND_SAMPLERS[-1]):  # ParentBased: so must every delegate be
        delegates = _sdk.parent_based_delegates(sampler)
        return delegates is not None and all(_sampler_is_attribute_blind(d) for d in delegates)
    return True


def start_attributes_unread(tracer: Any) -> bool:
    """Whether nothing reads a span's attributes before it ends: an SDK tracer whose
    sampler ignores attributes and whose span processors do nothing on start. Then a
    model span can start bare and get every attribute at once, unchecked: the SDK's check
    of the start attributes is a third of the span's cost. False whenever a shim cannot
    tell."""
    processors = _sdk.span_processors(tracer)
    if processors is None:  # a proxy, another SDK, or the shims are off
        return False
    return _sampler_is_attribute_blind(getattr(tracer, "sampler", None)) and all(
        type(p).on_start in _NOOP_ON_START for p in processors
    )


def _sdk_trace_class(name: str) -> type | None:
    """A public class of ``opentelemetry.sdk.trace``, or None without the SDK."""
    try:
        from opentelemetry.sdk import trace as sdk_trace
    except Exception:
        return None
    cls = getattr(sdk_trace, name, None)
    return cls if isinstance(cls, type) else None


_SDK_TRACER = _sdk_trace_class("Tracer")
_SYNC_MULTI = _sdk_trace_class("SynchronousMultiSpanProcessor")
_SAMPLED = TraceFlags.SAMPLED
_RANDOM_TRACE_ID: int = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)
# The four trace flags a span can get, made once.
_FLAGS = {f: TraceFlags(f) for f in (0, _SAMPLED, _RANDOM_TRACE_ID, _SAMPLED | _RANDOM_TRACE_ID)}
_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


def _static_decision(sampler: Any) -> Any:
    """The decision of an SDK ``StaticSampler`` (``ALWAYS_ON`` / ``ALWAYS_OFF``), asked once
    through its public ``should_sample``: it answers the same for every span. None for any
    other sampler."""
    if not _BLIND_SAMPLERS or type(sampler) is not _BLIND_SAMPLERS[0]:
        return None
    static: Any = sampler  # (the type check above narrows it to object)
    return static.should_sample(None, 1, "probe").decision


def _decision_table(sampler: Any) -> tuple[Any, ...] | None:
    """The sampler's decision per kind of parent, when it can be known without asking it
    per span: (no parent, remote sampled, remote not sampled, local sampled, local not
    sampled), each the decision ``ParentBased`` delegates to a ``StaticSampler`` for,
    or a plain ``StaticSampler``'s own. None otherwise (the sampler is asked per span)."""
    decision = _static_decision(sampler)
    if decision is not None:
        return (decision,) * 5
    if not _BLIND_SAMPLERS or type(sampler) is not _BLIND_SAMPLERS[-1]:  # ParentBased itself
        return None
    delegates = _sdk.parent_based_delegates(sampler)  # _root first, in the order above
    if delegates is None:
        return None
    decisions = tuple(_static_decision(d) for d in delegates)
    return None if any(d is None for d in decisions) else decisions


def _random_id(bits: int) -> int:
    """An id drawn as the SDK's ``RandomIdGenerator`` draws it (``random.getrandbits``, again
    while zero), without its method call."""
    value = random.getrandbits(bits)
    while not value:
        value = random.getrandbits(bits)
    return value


def _public_span_context(trace_id: int, span_id: int, flags: Any, trace_state: Any) -> SpanContext:
    return SpanContext(trace_id, span_id, False, flags, trace_state)


def _random_ids(ids: Any) -> bool:
    """Whether ``ids`` is the SDK's ``RandomIdGenerator`` itself (ids drawn as it draws them)."""
    try:
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    except Exception:
        return False
    return type(ids) is RandomIdGenerator


class DirectSpans:
    """One SDK tracer's finished spans, built as its ``start_span`` + ``end`` would build
    them and handed to its span processors. Made by :func:`direct_spans` only."""

    __slots__ = (
        "_context",
        "_decisions",
        "_defaults",
        "_enabled",
        "_ids",
        "_info",
        "_last_context",
        "_last_parent",
        "_max_attributes",
        "_on_end",
        "_on_end_sampled",
        "_processor",
        "_random_ids",
        "_readable",
        "_root",
        "_sampler",
        "_scope",
        "_tracer",
    )

    def __init__(
        self, tracer: Any, scope: Any, max_attributes: int | None, enabled: Callable[[], bool]
    ) -> None:
        from opentelemetry.sdk.trace import ReadableSpan

        self._readable = ReadableSpan
        self._tracer = tracer
        # Public attributes of the SDK's Tracer, fixed when the provider made it.
        self._processor = tracer.span_processor
        # The SDK's synchronous multi-processor hands a span to each processor in turn:
        # done here without it (the processors are re-read, and this object remade, when
        # one is added). Any other multi-processor is called as it is.
        processors = _sdk.span_processors(tracer)
        self._on_end: tuple[Callable[[Any], None], ...] = (
            tuple(p.on_end for p in processors)
            if processors is not None and type(self._processor) is _SYNC_MULTI
            else (self._processor.on_end,)
        )
        # For a sampled span: the SDK batch processor's queue directly (its on_end checks
        # the sampled flag, then emits), where the shim allows.
        self._on_end_sampled: tuple[Callable[[Any], None], ...] = (
            tuple(_sdk.batch_emit(p) or p.on_end for p in processors)
            if processors is not None and type(self._processor) is _SYNC_MULTI
            else self._on_end
        )
        self._sampler = tracer.sampler
        self._ids = tracer.id_generator
        self._info = tracer.instrumentation_info
        self._scope = scope
        self._max_attributes = max_attributes
        self._enabled = enabled
        # The last parent context seen and its span's context (None: no valid parent).
        self._last_context: Any = object()
        self._last_parent: SpanContext | None = None
        # Per kind of parent: (recording, sampled) of the sampler's fixed decision, or None
        # (asked per span).
        table = _decision_table(self._sampler)
        self._decisions = None if table is None else tuple((d.is_recording(), d.is_sampled()) for d in table)
        self._random_ids = _random_ids(self._ids)
        # A root span's (sampled, flags) when the sampler's decision for it is fixed and
        # recording and ids are drawn as RandomIdGenerator draws them: the same for every
        # trace, so worked out once. None: worked out per span below.
        self._root: tuple[bool, Any] | None = None
        if self._decisions is not None and self._random_ids and self._decisions[0][0]:
            root_sampled = self._decisions[0][1]
            self._root = (root_sampled, _FLAGS[(_SAMPLED if root_sampled else 0) | _RANDOM_TRACE_ID])
        # The span's context without SpanContext re-checking ids drawn as RandomIdGenerator
        # draws them (valid by construction), where the shim allows; else the public one.
        # The constructor's defaults for events, links and status, to call it with
        # positional arguments (cheaper than keywords), where its signature allows.
        self._defaults = _sdk.readable_span_positional()
        maker = _sdk.span_context_maker() if self._random_ids else None
        self._context: Callable[[int, int, Any, Any], SpanContext] = maker or _public_span_context

    def sample(
        self, context: Any, name: str, kind: SpanKind
    ) -> tuple[SpanContext, SpanContext | None, Mapping[str, Any], bool] | None:
        """The span's context, its parent's and the sampler's attributes, or None when the
        SDK would make a non-recording span (nothing of it would be kept). The same calls
        in the same order as ``Tracer.start_span``; a sampler whose decision is fixed per
        kind of parent (``ParentBased`` over ``ALWAYS_ON`` / ``ALWAYS_OFF``, the SDK's
        default) is read from its table, with the parent's trace state as it returns."""
        if context is self._last_context:  # contexts are immutable: the same parent
            parent: SpanContext | None = self._last_parent
        else:
            parent = trace.get_current_span(context).get_span_context()
            if parent is not None and not parent.is_valid:
                parent = None
            self._last_context, self._last_parent = context, parent
        if not self._enabled():
            return None
        if parent is None and self._root is not None:
            # RandomIdGenerator's draws (again while 0), the fixed decision and flags.
            trace_id = random.getrandbits(128) or _random_id(128)
            span_id = random.getrandbits(64) or _random_id(64)
            sampled, flags = self._root
            return self._context(trace_id, span_id, flags, None), None, _NO_ATTRIBUTES, sampled
        random_ids = self._random_ids
        if parent is None:
            if random_ids:  # RandomIdGenerator.generate_trace_id's draw
                trace_id = random.getrandbits(128) or _random_id(128)  # (again while 0)
            else:
                trace_id = self._ids.generate_trace_id()
        else:
            trace_id = parent.trace_id
        decisions = self._decisions
        if decisions is not None:
            if parent is None:
                recording, sampled = decisions[0]
                trace_state = None
            else:
                recording, sampled = decisions[
                    (1 if parent.is_remote else 3) + (0 if parent.trace_flags.sampled else 1)
                ]
                trace_state = parent.trace_state
            if not recording:
                return None
            attributes = _NO_ATTRIBUTES  # what StaticSampler returns when asked without any
        else:
            result = self._sampler.should_sample(context, trace_id, name, kind, None, ())
            decision = result.decision
            if not decision.is_recording():
                return None
            sampled = decision.is_sampled()
            trace_state = result.trace_state
            attributes = result.attributes
        flags = _SAMPLED if sampled else 0
        if _RANDOM_TRACE_ID and (
            (random_ids or self._ids.is_trace_id_random())
            if parent is None
            else parent.trace_flags.random_trace_id
        ):
            flags |= _RANDOM_TRACE_ID
        if random_ids:  # RandomIdGenerator.generate_span_id's draw
            span_id = random.getrandbits(64) or _random_id(64)
        else:
            span_id = self._ids.generate_span_id()
        return self._context(trace_id, span_id, _FLAGS[flags], trace_state), parent, attributes, sampled

    def end(
        self,
        sampled: tuple[SpanContext, SpanContext | None, Mapping[str, Any], bool],
        name: str,
        kind: SpanKind,
        attributes: dict[str, Any],
        start_time: int,
        end_time: int,
    ) -> None:
        """Hand the finished span to the span processors. ``attributes`` are values this
        package built (str, bool, int, float, tuples of str), kept as they are unless the
        span's attribute count limit or the sampler's own attributes call for the SDK's
        bounded (and checking) container."""
        span_context, parent, extra, is_sampled = sampled
        attrs: Any = attributes
        limit = self._max_attributes
        if extra or (limit is not None and len(attributes) > limit):
            attrs = BoundedAttributes(limit, {**extra, **attributes}, immutable=True, max_value_len=None)
        defaults = self._defaults
        if defaults is not None:
            events, links, status = defaults
            span = self._readable(
                name,
                span_context,
                parent,
                # read per span: the provider gives a forked child its own resource
                # (service.instance.id) by replacing the tracer's after fork
                self._tracer.resource,
                attrs,
                events,
                links,
                kind,
                self._info,
                status,
                start_time,
                end_time,
                self._scope,
            )
        else:
            span = self._readable(
                name=name,
                context=span_context,
                parent=parent,
                resource=self._tracer.resource,
                attributes=attrs,
                kind=kind,
                instrumentation_info=self._info,
                start_time=start_time,
                end_time=end_time,
                instrumentation_scope=self._scope,
            )
        for on_end in self._on_end_sampled if is_sampled else self._on_end:
            on_end(span)


def direct_spans(tracer: Any, scope: Any) -> DirectSpans | None:
    """A :class:`DirectSpans` for ``tracer`` when nothing can tell its spans from the SDK's
    (see the module's docstring), else None. ``scope`` is the ``InstrumentationScope`` the
    provider made the tracer with."""
    if not _sdk.direct_spans_allowed() or _SDK_TRACER is None or type(tracer) is not _SDK_TRACER:
        return None
    processors = _sdk.span_processors(tracer)
    limits = _sdk.span_limits(tracer)
    if processors is None or limits is None or limits.max_span_attribute_length is not None:
        return None
    if not start_attributes_unread(tracer) or not all(_sdk.noop_on_ending(p) for p in processors):
        return None
    enabled = _sdk.tracer_enabled(tracer)
    if enabled is None or not _sdk.tracer_self_metrics_off(tracer):
        return None
    return DirectSpans(tracer, scope, limits.max_span_attributes, enabled)
