"""GenAI metrics plus cost and savings counters, kept off the caller's hot path.

Recording a measurement with the OpenTelemetry SDK validates and hashes its attributes
every time (~10 us each here); a model call makes four or more. So a model call only
queues its plain values (appended to a list per attribute key, no object kept per call);
the queue is turned into measurements when a metric reader collects (first thing in every observable counter's callback), or by a background
thread once the queue passes ``drain_at`` (so it stays bounded even when nothing collects):

* counters (dollars, and the ``latest`` token counters) are summed here, per attribute
  set (built once per combination), in call order, and reported through observable
  counters;
* histogram samples (durations, tokens per call) are grouped per instrument and attribute
  set and added to the SDK histograms' aggregations in one pass per group where the SDK
  shim allows it (one validated, hashed ``record`` per sample otherwise, ~20 us each): the
  exported counts, sums, min/max and buckets are the same as if recorded at call time.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
from itertools import compress, repeat
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import CallbackOptions, Observation

from .. import _shutdown
from .._records import CacheStatus, CostRecord
from ..ledger._base import RECORD_COLUMNS
from . import _sdk
from . import _semconv as sc
from ._limits import OVERFLOW_VALUE, AttributeLimiter

logger = logging.getLogger("llm_cost_hooks")

if TYPE_CHECKING:  # pragma: no cover
    from ..tracking import RunInfo
    from ._observer import OTelObserver

# Where record() reads a ledger row's values (record_row).
_MODEL, _TENANT, _FEATURE, _ROUTE, _ERROR_TYPE, _CACHE_STATUS, _COST, _SAVED, _LATENCY, _SUCCESS = (
    RECORD_COLUMNS.index(c)
    for c in (
        "model",
        "tenant",
        "feature",
        "route",
        "error_type",
        "cache_status",
        "cost_usd",
        "saved_usd",
        "latency_ms",
        "success",
    )
)
_TOKENS_FROM = RECORD_COLUMNS.index("input_tokens")
_TOKENS_TO = _TOKENS_FROM + 5
assert RECORD_COLUMNS[_TOKENS_TO - 1] == "reasoning_tokens"

# A queued model call: (model, provider, tenant, feature, route, error type, operation,
# cache status, cost, saved, latency ms, success, input, output, cache-read, cache-write,
# reasoning tokens).
_Call = tuple[Any, ...]
# The values queued per call after its attribute key: cache status, cost, saved, latency ms,
# success, input, output, cache-read, cache-write, reasoning tokens.
_WIDTH = 10
# Statuses under which the model was really called (a provider prefix cache still is).
_MODEL_CALLED = frozenset({"miss", "provider_prefix"})
# Histogram samples of one drain: (instrument id, attribute-set id) -> (instrument,
# attributes, values). The attribute dicts are the cached ones, kept alive by the entry.
_Samples = dict[tuple[int, int], tuple[Any, dict[str, Any], list[float]]]


def _money_attrs(
    attrs: dict[str, Any], by_status: dict[str, tuple[dict[str, Any], tuple[Any, ...]]], status: str
) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The cost metrics' attributes (and their key) of a call served with cache ``status``:
    the call's attributes plus the cache status, made once per status."""
    hit = by_status.get(status)
    if hit is None:
        money = {**attrs, sc.CACHE_STATUS: status}
        hit = by_status[status] = (money, tuple(money.items()))
    return hit


def _sample(samples: _Samples, histogram: Any, attrs: dict[str, Any], value: float) -> None:
    entry = samples.get((id(histogram), id(attrs)))
    if entry is None:
        samples[(id(histogram), id(attrs))] = (histogram, attrs, [value])
    else:
        entry[2].append(value)


def _sample_all(samples: _Samples, histogram: Any, attrs: dict[str, Any], values: list[float]) -> None:
    entry = samples.get((id(histogram), id(attrs)))
    if entry is None:
        samples[(id(histogram), id(attrs))] = (histogram, attrs, values)
    else:
        entry[2].extend(values)


