import json
import os

from langchain_core.prompts import ChatPromptTemplate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver

mem = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(mem))
h = CostCallbackHandler(ledger="memory://", observers=[OTelObserver(tracer_provider=tp)])
(
    ChatPromptTemplate.from_messages([("human", "{q}")]) | FakeChatModelWithUsage(responses=["SECRET-ANSWER"])
).invoke({"q": "SECRET-QUESTION"}, config={"callbacks": [h]})
h.flush()
tp.force_flush()
s = [x for x in mem.get_finished_spans() if x.name.startswith("chat")][0]
print(
    os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"),
    {k: v for k, v in s.attributes.items() if "messages" in k},
    "SECRET" in json.dumps([dict(x.attributes) for x in mem.get_finished_spans()]),
)
