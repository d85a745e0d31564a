"""An OTLP/HTTP endpoint without its scheme (a gRPC-style ``host:port``) is a typed error when
the exporters are set up, not every export failing later as if the collector were down."""

from __future__ import annotations

import pytest

from llm_cost_hooks._errors import ConfigurationError

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from llm_cost_hooks.telemetry import configure_otel


def test_endpoint_argument_without_scheme() -> None:
    with pytest.raises(ConfigurationError, match=r"'localhost:4318', which has no http:// or https://"):
        configure_otel("app", endpoint="localhost:4318", metrics=False)


def test_endpoint_variable_without_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
    with pytest.raises(ConfigurationError, match="in OTEL_EXPORTER_OTLP_ENDPOINT"):
        configure_otel("app", metrics=False)


def test_endpoint_with_scheme_is_taken() -> None:
    tracer_provider, _ = configure_otel("app", endpoint="http://127.0.0.1:4318", metrics=False)
    tracer_provider.shutdown()
