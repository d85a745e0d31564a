"""Shared by the scripts here: the model's events (cheap fixed-usage model, or the realistic one
with ``MODEL=realistic``), the handler's callbacks called with them or ``model.invoke`` with the
handler, and the span / metric pipeline every OTel arm uses."""

import os
import uuid
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.outputs import LLMResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench._common import fixed_usage_model, realistic_model

PROMPT = "When will my card arrive?"
ATTRIBUTION = {"tenant_id": "acme", "feature": "qa", "route": "cheap"}
model = realistic_model() if os.environ.get("MODEL") == "realistic" else fixed_usage_model()
_messages = [[HumanMessage(PROMPT)]]
_result = LLMResult(generations=[model._generate(_messages[0]).generations])
_metadata = {**ATTRIBUTION, **model._get_ls_params()}
_serialized = {"name": type(model).__name__}
_params = {"_type": model._llm_type, "stop": None}


def handler_calls(handler: Any, count: int) -> None:
    """``count`` model calls through the handler's callbacks (on_chat_model_start / on_llm_end)."""
    for _ in range(count):
        rid = uuid.uuid4()
        handler.on_chat_model_start(
            _serialized,
            _messages,
            run_id=rid,
            parent_run_id=None,
            tags=[],
            metadata=_metadata,
            invocation_params=_params,
            name=None,
        )
        handler.on_llm_end(_result, run_id=rid, parent_run_id=None, tags=[])


def invoke_calls(handler: Any, count: int) -> None:
    """``count`` calls of ``model.invoke`` with the handler, as ``python -m bench telemetry``."""
    config = {"callbacks": [handler], "metadata": ATTRIBUTION}
    for _ in range(count):
        model.invoke(PROMPT, config=config)


def pipeline() -> tuple[Any, Any, Any, Any]:
    """(tracer provider, in-memory span exporter behind a batch processor, in-memory metric
    reader, meter provider), as the benchmark's OTel rows use them."""
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
    reader = InMemoryMetricReader()
    return tp, exporter, reader, MeterProvider(metric_readers=[reader])
