"""OpenTelemetry cost spans and metrics (extra: ``llm-cost-hooks[telemetry]``, OTLP
export with ``[otlp]`` or ``[otlp-grpc]``).

>>> from llm_cost_hooks.telemetry import OTelObserver, configure_otel
>>> tp, mp = configure_otel("my-service", exporter=None)
>>> observer = OTelObserver(tracer_provider=tp, meter_provider=mp)

Names load on first use, so ``import llm_cost_hooks.telemetry`` does not import the
OpenTelemetry SDK until one is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import install_lazy_exports

_EXPORTS: dict[str, str] = {
    "OTelObserver": "._observer",
    "configure_otel": "._setup",
    "OTelProviders": "._setup",
    "TelemetryStats": "._stats",
    "AttributeLimiter": "._limits",
}

__all__ = sorted(_EXPORTS)


install_lazy_exports(
    globals(), _EXPORTS, missing_extras=(("opentelemetry", "telemetry", "OpenTelemetry cost spans"),)
)

if TYPE_CHECKING:  # pragma: no cover
    # "X as X": an explicit re-export, since mypy cannot read the computed __all__
    from ._limits import AttributeLimiter as AttributeLimiter
    from ._observer import OTelObserver as OTelObserver
    from ._setup import OTelProviders as OTelProviders
    from ._setup import configure_otel as configure_otel
    from ._stats import TelemetryStats as TelemetryStats
