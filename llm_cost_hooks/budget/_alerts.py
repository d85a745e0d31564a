"""Budget alerts: thresholds once per period, refusals, spend anomalies, and where they go.

Event kinds (:attr:`AlertEvent.kind`):

* ``threshold``: settled (real) spend of a period limit reached a fraction in
  ``Limit.alert_at`` (50 / 80 / 100 % by default); once per limit, scope value, period
  and fraction. Holds of calls in flight never count.
* ``refused``: the store refused a reservation (the call's worst case does not fit what
  is left); once per limit, scope value and period, and every refusal also adds 1 to the
  ``llm_cost_hooks.budget.refused`` metric.
* ``anomaly``: spend of a scope value in the current clock hour is above ``factor`` x
  its mean hourly spend, or with ``AnomalyRule(baseline="cycle")`` above what is usual
  for that hour of the day and week (:class:`AnomalyRule`); once per scope value and hour.

Sinks receive :class:`AlertEvent` objects: user callbacks (:class:`CallbackSink`), the
Python log (:class:`LoggingSink`, always on unless disabled), the current OpenTelemetry
span as a span event (:class:`SpanEventSink`, a no-op without ``opentelemetry-api``) and
HTTP webhooks with retries (:class:`WebhookSink`, delivered off the caller's thread).
Any other sink runs on a thread of its own: one that blocks holds up a call once, for at
most ``AlertManager(sink_timeout=...)``, and its alerts queue up until it returns.
``AlertManager.close(timeout)`` delivers what is queued, stops those threads and names
the alerts it could not deliver (at exit the package does it within the exit deadline).
Telemetry code attaches with ``AlertManager.add_sink`` / ``add_metric_hook``: a metric
hook is called as ``hook(name, value, attributes)`` for every alert
(``llm_cost_hooks.budget.alerts``, value 1) and for every settlement
(``llm_cost_hooks.budget.utilization``, value = spent / limit).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import queue
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from .. import _shutdown
from .._errors import ConfigurationError
from .._options import ConfigModel, check_number
from ._limits import NANO, scope_value_of_key

__all__ = [
    "AlertEvent",
    "AlertKind",
    "AlertManager",
    "AlertSink",
    "AnomalyRule",
    "CallbackSink",
    "LoggingSink",
    "MetricHook",
    "SpanEventSink",
    "WebhookSink",
    "anomaly_baseline",
    "anomaly_cycle_threshold",
]

logger = logging.getLogger("llm_cost_hooks.budget")

MetricHook = Callable[[str, float, Mapping[str, str]], None]


#: The kinds of :class:`AlertEvent`, each with its own message (see the module docstring).
AlertKind = Literal["threshold", "anomaly", "refused", "overspend"]


class AlertEvent(BaseModel):
    """One alert. ``kind`` is ``threshold`` (``fraction`` of ``limit`` reached by settled
    spend), ``refused`` (a reservation of ``requested`` did not fit: ``spent`` is what was
    settled or held), ``anomaly`` (``spent`` in the current hour vs ``baseline``, the
    mean hourly spend, or with ``reason="cycle"`` the usual spend of that hour) or ``overspend`` (spend counted beyond what was reserved: ``reason``
    is ``above_reservation``, ``lease_expired``, ``replayed`` (journalled spend replayed
    after an outage) or ``over_limit`` (a shared total past the limit after a Redis
    restart), ``excess`` how much).

    Sinks get them; ``message`` is the line the log sink writes:

    >>> from llm_cost_hooks.budget import (AlertManager, BudgetExceeded, CallbackSink, Limit,
    ...                                    SpendGuard, SpendRequest)
    >>> events = []
    >>> alerts = AlertManager(sinks=[CallbackSink(events.append)], log=False, span_events=False)
    >>> guard = SpendGuard([Limit.usd(0.001, per="day", scope="tenant")], alerts=alerts)
    >>> try:
    ...     guard.reserve(SpendRequest(model="gpt-4o", input_tokens=100_000, max_output_tokens=500,
    ...                                tenant="acme"))
    ... except BudgetExceeded:
    ...     pass
    >>> alerts.close()  # waits for the sinks
    True
    >>> event = events[0]
    >>> event.kind, event.scope_value, event.limit, event.requested
    ('refused', 'acme', 0.001, 0.255)
    >>> event.message
    "Budget 'usd_per_day_per_tenant' for tenant=acme refused a call needing 0.255 USD: 0 of 0.001 USD spent or held (day ...); resets at ..."
    """

    model_config = ConfigDict(frozen=True)

    kind: AlertKind
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
    requested: float | None = None
    resets_at: datetime | None = None
    reason: str | None = None
    excess: float | None = None
    at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def message(self) -> str:
        who = f"{self.scope}={_shown(self.scope_value)}"
        reset = f"; resets at {self.resets_at.isoformat()}" if self.resets_at else ""
        if self.kind == "anomaly" and self.reason == "cycle":
            return (
                f"Spend anomaly for {who}: {self.spent:.6g} {self.unit} this hour vs a usual "
                f"{self.baseline:.6g} {self.unit} for this hour of the day and week."
            )
        if self.kind == "anomaly":
            return (
                f"Spend anomaly for {who}: {self.spent:.6g} {self.unit} this hour vs a trailing "
                f"hourly mean of {self.baseline:.6g} {self.unit}."
            )
        if self.kind == "refused":
            return (
                f"Budget {self.limit_name!r} for {who} refused a call needing {self.requested or 0:.6g} "
                f"{self.unit}: {self.spent:.6g} of {self.limit or 0:.6g} {self.unit} spent or held "
                f"({self.period} {self.period_id}){reset}."
            )
        if self.kind == "overspend":
            return (
                f"Budget {self.limit_name!r} for {who}: {self.excess or 0:.6g} {self.unit} counted beyond the "
                f"reservation ({self.reason}); {self.spent:.6g} of {self.limit or 0:.6g} {self.unit} spent "
                f"({self.period} {self.period_id})."
            )
        return (
            f"Budget {self.limit_name!r} for {who} reached {self.threshold or 0:.0%}: "
            f"{self.spent:.6g} of {self.limit or 0:.6g} {self.unit} ({self.period} {self.period_id}){reset}."
        )

    def attributes(self) -> dict[str, str]:
        attrs = {
            "alert.kind": self.kind,
            "budget.limit": self.limit_name,
            "budget.scope": self.scope,
            "budget.scope_value": self.scope_value,
            "budget.period": self.period_id,
        }
        if self.threshold is not None:
            attrs["budget.threshold"] = f"{self.threshold:g}"
        if self.reason is not None and self.kind == "overspend":
            attrs["budget.overspend.reason"] = self.reason
        return attrs


@runtime_checkable
class AlertSink(Protocol):
    """Anything with ``send(event)``. It must be quick and may raise (errors are logged).

    >>> from llm_cost_hooks.budget import AlertManager
    >>> class PagerSink:
    ...     def send(self, event):
    ...         if event.kind == "refused":
    ...             print("page on-call:", event.limit_name, event.scope_value)
    >>> isinstance(PagerSink(), AlertSink)
    True
    >>> PagerSink().send(AlertEvent(kind="refused", limit_name="usd_per_day_per_tenant",
    ...     scope="tenant", scope_value="acme", period="day", period_id="20261207", spent=9.9))
    page on-call: usd_per_day_per_tenant acme
    >>> AlertManager(sinks=[PagerSink()], log=False).close()
    True
    """

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
    """Logs every alert at WARNING on ``llm_cost_hooks.budget`` (no prompt text).

    ``AlertManager`` adds one unless ``log=False``; here with a logger of our own:

    >>> import logging, sys
    >>> log = logging.getLogger("billing-alerts")
    >>> log.addHandler(logging.StreamHandler(sys.stdout))
    >>> log.propagate = False
    >>> LoggingSink(log).send(AlertEvent(kind="threshold", limit_name="usd_per_day_per_tenant",
    ...     scope="tenant", scope_value="acme", period="day", period_id="20261207", spent=8.0,
    ...     limit=10.0, threshold=0.8, fraction=0.8))
    llm-cost-hooks alert: Budget 'usd_per_day_per_tenant' for tenant=acme reached 80%: 8 of 10 USD (day 20261207).
    """

    def __init__(self, logger_: logging.Logger | None = None, level: int = logging.WARNING) -> None:
        self.logger = logger_ or logger
        self.level = level

    def send(self, event: AlertEvent) -> None:
        self.logger.log(
            self.level, "llm-cost-hooks alert: %s", event.message, extra={"alert": event.attributes()}
        )


class SpanEventSink:
    """Adds ``llm_cost_hooks.budget.alert`` as an event on the current OpenTelemetry span
    (without OpenTelemetry installed, or outside a recording span, it does nothing).

    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> tracer = TracerProvider().get_tracer("app")
    >>> with tracer.start_as_current_span("chat") as span:
    ...     SpanEventSink().send(AlertEvent(kind="refused", limit_name="usd_per_day_per_tenant",
    ...         scope="tenant", scope_value="acme", period="day", period_id="20261207", spent=9.9))
    >>> event = span.events[0]
    >>> event.name, event.attributes["budget.spent"]
    ('llm_cost_hooks.budget.alert', 9.9)
    """

    def send(self, event: AlertEvent) -> None:
        try:
            from opentelemetry import trace
        except ImportError:
            return
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("llm_cost_hooks.budget.alert", {**event.attributes(), "budget.spent": event.spent})


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _shown(name: str, limit: int = 120) -> str:
    """A tenant's (feature's, user's...) name inside a message: control characters shown
    escaped, so a name with a newline cannot forge a log line; long names cut. The
    event's ``budget.scope_value`` attribute keeps the name whole."""
    if _CONTROL.search(name):
        name = _CONTROL.sub(lambda m: repr(m.group())[1:-1], name)
    return name if len(name) <= limit else name[:limit] + "…"


