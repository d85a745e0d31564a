from langchain_core.prompts import ChatPromptTemplate
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
h = CostCallbackHandler(
    ledger="sqlite:///latest.db", observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)]
)
(ChatPromptTemplate.from_messages([("human", "{q}")]) | FakeChatModelWithUsage(cached_fraction=0.5)).invoke(
    {"q": "hi " * 50}, config={"callbacks": [h], "metadata": {"prompt_version": "p7", "tenant_id": "a"}}
)
h.flush()
tp.force_flush()
s = [x for x in mem.get_finished_spans() if x.name.startswith("chat")][0]
print(sorted(k for k in s.attributes if k.startswith("gen_ai")))
for r in rd.get_metrics_data().resource_metrics:
    for sm in r.scope_metrics:
        for m in sm.metrics:
            print(m.name, repr(m.unit), type(m.data).__name__, sorted(m.data.data_points[0].attributes))
