"""One-call OpenTelemetry set-up from the standard ``OTEL_*`` variables."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from .. import _shutdown
from .._errors import ConfigurationError, MissingExtraError
from ._stats import (
    CountingBatchSpanProcessor,
    CountingMetricExporter,
    CountingSpanExporter,
    TelemetryStats,
    register_stats,
    stats_for,
)

__all__ = ["OTelProviders", "configure_otel"]

logger = logging.getLogger("llm_cost_hooks.telemetry")

ExporterKind = Literal["otlp", "console"]


class OTelProviders(NamedTuple):
    """What :func:`configure_otel` returns; unpacks as ``(tracer_provider, meter_provider)``.

    >>> providers = configure_otel("docs-example", exporter=None)
    >>> tracer_provider, meter_provider = providers
    >>> providers.stats.spans_exported, providers.stats.spans_dropped_queue_full
    (0, 0)
    >>> providers.shutdown(timeout=1)
    True
    """

    tracer_provider: Any
    meter_provider: Any

    @property
    def stats(self) -> TelemetryStats:
        """Exported / failed / dropped counters of these providers' exporters."""
        stats = stats_for(self.tracer_provider)
        assert stats is not None
        return stats

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop both providers, waiting at most ``timeout`` seconds (default
        ``LLM_COST_HOOKS_EXIT_TIMEOUT``, 5 s) even if the collector does not answer.
        Returns False when the exporters were still busy at the deadline (the spans still
        queued then are counted in ``stats.spans_unexported_at_exit``)."""
        if timeout is None:
            timeout = _shutdown.exit_timeout()
        return _bounded_shutdown(self, time.monotonic() + timeout)

    def _shutdown_now(self) -> None:
        try:
            self.tracer_provider.shutdown()
        finally:
            # An application that shut its meter provider down itself (OpenTelemetry's own
            # examples do) would get the SDK's "shutdown can only be called once" at exit.
            if self.meter_provider is not None and not getattr(self.meter_provider, "_shutdown", False):
                self.meter_provider.shutdown()


def _queued_spans(tracer_provider: Any) -> int:
    n = 0
    for processor in getattr(
        getattr(tracer_provider, "_active_span_processor", None), "_span_processors", ()
    ):
        queue = getattr(processor, "_queue", None)
        if queue is not None:
            n += len(queue)
    return n


_done_shutdowns: set[int] = set()


def _bounded_shutdown(providers: OTelProviders, deadline: float) -> bool:
    """Shut the providers down on a helper thread; give up waiting at ``deadline``."""
    key = id(providers.tracer_provider)
    if key in _done_shutdowns:
        return True
    _done_shutdowns.add(key)
    # Exporters retry with back-off and a black-holed collector answers nothing: only a
    # thread that can be left behind keeps the exit within the deadline.
    worker = threading.Thread(
        target=providers._shutdown_now, name="llm-cost-hooks-otel-shutdown", daemon=True
    )
    worker.start()
    worker.join(max(deadline - time.monotonic(), 0.0))
    if not worker.is_alive():
        stats = stats_for(providers.tracer_provider)
        lost = stats._outage_loss() if stats is not None else 0
        if lost and stats is not None:
            # Only the outage's first failure was logged: say what it cost in the end.
            logger.warning(
                "llm-cost-hooks telemetry: the collector was still failing at exit; %d span(s) "
                "were lost to failed exports since it began (%d in all, stats.spans_dropped). Is "
                "the collector at the OTLP endpoint up?",
                lost,
                stats.spans_dropped,
            )
        return True
    # The queue first, then the export in progress: a batch the worker takes between the
    # two reads may be counted twice, never left out.
    queued = _queued_spans(providers.tracer_provider)
    stats = stats_for(providers.tracer_provider)
    unexported = stats._abandon_exports(queued) if stats is not None else queued
    failed = stats.spans_failed if stats is not None else 0
    logger.warning(
        "llm-cost-hooks telemetry: the exporters did not finish by the exit deadline "
        "(LLM_COST_HOOKS_EXIT_TIMEOUT); %d span(s) were not exported (%d still queued, %d in "
        "an export the collector had not answered)%s. Is the collector at the OTLP endpoint up?",
        unexported,
        queued,
        unexported - queued,
        f"; {failed} more span(s) were lost to failed exports before" if failed else "",
    )
    return False


def _env(name: str, signal: str) -> str | None:
    # Signal-specific variables (OTEL_EXPORTER_OTLP_TRACES_*) win over the generic ones.
    value = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_{name}") or os.environ.get(
        f"OTEL_EXPORTER_OTLP_{name}"
    )
    return value.strip() if value and value.strip() else None


def _parse_headers(headers: Mapping[str, str] | str | None) -> dict[str, str] | None:
    if headers is None or isinstance(headers, Mapping):
        return dict(headers) if headers is not None else None
    from urllib.parse import unquote

    out: dict[str, str] = {}
    for item in str(headers).split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigurationError(
                f"OTLP headers must look like 'key=value,key2=value2'; got an item {item!r} without '='."
            )
        out[unquote(key.strip()).lower()] = unquote(value.strip())
    return out


def _protocol(protocol: str | None, signal: str) -> str:
    value = (protocol or _env("PROTOCOL", signal) or "http/protobuf").lower()
    if value not in ("http/protobuf", "grpc"):
        raise ConfigurationError(
            f"OTLP protocol must be 'http/protobuf' or 'grpc', got {value!r} "
            "(set OTEL_EXPORTER_OTLP_PROTOCOL or pass protocol=)."
        )
    return value


def _check_http_url(url: str, where: str) -> None:
    # The HTTP exporter cannot send to a URL without its scheme (a gRPC-style host:port):
    # every export would fail at run time as if the collector were down.
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigurationError(
            f"the OTLP/HTTP endpoint {where} is {url.split('@')[-1]!r}, which has no http:// or https://; "
            "give a URL such as http://localhost:4318 (protocol='grpc' takes host:port)."
        )


def _http_endpoint(endpoint: str | None, signal: str) -> str | None:
    # The HTTP exporters take a full URL; a base endpoint gets /v1/<signal> appended,
    # exactly as the exporters do for OTEL_EXPORTER_OTLP_ENDPOINT.
    if endpoint is None:
        for name in (f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
            value = (os.environ.get(name) or "").strip()
            if value:  # the variable the exporter reads
                _check_http_url(value, f"in {name}")
                break
        return None
    _check_http_url(endpoint, "given")
    return endpoint.rstrip("/") + f"/v1/{signal.lower()}"


def _otlp_exporters(
    *,
    endpoint: str | None,
    headers: dict[str, str] | None,
    protocol: str | None,
    timeout: float | None,
    metrics: bool,
) -> tuple[Any, Any]:
    proto = _protocol(protocol, "TRACES")
    kwargs: dict[str, Any] = {}
    if headers is not None:
        kwargs["headers"] = headers
    if timeout is not None:
        kwargs["timeout"] = timeout
    if proto == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise MissingExtraError(
                "otlp-grpc", "opentelemetry-exporter-otlp-proto-grpc", "OTLP/gRPC export"
            ) from exc
        if endpoint is not None:
            kwargs["endpoint"] = endpoint
            if endpoint.startswith("http://"):
                kwargs["insecure"] = True
        span_exporter = OTLPSpanExporter(**kwargs)
        metric_exporter = OTLPMetricExporter(**kwargs) if metrics else None
        return span_exporter, metric_exporter
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HTTPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter
    except ImportError as exc:
        raise MissingExtraError("otlp", "opentelemetry-exporter-otlp-proto-http", "OTLP/HTTP export") from exc
    http_spans = HTTPSpanExporter(endpoint=_http_endpoint(endpoint, "TRACES"), **kwargs)
    http_metrics = (
        HTTPMetricExporter(endpoint=_http_endpoint(endpoint, "METRICS"), **kwargs) if metrics else None
    )
    return http_spans, http_metrics


def configure_otel(
    service_name: str | None = None,
    exporter: ExporterKind | None = "otlp",
    *,
    endpoint: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    protocol: Literal["http/protobuf", "grpc"] | None = None,
    timeout: float | None = None,
    metrics: bool = True,
    metric_export_interval_ms: int = 60_000,
    max_queue_size: int = 2048,
    schedule_delay_ms: int = 1000,
    max_export_batch_size: int = 512,
    resource_attributes: Mapping[str, Any] | None = None,
    set_global: bool = False,
    stats: TelemetryStats | None = None,
) -> OTelProviders:
    """Build a tracer provider and a meter provider that export cost telemetry.

    Reads the standard variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the
    ``..._TRACES_`` / ``..._METRICS_`` variants), ``OTEL_EXPORTER_OTLP_HEADERS``,
    ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf`` default, ``grpc`` with the
    ``otlp-grpc`` extra), ``OTEL_EXPORTER_OTLP_TIMEOUT``, ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES``. Arguments override the variables, except
    ``service_name``, which is only the default when ``OTEL_SERVICE_NAME`` is unset.

    Spans go through a batch processor with a bounded queue (``max_queue_size``); the
    exporters have a timeout and are wrapped so failed exports and full-queue drops are
    counted in ``.stats``. The chain never waits for an exporter.

    ``exporter``: ``"otlp"``, ``"console"`` (prints to stdout, for local runs) or None
    (no exporter: add your own span processors / metric readers). The global providers
    are left alone unless ``set_global=True``, and even then a global provider the
    application already set is never replaced.

    >>> tp, mp = configure_otel("docs-example", exporter=None)
    >>> tp.resource.attributes["service.name"] in ("docs-example", __import__("os").environ.get("OTEL_SERVICE_NAME"))
    True
    """
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError as exc:  # pragma: no cover - the module import already needs the SDK
        raise MissingExtraError("telemetry", "opentelemetry-sdk", "OpenTelemetry set-up") from exc

    if exporter not in ("otlp", "console", None):
        raise ConfigurationError(f"exporter must be 'otlp', 'console' or None, got {exporter!r}.")
    if max_export_batch_size > max_queue_size:
        raise ConfigurationError(
            f"max_export_batch_size ({max_export_batch_size}) must not exceed max_queue_size ({max_queue_size})."
        )
    stats = stats or TelemetryStats()
    attrs: dict[str, Any] = dict(resource_attributes or {})
    if service_name and not os.environ.get("OTEL_SERVICE_NAME", "").strip():
        attrs.setdefault("service.name", service_name)
    resource = Resource.create(attrs)

    # Shut down by our own exit hook, within the package's exit deadline: the SDK's own
    # hooks wait on the exporters' timeouts and retries (tens of seconds when the
    # collector is down).
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    metric_readers: list[Any] = []
    span_exporter: Any = None
    metric_exporter: Any = None
    if exporter == "otlp":
        env_timeout = _env("TIMEOUT", "TRACES")
        if timeout is None and env_timeout is None:
            timeout = 10.0
        span_exporter, metric_exporter = _otlp_exporters(
            endpoint=endpoint,
            headers=_parse_headers(headers),
            protocol=protocol,
            timeout=timeout,
            metrics=metrics,
        )
    elif exporter == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        span_exporter = ConsoleSpanExporter()
        metric_exporter = ConsoleMetricExporter() if metrics else None

    if span_exporter is not None:
        tracer_provider.add_span_processor(
            CountingBatchSpanProcessor(
                CountingSpanExporter(span_exporter, stats),
                stats,
                max_queue_size=max_queue_size,
                schedule_delay_millis=schedule_delay_ms,
                max_export_batch_size=max_export_batch_size,
                export_timeout_millis=(timeout or 10.0) * 1000,
            )
        )
    if metric_exporter is not None:
        metric_readers.append(
            PeriodicExportingMetricReader(
                CountingMetricExporter(metric_exporter, stats),
                export_interval_millis=metric_export_interval_ms,
                export_timeout_millis=(timeout or 10.0) * 1000,
            )
        )
    meter_provider = (
        MeterProvider(resource=resource, metric_readers=metric_readers, shutdown_on_exit=False)
        if metrics
        else None
    )
    register_stats(tracer_provider, stats)
    if meter_provider is not None:
        register_stats(meter_provider, stats)

    if set_global:
        _set_global(tracer_provider, meter_provider)
    providers = OTelProviders(tracer_provider, meter_provider)
    _shutdown.register(_shutdown.TELEMETRY, tracer_provider, _provider_exit_hook(meter_provider))
    # multiprocessing ends its children with os._exit(): without this a worker's spans and
    # metrics are exported only if a ledger with a background writer asked for the same.
    _shutdown.watch_multiprocessing_children()
    return providers


def _provider_exit_hook(meter_provider: Any) -> Any:
    # The meter provider is held weakly too: a dropped pair is not kept alive by the hook.
    import weakref

    meter_ref = weakref.ref(meter_provider) if meter_provider is not None else None

    def hook(tracer_provider: Any, deadline: float) -> None:
        meter = meter_ref() if meter_ref is not None else None
        _bounded_shutdown(OTelProviders(tracer_provider, meter), deadline)

    return hook


def _set_global(tracer_provider: Any, meter_provider: Any) -> None:
    from opentelemetry import metrics, trace

    current = trace.get_tracer_provider()
    if isinstance(current, trace.ProxyTracerProvider):
        trace.set_tracer_provider(tracer_provider)
    else:
        logger.warning(
            "llm-cost-hooks: a global tracer provider is already set (%s); keeping it. "
            "Pass tracer_provider= to OTelObserver to use the one from configure_otel().",
            type(current).__name__,
        )
    if meter_provider is None:
        return
    from opentelemetry.metrics import _internal as metrics_internal

    current_mp = metrics.get_meter_provider()
    if isinstance(current_mp, metrics_internal._ProxyMeterProvider):
        metrics.set_meter_provider(meter_provider)
    else:
        logger.warning(
            "llm-cost-hooks: a global meter provider is already set (%s); keeping it.",
            type(current_mp).__name__,
        )
