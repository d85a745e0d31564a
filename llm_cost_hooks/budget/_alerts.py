"""Budget alerts: thresholds once per period, spend anomalies, and where they go.

Sinks receive :class:`AlertEvent` objects: user callbacks (:class:`CallbackSink`), the
Python log (:class:`LoggingSink`, always on unless disabled), the current OpenTelemetry
span as a span event (:class:`SpanEventSink`, a no-op without ``opentelemetry-api``) and
HTTP webhooks with retries (:class:`WebhookSink`, delivered off the caller's thread).
Telemetry code attaches with ``AlertManager.add_sink`` / ``add_metric_hook``: a metric
hook is called as ``hook(name, value, attributes)`` for every alert
(``llm_cost_hooks.budget.alerts``, value 1) and for every settlement
(``llm_cost_hooks.budget.utilization``, value = spent / limit).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from .._errors import ConfigurationError

__all__ = [
    "AlertEvent",
    "AlertManager",
    "AlertSink",
    "AnomalyRule",
    "CallbackSink",
    "LoggingSink",
    "MetricHook",
    "SpanEventSink",
    "WebhookSink",
]

logger = logging.getLogger("llm_cost_hooks.budget")

MetricHook = Callable[[str, float, Mapping[str, str]], None]


class AlertEvent(BaseModel):
    """One alert. ``kind`` is ``threshold`` (``fraction`` of ``limit`` reached),
    ``anomaly`` (``spent`` in the current hour vs ``baseline``, the trailing hourly mean) or
    ``overspend`` (spend counted beyond what was reserved: ``reason`` is
    ``above_reservation``, ``lease_expired`` or ``replayed``, ``excess`` how much)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["threshold", "anomaly", "overspend"]
    limit_name: str
    scope: str
    scope_value: str
    period: str
    period_id: str
    spent: float
    unit: str = "USD"
    limit: float | None = None
    threshold: float | None = None
    fraction: float | None = None
    baseline: float | None = None
    resets_at: datetime | None = None
    reason: str | None = None
    excess: float | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def message(self) -> str:
        who = f"{self.scope}={self.scope_value}"
        if self.kind == "anomaly":
            return (f"Spend anomaly for {who}: {self.spent:.6g} {self.unit} this hour vs a trailing "
                    f"hourly mean of {self.baseline:.6g} {self.unit}.")
        if self.kind == "overspend":
            return (f"Budget {self.limit_name!r} for {who}: {self.excess or 0:.6g} {self.unit} counted beyond the "
                    f"reservation ({self.reason}); {self.spent:.6g} of {self.limit or 0:.6g} {self.unit} spent "
                    f"({self.period} {self.period_id}).")
        reset = f"; resets at {self.resets_at.isoformat()}" if self.resets_at else ""
        return (f"Budget {self.limit_name!r} for {who} reached {self.threshold:.0%}: "
                f"{self.spent:.6g} of {self.limit:.6g} {self.unit} ({self.period} {self.period_id}){reset}.")

    def attributes(self) -> dict[str, str]:
        attrs = {"alert.kind": self.kind, "budget.limit": self.limit_name, "budget.scope": self.scope,
                 "budget.scope_value": self.scope_value, "budget.period": self.period_id}
        if self.threshold is not None:
            attrs["budget.threshold"] = f"{self.threshold:g}"
        if self.reason is not None:
            attrs["budget.overspend.reason"] = self.reason
        return attrs


@runtime_checkable
class AlertSink(Protocol):
    """Anything with ``send(event)``. It must be quick and may raise (errors are logged)."""

    def send(self, event: AlertEvent) -> None: ...


class CallbackSink:
    """Calls ``fn(event)``.

    >>> seen = []
    >>> CallbackSink(seen.append).send(AlertEvent(kind="anomaly", limit_name="x", scope="tenant",
    ...     scope_value="acme", period="hour", period_id="h", spent=2.0, baseline=0.5))
    >>> seen[0].kind
    'anomaly'
    """

    def __init__(self, fn: Callable[[AlertEvent], Any]) -> None:
        if not callable(fn):
            raise ConfigurationError(f"CallbackSink needs a callable, got {type(fn).__name__}.")
        self.fn = fn

    def send(self, event: AlertEvent) -> None:
        self.fn(event)


class LoggingSink:
    """Logs every alert at WARNING on ``llm_cost_hooks.budget`` (no prompt text)."""

    def __init__(self, logger_: logging.Logger | None = None, level: int = logging.WARNING) -> None:
        self.logger = logger_ or logger
        self.level = level

    def send(self, event: AlertEvent) -> None:
        self.logger.log(self.level, "llm-cost-hooks alert: %s", event.message, extra={"alert": event.attributes()})


