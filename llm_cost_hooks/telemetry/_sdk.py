"""The OpenTelemetry SDK's private fields the observer uses, one shim per field.

Each shim returns ``None`` (and the observer takes the SDK's public API) unless the
installed ``opentelemetry-sdk`` is in :data:`TESTED_RANGE` and the field has the shape
the shim expects. Why use them at all: the public ``Span.set_attributes`` re-checks every
value the observer built itself (a model span carries about 27), which is most of the
span's CPU; measured in ``bench/results/``. The range is raised after the test suite
passed on a newer SDK release (``tests/test_telemetry_sdk_shims.py`` checks each shim on
the installed one and forces the public path).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "SHIMS_ON",
    "TESTED_RANGE",
    "attribute_map",
    "installed_sdk_version",
    "parent_based_delegates",
    "span_processors",
    "version_in_range",
]

#: ``opentelemetry-sdk`` releases the shims are used with: ``[low, high)``.
TESTED_RANGE: tuple[tuple[int, int], tuple[int, int]] = ((1, 30), (1, 46))

_PARENT_BASED_FIELDS = (
    "_root",
    "_remote_parent_sampled",
    "_remote_parent_not_sampled",
    "_local_parent_sampled",
    "_local_parent_not_sampled",
)


def installed_sdk_version() -> tuple[int, int] | None:
    """``(major, minor)`` of the installed ``opentelemetry-sdk``, or None if unknown."""
    try:
        from importlib.metadata import version

        text = version("opentelemetry-sdk")
    except Exception:
        return None
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def version_in_range(
    found: tuple[int, int] | None,
    tested: tuple[tuple[int, int], tuple[int, int]] = TESTED_RANGE,
) -> bool:
    return found is not None and tested[0] <= found < tested[1]


def _bounded_attributes_type() -> type | None:
    try:
        from opentelemetry.attributes import BoundedAttributes
    except Exception:
        return None
    probe = BoundedAttributes()
    shaped = (
        isinstance(getattr(probe, "_dict", None), dict)
        and hasattr(probe, "_lock")
        and isinstance(getattr(probe, "_immutable", None), bool)
        and hasattr(probe, "maxlen")
        and hasattr(probe, "max_value_len")
    )
    return BoundedAttributes if shaped else None


_BOUNDED: type | None = _bounded_attributes_type()

#: Whether the shims may be used at all (tests set it false to force the public path).
SHIMS_ON: bool = version_in_range(installed_sdk_version())


def attribute_map(span: Any, room: int) -> tuple[dict[str, Any], Any] | None:
    """Shim for ``span._attributes._dict`` / ``._lock``: the span's attribute map and its
    lock, if ``room`` more attributes can go straight in as the SDK would store them
    (the SDK's own container, still mutable, no value length limit, below its count
    limit, which the SDK would apply by dropping the oldest). None otherwise."""
    if not SHIMS_ON or _BOUNDED is None:
        return None
    store: Any = getattr(span, "_attributes", None)
    if type(store) is not _BOUNDED:
        return None
    data = getattr(store, "_dict", None)
    lock = getattr(store, "_lock", None)
    if not isinstance(data, dict) or lock is None or getattr(store, "_immutable", True) is not False:
        return None
    max_value_len = getattr(store, "max_value_len", 0)
    maxlen = getattr(store, "maxlen", 0)
    if max_value_len is not None or (maxlen is not None and len(data) + room > maxlen):
        return None
    return data, lock


def span_processors(tracer: Any) -> tuple[Any, ...] | None:
    """Shim for ``tracer.span_processor._span_processors`` (the SDK's multi-processor's
    list): the processors a span goes through, or None if they cannot be read."""
    if not SHIMS_ON:
        return None
    processors = getattr(getattr(tracer, "span_processor", None), "_span_processors", None)
    return processors if isinstance(processors, tuple) else None


def parent_based_delegates(sampler: Any) -> tuple[Any, ...] | None:
    """Shim for ``ParentBased._root`` and its four other delegates: the samplers a
    ``ParentBased`` sampler hands its decision to, or None if they cannot be read."""
    if not SHIMS_ON:
        return None
    try:
        from opentelemetry.sdk.trace.sampling import ParentBased
    except Exception:
        return None
    if not isinstance(sampler, ParentBased):
        return None
    delegates = tuple(getattr(sampler, name, None) for name in _PARENT_BASED_FIELDS)
    return None if any(d is None for d in delegates) else delegates


def noop_on_start_methods() -> tuple[Callable[..., Any], ...]:
    """The SDK span processors' ``on_start`` methods that do nothing (public classes)."""
    try:
        from opentelemetry.sdk.trace import SpanProcessor
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except Exception:
        return ()
    return (SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start)
