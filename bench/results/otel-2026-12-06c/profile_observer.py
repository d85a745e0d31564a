"""Where the OTel observer's CPU goes: cProfile of the handler called directly (cheap model's
events, ``memory://`` ledger so every span is made on the profiled thread), with the batch
span processor's export and a metric collection inside the profile (force_flush / collect
run on this thread's call). Prints the top functions by own and cumulative time.

Run: N=20000 PYTHONPATH=$PWD python bench/results/otel-2026-12-06c/profile_observer.py
"""

import cProfile
import os
import pstats
import uuid

from langchain_core.messages import HumanMessage
from langchain_core.outputs import LLMResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench._common import fixed_usage_model
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.telemetry import OTelObserver

n = int(os.environ.get("N", "20000"))
ledger = os.environ.get("LEDGER", "memory://")
model = fixed_usage_model()
msgs = [[HumanMessage("When will my card arrive?")]]
res = LLMResult(generations=[model._generate(msgs[0]).generations])
meta = {"tenant_id": "acme", "feature": "qa", "route": "cheap", **model._get_ls_params()}
ser = {"name": type(model).__name__}
inv = {"_type": model._llm_type, "stop": None}
exporter = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
reader = InMemoryMetricReader()
mp = MeterProvider(metric_readers=[reader])
h = CostCallbackHandler(ledger=ledger, observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)])


def calls(count):
    for i in range(count):
        rid = uuid.uuid4()
        h.on_chat_model_start(
            ser,
            msgs,
            run_id=rid,
            parent_run_id=None,
            tags=[],
            metadata=meta,
            invocation_params=inv,
            name=None,
        )
        h.on_llm_end(res, run_id=rid, parent_run_id=None, tags=[])
        if i % 1000 == 999:
            h.flush(60)
            tp.force_flush()
            exporter.clear()
    h.flush(60)
    tp.force_flush()
    reader.get_metrics_data()
    exporter.clear()


calls(500)
prof = cProfile.Profile()
prof.enable()
calls(n)
prof.disable()
stats = pstats.Stats(prof)
stats.sort_stats("tottime").print_stats(45)
stats.sort_stats("cumulative").print_stats(70)