class SpanEventSink:
    """Adds ``llm_cost_hooks.budget.alert`` as an event on the current OpenTelemetry span."""

    def send(self, event: AlertEvent) -> None:
        try:
            from opentelemetry import trace
        except ImportError:
            return
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("llm_cost_hooks.budget.alert", {**event.attributes(), "budget.spent": event.spent})


class WebhookSink:
    """POSTs each alert as JSON to ``url`` from a background thread, retrying
    ``retries`` times with exponential backoff on connection errors and 5xx/429.

    >>> sink = WebhookSink("http://127.0.0.1:9/hook", retries=0)
    >>> sink.close()
    """

    def __init__(self, url: str, *, retries: int = 3, backoff: float = 0.2, timeout: float = 2.0,
                 headers: Mapping[str, str] | None = None, max_queue: int = 1000) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"webhook url must start with http:// or https://, got {url!r}.")
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[AlertEvent | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._worker, name="llm-cost-hooks-webhook", daemon=True)
        self._thread.start()

    def send(self, event: AlertEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.failed += 1
            logger.warning("llm-cost-hooks: webhook queue full; alert dropped: %s", event.message)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - user URL
            response.read()

    def _worker(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                self._queue.task_done()
                return
            body = json.dumps({**event.model_dump(mode="json"), "message": event.message}).encode()
            for attempt in range(self.retries + 1):
                try:
                    self._post(body)
                    self.delivered += 1
                    break
                except urllib.error.HTTPError as exc:
                    if exc.code < 500 and exc.code != 429:
                        self.failed += 1
                        logger.warning("llm-cost-hooks: webhook %s refused an alert: HTTP %s", self.url, exc.code)
                        break
                except (urllib.error.URLError, OSError):
                    pass
                if attempt == self.retries:
                    self.failed += 1
                    logger.warning("llm-cost-hooks: webhook %s failed after %d attempts", self.url, attempt + 1)
                else:
                    time.sleep(self.backoff * (2**attempt))
            self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued alerts are delivered or given up."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


class AnomalyRule(BaseModel):
    """Alert when spend in the current clock hour exceeds ``factor`` x the mean of the
    ``trailing_hours`` before it, for each value of ``scope``. Needs at least
    ``min_history_hours`` hours with spend before it fires (no cold-start noise).

    >>> AnomalyRule(scope="tenant", factor=2.0).trailing_hours
    24
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: Literal["tenant", "feature", "route", "user", "global"] = "tenant"
    factor: float = Field(2.0, gt=1.0)
    trailing_hours: int = Field(24, ge=1, le=24 * 14)
    min_history_hours: int = Field(3, ge=1)
    check_interval_seconds: float = Field(5.0, ge=0)


class AlertManager:
    """Fans alerts out to sinks and metric hooks; a failing sink never breaks a call.

    >>> events = []
    >>> manager = AlertManager(sinks=[CallbackSink(events.append)], log=False, span_events=False)
    >>> len(manager.sinks)
    1
    """

    def __init__(self, sinks: Sequence[AlertSink | Callable[[AlertEvent], Any]] = (), *, log: bool = True,
                 span_events: bool = True, anomaly: AnomalyRule | None = None,
                 metric_hooks: Sequence[MetricHook] = ()) -> None:
        self.sinks: list[AlertSink] = []
        for sink in sinks:
            self.add_sink(sink)
        if log:
            self.sinks.append(LoggingSink())
        if span_events:
            self.sinks.append(SpanEventSink())
        self.anomaly = anomaly
        self.metric_hooks: list[MetricHook] = list(metric_hooks)

    def add_sink(self, sink: AlertSink | Callable[[AlertEvent], Any]) -> None:
        if isinstance(sink, AlertSink):
            self.sinks.append(sink)
        elif callable(sink):
            self.sinks.append(CallbackSink(sink))
        else:
            raise ConfigurationError(f"an alert sink needs send(event) or must be callable; got {type(sink).__name__}.")

    def add_metric_hook(self, hook: MetricHook) -> None:
        self.metric_hooks.append(hook)

    def emit(self, event: AlertEvent) -> None:
        for sink in self.sinks:
            try:
                sink.send(event)
            except Exception:  # noqa: BLE001 - a sink never breaks the chain
                logger.exception("llm-cost-hooks: alert sink %r failed", sink)
        self.metric("llm_cost_hooks.budget.alerts", 1.0, event.attributes())

    def metric(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        for hook in self.metric_hooks:
            try:
                hook(name, value, attributes)
            except Exception:  # noqa: BLE001
                logger.exception("llm-cost-hooks: metric hook %r failed", hook)
