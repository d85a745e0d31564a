from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver

mem = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(mem))
rd = InMemoryMetricReader()
mp = MeterProvider(metric_readers=[rd])
h = CostCallbackHandler(ledger="memory://", observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)])
llm = FakeChatModelWithUsage()
for i in range(60):
    llm.invoke("hi", config={"callbacks": [h], "metadata": {"tenant_id": f"tenant-{i:02d}"}})
h.flush()
tp.force_flush()
span_tenants = {s.attributes.get("llm_cost_hooks.tenant") for s in mem.get_finished_spans()}
for r in rd.get_metrics_data().resource_metrics:
    for sm in r.scope_metrics:
        for m in sm.metrics:
            vals = {p.attributes.get("llm_cost_hooks.tenant") for p in m.data.data_points}
            total = sum(getattr(p, "value", None) or getattr(p, "count", 0) for p in m.data.data_points)
            print(m.name, len(vals), "_other" in vals, round(total, 9))
print("span tenants", len(span_tenants))
