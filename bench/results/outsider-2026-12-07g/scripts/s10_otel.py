# ruff: noqa: E402
# spans with odd attribution values: every call still recorded and exported, no prompt text on spans
import logging
import uuid

logging.basicConfig(level=logging.WARNING, format="LOG %(name)s %(levelname)s %(message)s")
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver

exp = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(exp))
h = CostCallbackHandler(ledger="memory://", observers=[OTelObserver(tracer_provider=tp)])
mds = [
    {"tenant_id": "t\ud800"},
    {"tenant_id": "a\x00b"},
    {"tenant_id": "t" * 100_000},
    {"tenant_id": uuid.uuid4()},
    {"tenant_id": float("nan")},
    {"tenant_id": "t", "cost_tags": {"k\ud800": "v" * 100_000}},
    {"tenant_id": "t", "blob": "x" * 1_000_000},
]
SECRET = "my card number is 4111 1111 1111 1111"
for md in mds:
    FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"]).invoke(
        SECRET, config={"callbacks": [h], "metadata": md}
    )
for mn in ("my-inhouse-7b", "gpt-4o-mini\udcff"):
    FakeChatModelWithUsage(model_name=mn, responses=["ok"]).invoke(
        SECRET, config={"callbacks": [h], "metadata": {"tenant_id": "t"}}
    )
h.flush()
tp.force_flush()
spans = exp.get_finished_spans()
print("calls", len(mds) + 2, "records", len(h.records()), "spans", len(spans))
leak = [s.name for s in spans if any(SECRET in str(v) for v in s.attributes.values())]
print("spans with the prompt text:", leak)
for s in spans:
    a = s.attributes
    print(
        s.name[:40], repr(a.get("llm_cost_hooks.tenant"))[:40], a.get("gen_ai.usage.cost"), len(str(dict(a)))
    )