def _add_all(
    totals: dict[tuple[Any, ...], list[Any]], attrs: dict[str, Any], values: list[Any], k: tuple[Any, ...]
) -> None:
    """``_Metrics._add`` for each value in turn (the same float sums). Called with the lock held."""
    slot = totals.get(k)
    if slot is None:
        slot = totals[k] = [attrs, values[0]]
        values = values[1:]
    slot[1] = _sdk.sequential_sum(values, slot[1])  # left to right, as a loop of += would


class _Metrics:
    def __init__(
        self,
        meter: Any,
        names: sc.Names,
        limiter: AttributeLimiter,
        owner: OTelObserver,
        *,
        max_queue: int = 65_536,
        drain_at: int = 8_192,
    ) -> None:
        self.names = names
        self.limiter = limiter
        self.owner = owner
        self._legacy = names.mode == "legacy"
        # Model calls not yet turned into measurements: per attribute key (model, provider,
        # tenant, feature, route, error type, operation), the calls' plain values one after
        # the other, _WIDTH per call (see _queue_call). No object is kept per call for the
        # garbage collector to walk until the drain, and the drain reads them column by column.
        self._queued: dict[tuple[Any, ...], list[Any]] = {}
        self._odd: list[_Call] = []  # calls whose key cannot be hashed, measured one by one
        self._count = 0
        self._queue_lock = threading.Lock()
        self._max_queue = max_queue
        self._drain_at = drain_at
        self._wake = threading.Event()
        self._drainer: threading.Thread | None = None
        self._drain_lock = threading.Lock()
        self._lock = threading.Lock()
        # (attribute-set id) -> [attrs, value]; cumulative, as observable counters report.
        self._cost: dict[tuple[Any, ...], list[Any]] = {}
        self._saved: dict[tuple[Any, ...], list[Any]] = {}
        self._usage: dict[str, dict[tuple[Any, ...], list[Any]]] = {}
        self._attr_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        _shutdown.after_fork_in_child(self, _Metrics._after_fork_in_child)

        # Every instrument made here: a forked child resets their SDK state (see _after_fork_in_child).
        self._instruments: list[Any] = []
        self.duration = meter.create_histogram(
            names.duration_metric,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        if self._legacy:
            self.token_usage = meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
            )
        else:
            self.op_input = meter.create_histogram(
                "gen_ai.client.inference.operation.input_tokens",
                unit="{token}",
                description="Input tokens per inference operation.",
                explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
            )
            self.op_output = meter.create_histogram(
                "gen_ai.client.inference.operation.output_tokens",
                unit="{token}",
                description="Output tokens per inference operation.",
                explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
            )
            for suffix, field, desc in (
                ("input_tokens", "input_tokens", "Input tokens used, including cached tokens."),
                ("output_tokens", "output_tokens", "Output tokens used, including reasoning tokens."),
                (
                    "cache_read.input_tokens",
                    "cache_read_tokens",
                    "Input tokens served from a provider cache.",
                ),
                (
                    "cache_write.input_tokens",
                    "cache_write_tokens",
                    "Input tokens written to a provider cache.",
                ),
                ("reasoning.output_tokens", "reasoning_tokens", "Output tokens used for reasoning."),
            ):
                totals: dict[tuple[Any, ...], list[Any]] = {}
                self._usage[field] = totals
                counter = meter.create_observable_counter(
                    f"gen_ai.client.inference.usage.{suffix}",
                    callbacks=[self._observe(totals)],
                    unit="{token}",
                    description=desc,
                )
                self._instruments.append(counter)
        # In the order of the token counts of a queued call (see record).
        self._usage_totals = [
            self._usage[f]
            for f in (
                "input_tokens",
                "output_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
            )
            if f in self._usage
        ]
        # Every counter's callback drains the queue first: the first one runs at the start
        # of a collection, before the SDK reads its histograms.
        cost = meter.create_observable_counter(
            sc.METRIC_COST,
            callbacks=[self._observe(self._cost)],
            unit="{USD}",
            description="Dollars billed for model calls (llm-cost-hooks price book).",
        )
        saved = meter.create_observable_counter(
            sc.METRIC_SAVED,
            callbacks=[self._observe(self._saved)],
            unit="{USD}",
            description="Dollars saved by caches and other levers.",
        )
        histograms = (
            [self.duration, self.token_usage]
            if self._legacy
            else [self.duration, self.op_input, self.op_output]
        )
        self._instruments += [*histograms, cost, saved]

    # -- hot path -----------------------------------------------------------------------------
    def record(self, run: RunInfo, record: CostRecord) -> None:
        """Queue a model call's measurements (the caller's only metric work)."""
        v = record.__dict__  # one dict read per field, not pydantic's attribute machinery
        status = v["cache_status"]
        self._queue_call(
            (
                v["model"],
                run.provider,
                v["tenant"],
                v["feature"],
                v["route"],
                v["error_type"],
                "text_completion" if isinstance(run.messages, str) else "chat",
            ),
            (
                status._value_ if type(status) is CacheStatus else str(status),  # no enum property
                v["cost_usd"],
                v["saved_usd"],
                v["latency_ms"],
                v["success"],
                v["input_tokens"],
                v["output_tokens"],
                v["cache_read_tokens"],
                v["cache_write_tokens"],
                v["reasoning_tokens"],
            ),
        )

    def record_row(self, run: RunInfo, row: tuple[Any, ...]) -> None:
        """:meth:`record` from the call's ledger row (``RECORD_COLUMNS`` order)."""
        self._queue_call(
            (
                row[_MODEL],
                run.provider,
                row[_TENANT],
                row[_FEATURE],
                row[_ROUTE],
                row[_ERROR_TYPE],
                "text_completion" if isinstance(run.messages, str) else "chat",
            ),
            (
                row[_CACHE_STATUS],  # the status's value
                row[_COST],
                row[_SAVED],
                row[_LATENCY],
                row[_SUCCESS] == 1,
                row[_TOKENS_FROM],
                row[_TOKENS_FROM + 1],
                row[_TOKENS_FROM + 2],
                row[_TOKENS_FROM + 3],
                row[_TOKENS_FROM + 4],
            ),
        )

    def _queue_call(self, key: tuple[Any, ...], values: tuple[Any, ...]) -> None:
        # acquire / release rather than ``with``: half the cost of the lock, once per call.
        lock = self._queue_lock
        lock.acquire()
        try:
            if self._count >= self._max_queue:
                dropped = True
            else:
                dropped = False
                self._count += 1
                try:
                    column = self._queued.get(key)
                except TypeError:  # an unhashable value
                    self._odd.append(key + values)
                else:
                    if column is None:
                        self._queued[key] = list(values)
                    else:
                        column += values
            count = self._count
        finally:
            lock.release()
        if dropped:
            self.owner.stats.add("metric_measurements_dropped")
        elif count >= self._drain_at and not self._wake.is_set():
            self._start_drainer()
            self._wake.set()

    # -- turning queued calls into measurements (collection / drainer thread) -----------------
    def _attrs_for(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """(base, input-token, output-token attribute sets, the keys of the first two, and
        the dollar sets per cache status) of ``key`` = (model, provider, tenant, feature,
        route, error type, operation), built once per combination."""
        cached = self._attr_cache.get(key)
        if cached is not None:
            return cached
        model, provider, tenant, feature, route, error_type, op = key
        lim = self.limiter.limit
        attrs: dict[str, Any] = {sc.OPERATION: op, sc.REQUEST_MODEL: lim("model", model)}
        provider_name = sc.provider_name(provider)
        if provider_name:
            attrs[self.names.provider] = provider_name
        if tenant:
            attrs[sc.TENANT] = lim("tenant", tenant)
        if feature:
            attrs[sc.FEATURE] = lim("feature", feature)
        if route:
            attrs[sc.ROUTE] = lim("route", route)
        if error_type:
            attrs[sc.ERROR_TYPE] = error_type
        if self._legacy:
            in_attrs = {**attrs, sc.TOKEN_TYPE: "input"}
            out_attrs = {**attrs, sc.TOKEN_TYPE: "output"}
        else:
            in_attrs = out_attrs = {**attrs, sc.TOKEN_MODALITY: "unknown"}
        # The last: cache status -> the dollar counters' attribute set (base + status) and key.
        by_status: dict[str, tuple[dict[str, Any], tuple[Any, ...]]] = {}
        sets = (attrs, in_attrs, out_attrs, tuple(attrs.items()), tuple(in_attrs.items()), by_status)
        # Combinations with an overflowed value are not cached (their key is unbounded);
        # the others are bounded by the limiter, the cap is a second guard.
        if OVERFLOW_VALUE not in attrs.values() and len(self._attr_cache) < 10_000:
            self._attr_cache[key] = sets
        return sets

    def _add(
        self,
        totals: dict[tuple[Any, ...], list[Any]],
        attrs: dict[str, Any],
        value: float,
        k: tuple[Any, ...] | None = None,
    ) -> None:
        # Keyed by the attribute values so "_other" combinations share one series.
        # Called with self._lock held.
        if k is None:
            k = tuple(attrs.items())
        slot = totals.get(k)
        if slot is None:
            totals[k] = [attrs, value]
        else:
            slot[1] += value

    def _measure(self, call: _Call, samples: _Samples) -> None:
        attrs, in_attrs, out_attrs, key, in_key, by_status = self._attrs_for(call[:7])
        status, cost, saved, latency_ms, success = call[7:12]
        money, money_key = (attrs, key) if status == "miss" else _money_attrs(attrs, by_status, status)
        model_called = status in _MODEL_CALLED
        input_tokens, output_tokens = call[12], call[13]
        with self._lock:
            if cost:
                self._add(self._cost, money, cost, money_key)
            if saved:
                self._add(self._saved, money, saved, money_key)
            if model_called and not self._legacy:
                for count, totals in zip(call[12:], self._usage_totals):
                    if count:
                        self._add(totals, in_attrs, count, in_key)
        if not model_called:
            return  # served from our cache / deduplicated: no model call, not a GenAI operation
        if latency_ms is not None:
            _sample(samples, self.duration, attrs, latency_ms / 1000.0)
        if self._legacy:
            if input_tokens or success:
                _sample(samples, self.token_usage, in_attrs, input_tokens)
            if success:
                _sample(samples, self.token_usage, out_attrs, output_tokens)
        else:
            if input_tokens or success:
                _sample(samples, self.op_input, attrs, input_tokens)
            if success:
                _sample(samples, self.op_output, attrs, output_tokens)

    def _measure_columns(self, key: tuple[Any, ...], values: list[Any], samples: _Samples) -> int:
        """:meth:`_measure` for the calls queued under ``key`` (``values``: _WIDTH per call),
        column by column when they share their cache status: the same sums (added in call
        order) and the same samples in the same order. Returns how many calls."""
        columns = [values[i::_WIDTH] for i in range(_WIDTH)]
        statuses = columns[0]
        status = statuses[0]
        if statuses.count(status) != len(statuses):
            return self._measure_each(key, columns, samples)
        try:
            attrs, in_attrs, out_attrs, attrs_key, in_key, by_status = self._attrs_for(key)
            money, money_key = (
                (attrs, attrs_key) if status == "miss" else _money_attrs(attrs, by_status, status)
            )
            model_called = status in _MODEL_CALLED
            # Filtered and converted in C (filter, map, compress): the same values in order.
            costs = list(filter(None, columns[1]))
            saved = list(filter(None, columns[2]))
            usage = (
                [list(filter(None, column)) for column in columns[5:]]
                if model_called and not self._legacy
                else []
            )
            if model_called:
                latencies = columns[3]
                if None in latencies:
                    latencies = [ms for ms in latencies if ms is not None]
                durations = list(map(operator.truediv, latencies, repeat(1000.0)))
                success = columns[4]
                if all(success):
                    inputs, outputs = columns[5], columns[6]
                else:
                    inputs = [t for t, ok in zip(columns[5], success) if t or ok]
                    outputs = list(compress(columns[6], success))
        except Exception:  # nothing added yet: call by call, errors counted per call
            return self._measure_each(key, columns, samples)
        with self._lock:
            if costs:
                _add_all(self._cost, money, costs, money_key)
            if saved:
                _add_all(self._saved, money, saved, money_key)
            for counts, totals in zip(usage, self._usage_totals):
                if counts:
                    _add_all(totals, in_attrs, counts, in_key)
        if model_called:  # else served from our cache / deduplicated: not a GenAI operation
            if durations:
                _sample_all(samples, self.duration, attrs, durations)
            if self._legacy:
                if inputs:
                    _sample_all(samples, self.token_usage, in_attrs, inputs)
                if outputs:
                    _sample_all(samples, self.token_usage, out_attrs, outputs)
            else:
                if inputs:
                    _sample_all(samples, self.op_input, attrs, inputs)
                if outputs:
                    _sample_all(samples, self.op_output, attrs, outputs)
        return len(statuses)

    def _measure_each(self, key: tuple[Any, ...], columns: list[list[Any]], samples: _Samples) -> int:
        n = 0
        for values in zip(*columns):
            try:
                self._measure(key + values, samples)
                n += 1
            except Exception:
                self.owner.stats.add("observer_errors")
        return n

    def _record_samples(self, samples: _Samples) -> None:
        """Hand the drained histogram samples to the SDK, one batch per instrument and
        attribute set where the shim can add them in one pass (see
        :func:`._sdk.histogram_merge`), else one ``record`` per sample."""
        for histogram, attrs, values in samples.values():
            try:
                # Every value finite and >= 0: the smallest one >= 0 and a finite sum (a NaN
                # or an infinity makes the sum NaN or infinite).
                clean = min(values) >= 0 and math.isfinite(sum(values))
                if not clean or not _sdk.histogram_merge(histogram, attrs, values):
                    for value in values:  # the SDK warns about and drops invalid ones
                        histogram.record(value, attrs)
            except Exception:
                self.owner.stats.add("observer_errors")

    # -- collection side ----------------------------------------------------------------------
    def drain(self) -> int:
        """Turn queued model calls into measurements. Returns how many calls."""
        n = 0
        samples: _Samples = {}
        with self._drain_lock:
            with self._queue_lock:
                queued, self._queued = self._queued, {}
                odd, self._odd = self._odd, []
                self._count = 0
            for key, values in queued.items():
                n += self._measure_columns(key, values, samples)
            for call in odd:
                try:
                    self._measure(call, samples)
                    n += 1
                except Exception:
                    self.owner.stats.add("observer_errors")
            self._record_samples(samples)
        return n

    def _observe(self, totals: dict[tuple[Any, ...], list[Any]]) -> Any:
        def callback(options: CallbackOptions) -> list[Observation]:
            self.drain()
            with self._lock:
                return [Observation(value, attrs) for attrs, value in totals.values()]

        return callback

    def _after_fork_in_child(self) -> None:
        # The parent's drainer thread does not exist in a forked child: start a new one
        # on demand, with locks no parent thread can be holding.
        self._drainer = None
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        # A forked child is a new process (the SDK gives it its own service.instance.id):
        # its cumulative counters start at zero, or a collector would count the parent's
        # dollars and tokens again for every worker. The parent still reports those, and
        # its calls still queued here too.
        self._queued, self._odd, self._count = {}, [], 0
        for totals in (self._cost, self._saved, *self._usage.values()):
            totals.clear()  # in place: the counters' callbacks hold these dicts
        # The SDK keeps the parent's points too (histogram samples, and what a delta reader
        # last reported of each counter): the child's first export would repeat them, or
        # report a negative delta, under the child's new service.instance.id.
        if not _sdk.forget_inherited_points(self._instruments):
            logger.warning(
                "llm-cost-hooks: this forked process could not reset the metric points it "
                "inherited (opentelemetry-sdk %s is not one this release was tested with); "
                "its GenAI histograms include its parent's measurements",
                ".".join(map(str, _sdk.installed_sdk_version() or ("unknown",))),
            )

    def _start_drainer(self) -> None:
        if self._drainer is not None:
            return
        with self._drain_lock:
            if self._drainer is not None:
                return
            thread = threading.Thread(target=self._drain_loop, name="llm-cost-hooks-metrics", daemon=True)
            self._drainer = thread
            thread.start()

    def _drain_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self.drain()
