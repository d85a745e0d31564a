"""Bounded cardinality for metric attributes."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

__all__ = ["OVERFLOW_VALUE", "AttributeLimiter"]

#: The value an attribute takes once its budget of distinct values is spent.
OVERFLOW_VALUE = "_other"


class AttributeLimiter:
    """Keeps each metric attribute (tenant, feature, model, route) to a bounded set of values.

    Per attribute, either an allow-list (only those values pass) or the first
    ``max_values`` distinct values seen (first come, first kept) pass through; every
    other value is reported as ``"_other"``. Spans are not limited: they carry the real
    values. The number of metric series is then at most the product of the per-attribute
    limits, whatever the traffic.

    >>> limiter = AttributeLimiter(max_values=2, allow={"route": ["cheap", "strong"]})
    >>> [limiter.limit("tenant", t) for t in ("acme", "globex", "initech", "acme")]
    ['acme', 'globex', '_other', 'acme']
    >>> limiter.limit("route", "experimental")
    '_other'
    """

    def __init__(
        self,
        max_values: int = 50,
        *,
        allow: Mapping[str, Iterable[str]] | None = None,
        per_attribute: Mapping[str, int] | None = None,
    ) -> None:
        if not isinstance(max_values, int) or isinstance(max_values, bool) or max_values < 1:
            from .._errors import ConfigurationError

            raise ConfigurationError(f"max_values must be a positive integer, got {max_values!r}.")
        self.max_values = max_values
        self.allow = {k: frozenset(str(v) for v in vs) for k, vs in (allow or {}).items()}
        self.per_attribute = dict(per_attribute or {})
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self.overflowed: dict[str, int] = {}

    def limit(self, key: str, value: str) -> str:
        allowed = self.allow.get(key)
        if allowed is not None:
            if value in allowed:
                return value
            self._overflow(key)
            return OVERFLOW_VALUE
        seen = self._seen.get(key)
        if seen is not None and value in seen:  # hot path: no lock
            return value
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if value in seen:
                return value
            if len(seen) < self.per_attribute.get(key, self.max_values):
                seen.add(value)
                return value
        self._overflow(key)
        return OVERFLOW_VALUE

    def _overflow(self, key: str) -> None:
        self.overflowed[key] = self.overflowed.get(key, 0) + 1