def _alert_id(event: AlertEvent) -> str:
    """The same for every copy of one alert: the processes that raised it while they could
    not share their flags (a Redis outage), and the retries of one POST."""
    parts = (event.kind, event.limit_name, event.scope, event.scope_value, event.period_id)
    extra = (f"{event.threshold:g}" if event.threshold is not None else "", event.reason or "")
    return hashlib.sha256("\x1f".join((*parts, *extra)).encode()).hexdigest()[:32]


class _Done:
    """Calls ``fn`` once ``n`` sinks are done with one alert (delivered it, or gave up on it
    with an error logged)."""

    def __init__(self, n: int, fn: Callable[[], object]) -> None:
        self._left = n
        self._fn = fn
        self._lock = threading.Lock()
        if n <= 0:
            self._call()

    def tick(self) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._call()

    def _call(self) -> None:
        try:
            self._fn()
        except Exception:
            logger.exception("llm-cost-hooks: alert bookkeeping after delivery failed")


def _origin(url: str) -> str:
    # Webhook URLs often carry their secret in the path (Slack, Teams): logs get the host only.
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/..."


class WebhookSink:
    """POSTs each alert as JSON to ``url`` from a background thread, retrying
    ``retries`` times with exponential backoff on connection errors, timeouts and 5xx/429.

    Each POST carries an ``Idempotency-Key`` header, also in the body as ``alert_id``: it
    is the same for every copy of one alert (a retry of a POST the receiver got but
    answered too late, or the same threshold raised on several machines while Redis was
    down: one process per machine sends it), so the receiver can keep the first. An alert given up is logged as an error
    that names it; logs show the URL's host, never its path.

    Alerts still queued when the interpreter exits are delivered first, within the
    package's exit deadline (``LLM_COST_HOOKS_EXIT_TIMEOUT``); any left then are logged as
    an error and counted in ``failed``. An alert is raised by one process of those sharing
    a budget, so one that a process raised and never sent would reach no one.

    >>> sink = WebhookSink("http://127.0.0.1:9/hook", retries=0)
    >>> sink.close()
    """

    def __init__(
        self,
        url: str,
        *,
        retries: int = 3,
        backoff: float = 0.2,
        timeout: float = 2.0,
        headers: Mapping[str, str] | None = None,
        max_queue: int = 1000,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            # Only up to the first '/': a webhook's path often is its secret (Slack, Teams).
            shown = url.split("/", 1)[0][:40]
            raise ConfigurationError(f"webhook url must start with http:// or https://, got {shown!r}/...")
        # A negative retry count would silently send nothing.
        check_number("WebhookSink", "retries", retries, at_least=0)
        check_number(
            "WebhookSink", "backoff", backoff, at_least=0, hint="pass the seconds to wait between attempts"
        )
        check_number("WebhookSink", "timeout", timeout, above=0, hint="pass the seconds one attempt may take")
        check_number("WebhookSink", "max_queue", max_queue, at_least=1)
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[tuple[AlertEvent, _Done | None] | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._worker, name="llm-cost-hooks-webhook", daemon=True)
        self._thread.start()
        _shutdown.register(_shutdown.ALERTS, self, _flush_at_exit)

    def send(self, event: AlertEvent) -> None:
        self._send(event, None)

    def _send(self, event: AlertEvent, done: _Done | None) -> None:
        try:
            self._queue.put_nowait((event, done))
        except queue.Full:
            if done is not None:
                done.tick()
            self.failed += 1
            logger.error(
                "llm-cost-hooks: budget alert dropped: the queue of webhook %s is full (%d alerts "
                "waiting; a slow or failing receiver): %s",
                _origin(self.url),
                self._queue.maxsize,
                event.message,
            )

    def _post(self, body: bytes, key: str) -> None:
        headers = {**self.headers, "Idempotency-Key": key}
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()

    def _worker(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            event, done = item
            try:
                self._deliver(event)
            finally:
                if done is not None:
                    done.tick()
                self._queue.task_done()

    def _deliver(self, event: AlertEvent) -> None:
        key = _alert_id(event)
        body = json.dumps(
            {**event.model_dump(mode="json"), "message": event.message, "alert_id": key}
        ).encode()
        for attempt in range(self.retries + 1):
            try:
                self._post(body, key)
                self.delivered += 1
                break
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    self._lost(event, f"{error}, not retried", attempt + 1)
                    break
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                error = f"{type(reason).__name__}: {reason}"
            if attempt == self.retries:
                self._lost(event, error, attempt + 1)
            else:
                time.sleep(self.backoff * (2**attempt))

    def _lost(self, event: AlertEvent, error: str, attempts: int) -> None:
        self.failed += 1
        logger.error(
            "llm-cost-hooks: budget alert not delivered to webhook %s after %d attempt(s) (%s): %s",
            _origin(self.url),
            attempts,
            error,
            event.message,
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued alerts are delivered or given up."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


def _flush_at_exit(sink: WebhookSink, deadline: float) -> None:
    # The delivery thread is a daemon (it never holds up an exit on its own): give the
    # queued alerts their chance here, and say how many never left.
    if not sink._thread.is_alive() or not sink._queue.unfinished_tasks:
        return
    if not sink.flush(max(deadline - time.monotonic(), 0.0)):
        left = sink._queue.unfinished_tasks
        sink.failed += left
        logger.error(
            "llm-cost-hooks: %d budget alert(s) for webhook %s were not delivered before the process exited",
            left,
            _origin(sink.url),
        )


class AnomalyRule(ConfigModel):
    """Alert when spend in the current clock hour exceeds ``factor`` x the mean hourly
    spend of the ``trailing_hours`` before it, for each value of ``scope``.

    ``baseline="cycle"`` compares the hour with the same hour of the day and of the week
    instead (see :func:`anomaly_cycle_threshold`): traffic with quiet nights and weekends
    raises no alert for its busy hours, and no hour alarms unless it is at least
    ``floor_usd`` above what is usual. Its hourly sums are kept four weeks.

    The mean covers only hours the scope value has existed: a new tenant's baseline
    starts after its first hour with spend (that hour is partial), and no alert fires
    before ``min_history_hours`` such hours have passed. Checks run on the guard's
    clock, at most every ``check_interval_seconds`` per scope value; spend that arrives
    between checks is checked by a timer when the interval is over, so a burst followed
    by silence is still alerted.

    >>> AnomalyRule(scope="tenant", factor=2.0).trailing_hours
    24
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: Literal["tenant", "feature", "route", "user", "global"] = "tenant"
    factor: float = Field(2.0, gt=1.0)
    trailing_hours: int = Field(24, ge=1, le=24 * 14)
    min_history_hours: int = Field(3, ge=1)
    check_interval_seconds: float = Field(5.0, ge=0)
    baseline: Literal["trailing_mean", "cycle"] = "trailing_mean"
    floor_usd: float = Field(0.25, ge=0)


Timer = Callable[[float, Callable[[], object]], Any]


#: The package's own sinks, which never block the caller: called inline.
_INLINE_SINKS = (LoggingSink, SpanEventSink, WebhookSink)
#: Those of them that deliver on the caller's thread, also after ``AlertManager.close()``.
_NEVER_BLOCK = (LoggingSink, SpanEventSink)


def _thread_timer(delay: float, fn: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(max(delay, 0.0), fn)
    timer.daemon = True
    timer.start()
    return timer


class AlertManager:
    """Fans alerts out to sinks and metric hooks; a failing sink never breaks a call.

    ``close(timeout)`` (or leaving a ``with`` block) delivers what is queued for the
    sinks that deliver later (your own sinks, :class:`WebhookSink`), stops their threads
    and names, in an ERROR log, each alert it could not deliver in time; ``undelivered``
    counts them. The package does this at interpreter exit, within the exit deadline, for
    a manager not closed before. An alert raised after ``close()`` goes to the log and
    span sinks and the metric hooks as usual; the sinks that deliver later refuse it with
    an ERROR that names it, and it is counted in ``undelivered``.

    >>> events = []
    >>> with AlertManager(sinks=[CallbackSink(events.append)], log=False, span_events=False) as manager:
    ...     len(manager.sinks)
    1
    >>> manager.closed, manager.undelivered
    (True, 0)
    """

    def __init__(
        self,
        sinks: Sequence[AlertSink | Callable[[AlertEvent], Any]] = (),
        *,
        log: bool = True,
        span_events: bool = True,
        anomaly: AnomalyRule | None = None,
        metric_hooks: Sequence[MetricHook] = (),
        timer: Timer | None = None,
        sink_timeout: float = 0.5,
    ) -> None:
        check_number(
            "AlertManager",
            "sink_timeout",
            sink_timeout,
            at_least=0,
            hint="pass the seconds a call waits for a sink",
        )
        self.sinks: list[AlertSink] = []
        #: Seconds a call waits for a sink of yours before going on (see the module doc).
        self.sink_timeout = sink_timeout
        self._threads: dict[int, _SinkThread] = {}
        self._lock = threading.Lock()
        self._exit_hook = False
        #: Alerts that a sink which delivers later did not get: not delivered by ``close()``
        #: within its timeout, or raised after it.
        self.undelivered = 0
        #: True once ``close()`` ran (or the package closed the manager at exit).
        self.closed = False
        for sink in sinks:
            self.add_sink(sink)
        if log:
            self.sinks.append(LoggingSink())
        if span_events:
            self.sinks.append(SpanEventSink())
        self.anomaly = anomaly
        self.metric_hooks: list[MetricHook] = list(metric_hooks)
        #: ``timer(delay_seconds, fn)`` runs ``fn`` later (anomaly checks after a burst);
        #: a daemon :class:`threading.Timer` by default. A replacement may instead call
        #: ``SpendGuard.check_anomalies()`` from its own scheduler.
        self.timer: Timer = timer or _thread_timer

    def add_sink(self, sink: AlertSink | Callable[[AlertEvent], Any]) -> None:
        if isinstance(sink, AlertSink):
            self.sinks.append(sink)
        elif callable(sink):
            self.sinks.append(CallbackSink(sink))
        else:
            raise ConfigurationError(
                f"an alert sink needs send(event) or must be callable; got {type(sink).__name__}."
            )

    def add_metric_hook(self, hook: MetricHook) -> None:
        self.metric_hooks.append(hook)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every sink that delivers later (``flush()``, e.g. :class:`WebhookSink`)
        has delivered or given up on what it was sent; False if one is still busy."""
        deadline = time.monotonic() + timeout
        done = True
        for sink in [*self.sinks, *self._threads.values()]:
            flush = getattr(sink, "flush", None)
            if callable(flush):
                done = bool(flush(max(deadline - time.monotonic(), 0.0))) and done
        return done

    def emit(self, event: AlertEvent, delivered: Callable[[], object] | None = None) -> None:
        """Hand ``event`` to every sink; ``delivered()``, if given, is called once every
        sink is done with it (the sinks that deliver later: once they delivered it or gave
        up on it, with an error logged)."""
        done = None
        if delivered is not None:
            later = [s for s in self.sinks if not isinstance(s, _NEVER_BLOCK)]
            done = _Done(1 + len(later), delivered)  # the extra tick: after this loop
        for sink in self.sinks:
            try:
                if self.closed and not isinstance(sink, _NEVER_BLOCK):
                    # Delivering inline could hold up a shutdown on a sink that hangs, and
                    # a new thread would outlive close(): refuse, loudly.
                    self.undelivered += 1
                    logger.error(
                        "llm-cost-hooks: budget alert raised after AlertManager.close(), not "
                        "delivered to sink %r: %s",
                        sink,
                        event.message,
                    )
                    if done is not None:
                        done.tick()
                elif isinstance(sink, WebhookSink):
                    sink._send(event, done)
                elif isinstance(sink, _INLINE_SINKS):  # return at once; the span sink needs this thread
                    sink.send(event)
                else:
                    self._thread_of(sink).send(event, done)
            except Exception:
                logger.exception("llm-cost-hooks: alert sink %r failed", sink)
                if done is not None and not isinstance(sink, _NEVER_BLOCK):
                    done.tick()
        if done is not None:
            done.tick()
        self.metric("llm_cost_hooks.budget.alerts", 1.0, event.attributes())

    def _thread_of(self, sink: AlertSink) -> _SinkThread:
        thread = self._threads.get(id(sink))
        if thread is None or thread.sink is not sink:
            with self._lock:
                thread = self._threads[id(sink)] = _SinkThread(sink, self.sink_timeout)
                if not self._exit_hook:
                    self._exit_hook = True
                    _shutdown.register(_shutdown.ALERTS, self, _close_at_exit)
        return thread

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued for the sinks that deliver later (your own sinks and
        :class:`WebhookSink`) within ``timeout`` seconds, then stop their threads. Each
        alert not delivered by then is named in an ERROR log and counted in
        ``undelivered``; a sink still blocked is not waited for beyond ``timeout``.
        Returns True when everything was delivered; calling it again does nothing and
        returns True."""
        return self._close_until(time.monotonic() + timeout)

    def _close_until(self, deadline: float) -> bool:
        with self._lock:
            if self.closed:
                return True
            self.closed = True
            threads = list(self._threads.values())
            self._threads.clear()
        lost: list[tuple[Any, list[AlertEvent] | int]] = []
        for thread in threads:
            missed = thread.stop(deadline)
            if missed:
                lost.append((thread.sink, missed))
        for sink in self.sinks:
            if isinstance(sink, WebhookSink) and sink._thread.is_alive():
                if sink.flush(max(deadline - time.monotonic(), 0.0)):
                    sink.close()
                else:  # its thread goes on trying (a daemon): this only says it was late
                    lost.append((sink, sink._queue.unfinished_tasks))
        for sink, events in lost:
            count = events if isinstance(events, int) else len(events)
            self.undelivered += count
            where = f"webhook {_origin(sink.url)}" if isinstance(sink, WebhookSink) else f"sink {sink!r}"
            names = "" if isinstance(events, int) else ": " + "; ".join(e.message for e in events[:20])
            more = f" (and {count - 20} more)" if not isinstance(events, int) and count > 20 else ""
            logger.error(
                "llm-cost-hooks: %d budget alert(s) not delivered to %s before AlertManager.close() "
                "timed out%s%s",
                count,
                where,
                names,
                more,
            )
        return not lost

    def __enter__(self) -> AlertManager:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    def metric(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        for hook in self.metric_hooks:
            try:
                hook(name, value, attributes)
            except Exception:
                logger.exception("llm-cost-hooks: metric hook %r failed", hook)


class _SinkThread:
    """Delivers to one user sink on its own thread, in order. A sink that blocks (a
    callback posting to a dead host) holds up the call raising an alert for at most
    ``wait`` seconds, once: while it stays blocked, alerts queue up without waiting."""

    def __init__(self, sink: AlertSink, wait: float) -> None:
        self.sink = sink
        self.wait = wait
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pid = 0
        self._queue: collections.deque[tuple[AlertEvent, threading.Event, _Done | None]] = collections.deque()
        self._current: AlertEvent | None = None  # being sent right now
        self._pending = 0  # queued + being sent
        self._stuck = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def send(self, event: AlertEvent, after: _Done | None = None) -> None:
        done = threading.Event()
        with self._lock:
            if self._pid != os.getpid():  # the first alert, or in a forked child
                self._queue, self._pending, self._stuck, self._current = collections.deque(), 0, False, None
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._run, name="llm-cost-hooks-alert-sink", daemon=True
                )
                self._thread.start()
                self._pid = os.getpid()
            self._pending += 1
            stuck = self._stuck
            self._queue.append((event, done, after))
            self._cond.notify()
        if stuck or done.wait(self.wait):
            return
        with self._lock:
            if done.is_set():
                return
            self._stuck = True
        logger.error(
            "llm-cost-hooks: alert sink %r did not return within %.1f s; calls go on without "
            "waiting for it, and its alerts are queued until it returns",
            self.sink,
            self.wait,
        )

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:  # stopping, and everything was delivered
                    return
                event, done, after = self._queue.popleft()
                self._current = event
            try:
                self.sink.send(event)
            except Exception:
                logger.exception("llm-cost-hooks: alert sink %r failed", self.sink)
            finally:
                with self._lock:
                    self._current = None
                    self._pending -= 1
                    if self._stuck and self._pending == 0:
                        self._stuck = False
                        logger.warning("llm-cost-hooks: alert sink %r returned; alerts delivered", self.sink)
                    self._cond.notify_all()
                done.set()
                if after is not None:
                    after.tick()

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending and self._pid == os.getpid():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return not self._pending or self._pid != os.getpid()

    def stop(self, deadline: float) -> list[AlertEvent]:
        """Deliver what is queued until ``deadline``, then stop the thread; returns the
        alerts not delivered by then (queued, or in a send that has not returned). Those
        still queued are dropped, so a sink that returns late does not send them after
        they were reported lost."""
        with self._lock:
            if self._pid != os.getpid() or self._thread is None:
                return []
            self._stopping = True
            self._cond.notify_all()
        self.flush(max(deadline - time.monotonic(), 0.0))
        with self._lock:
            lost = ([] if self._current is None else [self._current]) + [event for event, _, _ in self._queue]
            self._queue.clear()
            self._pending = 0 if self._current is None else 1
            thread, self._pid = self._thread, 0
            self._thread = None
            self._cond.notify_all()
        if thread is not None and not lost:
            thread.join(max(deadline - time.monotonic(), 0.0))
        return lost


def _close_at_exit(manager: AlertManager, deadline: float) -> None:
    # The sink threads are daemons (they never hold up an exit on their own): queued alerts
    # get their turn here, and those that cannot be delivered by the deadline are named.
    manager._close_until(deadline)


def anomaly_baseline(history: Sequence[int], rule: AnomalyRule) -> float | None:
    """The mean hourly spend to compare the current hour with, or ``None`` when the scope
    value has not existed long enough. ``history`` holds the ``trailing_hours + 1`` hours
    before the current one, oldest first: the extra first hour tells a scope value older
    than the window (its silent hours count) from a new one (its first, partial, hour
    and the hours before it do not count).

    >>> rule = AnomalyRule(trailing_hours=6, min_history_hours=3)
    >>> anomaly_baseline([0, 0, 0, 40, 100, 100], rule) is None  # 2 full hours so far
    True
    >>> anomaly_baseline([0, 0, 40, 100, 100, 100, 100], rule)
    100.0
    >>> anomaly_baseline([5, 0, 0, 0, 0, 60, 60], rule)  # older than the window
    20.0
    """
    first = next((i for i, v in enumerate(history) if v > 0), None)
    if first is None:
        return None
    hours = list(history[1:]) if first == 0 else list(history[first + 1 :])
    if len(hours) < rule.min_history_hours:
        return None
    mean = sum(hours) / len(hours)
    return mean if mean > 0 else None


#: Hours before the current one that the cycle baseline reads: the last 24, the same hour
#: on each of the 14 days before, in the 3rd and 4th week before, and 12 hours off the same
#: hour 3 to 14 days before (they tell the scope value's age when it never spends at this hour).
_CYCLE_BACK = (
    *range(24, 0, -1),
    *(24 * d for d in range(1, 15)),
    24 * 21,
    24 * 28,
    *(24 * d - 12 for d in range(4, 15)),
)
_CYCLE_TTL_HOURS = 24 * 28 + 3
# Fixed parts of the cycle rule, chosen on the generated traffic of bench/alerts_anomaly.py.
_CYCLE_MAD_K = 3.0  # above the usual hour by 3 robust deviations of that hour
_CYCLE_HIGH = 2.0  # and above 2x its second largest value of the last 14 days
_CYCLE_EXCESS = 2.0  # and above it by at least 2x the trailing 24-hour mean


def anomaly_cycle_threshold(history: Sequence[int], rule: AnomalyRule) -> tuple[float, float] | None:
    """(usual spend for this hour, threshold) for ``AnomalyRule(baseline="cycle")``, or
    ``None`` when the scope value is too new (under ``min_history_hours``). ``history``
    holds the hourly sums of the hours ``_CYCLE_BACK`` lists: 24, 23, ... 1 hour before the
    current one, then 1, 2, ... 14 days before it, 3 and 4 weeks before it, and 3.5, 4.5,
    ... 13.5 days before it.

    The usual spend is the larger of the median of the same hour over the days there are
    (up to 14) and, from two weeks on, of the same hour of the week; the hour alarms above
    ``max(factor x usual, usual + 3 x MAD, 2 x the second largest same hour)`` when it is
    also ``floor_usd`` and twice the trailing 24-hour mean above the usual. Under three
    days of history, the usual spend is the busiest of the last 24 hours.

    >>> rule = AnomalyRule(baseline="cycle", factor=2.5)
    >>> night, day = 10_000_000, 2_000_000_000  # 0.01 and 2 USD an hour
    >>> quiet = [night] * 24 + [night] * 14 + [night] * 2 + [day] * 11  # quiet every day
    >>> usual, threshold = anomaly_cycle_threshold(quiet, rule)
    >>> usual, threshold / 1e9  # an alert needs more than 0.25 USD above the usual
    (10000000.0, 0.26)
    """
    recent = list(history[:24])
    days = list(history[24:38])
    weeks_34 = list(history[38:40])
    # The scope value's age: from the oldest of these hours that had spend.
    ages = [24 - i for i, v in enumerate(recent) if v > 0]
    ages += [24 * d for d, v in enumerate(days, 1) if v > 0]
    ages += [24 * 7 * w for w, v in zip((3, 4), weeks_34) if v > 0]
    ages += [24 * d - 12 for d, v in zip(range(4, 15), history[40:51]) if v > 0]
    lived = max(ages, default=0) - 1  # the first hour with spend is partial
    if lived < rule.min_history_hours:
        return None
    floor = rule.floor_usd * NANO
    need = max(floor, _CYCLE_EXCESS * sum(recent) / 24)
    if lived < 3 * 24:
        usual = float(max(recent))
        return usual, max(rule.factor * usual, usual + need)
    same = sorted(v for d, v in enumerate(days, 1) if 24 * d <= lived + 1)
    mid = len(same) // 2
    median = same[mid] if len(same) % 2 else (same[mid - 1] + same[mid]) / 2
    deviations = sorted(abs(v - median) for v in same)
    mad = 1.4826 * (deviations[mid] if len(same) % 2 else (deviations[mid - 1] + deviations[mid]) / 2)
    weekly = [v for w, v in zip((1, 2, 3, 4), (days[6], days[13], *weeks_34)) if 24 * 7 * w <= lived + 1]
    usual = float(median)
    if len(weekly) >= 2:
        weekly.sort()
        half = len(weekly) // 2
        usual = max(usual, weekly[half] if len(weekly) % 2 else (weekly[half - 1] + weekly[half]) / 2)
    top = same[-2] if len(same) >= 2 else 0
    threshold = max(rule.factor * usual, usual + _CYCLE_MAD_K * mad, _CYCLE_HIGH * top, usual + need)
    return usual, threshold


class AnomalyMonitor:
    """Hourly spend per scope value and the anomaly checks of one guard.

    ``store`` keeps the hourly sums (shared across processes with Redis); ``fire(event,
    flag, ttl)`` delivers an event once per flag. Time is ``clock()`` (the guard's).
    """

    def __init__(
        self,
        manager: AlertManager,
        store: Any,
        clock: Callable[[], float],
        fire: Callable[[AlertEvent, str, int], None],
    ) -> None:
        self.manager = manager
        self.store = store
        self.clock = clock
        self.fire = fire
        self._last_check: dict[str, float] = {}
        self._pending: dict[str, int] = {}  # scope key -> hour with spend not yet checked
        self._timer_set = False
        self._lock = threading.Lock()
        self._prune_at = 10_000

    def _scope_key(self, key_part: str) -> str:
        rule = self.manager.anomaly
        assert rule is not None
        return f"{rule.scope}:{key_part}"

    def _plan(self, scope_key: str, now: float) -> tuple[int, bool]:
        """(hour, check now?); when not now, the hour waits for the timer."""
        rule = self.manager.anomaly
        assert rule is not None
        hour = int(now // 3600)
        with self._lock:
            if len(self._last_check) > self._prune_at:
                # A check older than the interval decides nothing (the next spend is checked
                # at once either way): forget it, or every scope value ever seen stays.
                interval = rule.check_interval_seconds
                self._last_check = {k: t for k, t in self._last_check.items() if 0 <= now - t < interval}
                self._prune_at = max(10_000, 2 * len(self._last_check))
            last = self._last_check.get(scope_key)
            if last is None or now - last >= rule.check_interval_seconds or now < last:
                self._last_check[scope_key] = now
                self._pending.pop(scope_key, None)
                return hour, True
            self._pending[scope_key] = hour
            if self._timer_set:
                return hour, False
            self._timer_set = True
            delay = last + rule.check_interval_seconds - now
        try:
            self.manager.timer(delay, self.check_pending)
        except Exception:
            logger.exception("llm-cost-hooks: cannot start the anomaly check timer")
            with self._lock:
                self._timer_set = False
        return hour, False

    def _hours(self, hour: int) -> list[int]:
        rule = self.manager.anomaly
        assert rule is not None
        if rule.baseline == "cycle":
            return [hour - back for back in _CYCLE_BACK] + [hour]
        return list(range(hour - rule.trailing_hours - 1, hour + 1))

    @staticmethod
    def _ttl(rule: AnomalyRule) -> int:
        hours = _CYCLE_TTL_HOURS if rule.baseline == "cycle" else rule.trailing_hours + 3
        return hours * 3600

    def _event(self, scope_key: str, hour: int, series: Sequence[int]) -> tuple[AlertEvent, str, int] | None:
        rule = self.manager.anomaly
        assert rule is not None
        *history, current = series
        if rule.baseline == "cycle":
            found = anomaly_cycle_threshold(history, rule)
            if found is None or current <= found[1]:
                return None
            mean, name, reason = found[0], f"anomaly_cycle_x{rule.factor:g}", "cycle"
        else:
            trailing = anomaly_baseline(history, rule)
            if trailing is None or current <= rule.factor * trailing:
                return None
            mean, name, reason = trailing, f"anomaly_x{rule.factor:g}", None
        scope, _, part = scope_key.partition(":")
        event = AlertEvent(
            kind="anomaly",
            limit_name=name,
            scope=scope,
            scope_value=scope_value_of_key(part),
            period="hour",
            period_id=str(hour),
            spent=current / NANO,
            baseline=mean / NANO,
            reason=reason,
        )
        return event, f"anomaly:{scope_key}:{hour}", 3600

    def record(self, key_part: str, amount: int) -> tuple[AlertEvent, str, int] | None:
        """Add ``amount`` (nano-dollars) to the current hour of the scope value whose key form
        (``scope_key_part``) is ``key_part``; returns an event to fire
        (with its flag and ttl) when a check is due and finds an anomaly."""
        rule = self.manager.anomaly
        if rule is None:
            return None
        key = self._scope_key(key_part)
        now = self.clock()
        self.store.add_hourly(key, int(now // 3600), amount, self._ttl(rule))
        hour, due = self._plan(key, now)
        return self._event(key, hour, self.store.hourly(key, self._hours(hour))) if due else None

    async def arecord(self, key_part: str, amount: int) -> tuple[AlertEvent, str, int] | None:
        rule = self.manager.anomaly
        if rule is None:
            return None
        key = self._scope_key(key_part)
        now = self.clock()
        await self.store.aadd_hourly(key, int(now // 3600), amount, self._ttl(rule))
        hour, due = self._plan(key, now)
        return self._event(key, hour, await self.store.ahourly(key, self._hours(hour))) if due else None

    def check_pending(self) -> int:
        """Check every scope value with spend since its last check (the timer calls this;
        call it from your own scheduler if you replace the timer). Returns the number
        of scope values checked."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._timer_set = False
            now = self.clock()
            for key in pending:
                self._last_check[key] = now
        for key, hour in pending.items():
            try:
                found = self._event(key, hour, self.store.hourly(key, self._hours(hour)))
                if found is not None:
                    self.fire(*found)
            except Exception:
                logger.exception("llm-cost-hooks: anomaly check failed for %s", key)
        return len(pending)
