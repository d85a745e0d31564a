import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import asyncio

import litellm
from langchain_core.prompts import ChatPromptTemplate
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.litellm import CostHooksLogger, uninstall
from llm_cost_hooks.telemetry import OTelObserver, configure_otel

mem = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(mem))
trace.set_tracer_provider(tp)
tp2, mp2 = configure_otel("x", exporter="console", metrics=False, set_global=True)
print("user's provider kept after configure_otel(set_global=True):", trace.get_tracer_provider() is tp)
obs = OTelObserver()
h = CostCallbackHandler(ledger="sqlite:///parent.db", observers=[obs])
lg = CostHooksLogger(ledger="sqlite:///parent.db", observers=[obs])
litellm.callbacks = [lg]
tracer = tp.get_tracer("app")
with tracer.start_as_current_span("POST /chat") as req:
    (ChatPromptTemplate.from_messages([("human", "{q}")]) | FakeChatModelWithUsage()).invoke(
        {"q": "hi"}, config={"callbacks": [h]}
    )
    litellm.completion(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        mock_response="ok",
        metadata={"tenant_id": "t"},
    )
    litellm.completion(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        mock_response="ok",
        stream=True,
        metadata={"tenant_id": "t"},
    )
    for _ in litellm.completion(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        mock_response="ok",
        stream=True,
        metadata={"tenant_id": "t"},
    ):
        pass


async def a():
    with tracer.start_as_current_span("POST /achat"):
        await litellm.acompletion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            mock_response="ok",
            metadata={"tenant_id": "t"},
        )


asyncio.run(a())
lg.flush()
h.flush()
uninstall(lg)
tp.force_flush()
spans = mem.get_finished_spans()
ids = {s.context.span_id: s.name for s in spans}
for s in spans:
    print(
        f"{s.name:28s} trace={s.context.trace_id:032x}"[:60],
        "parent:",
        ids.get(s.parent.span_id) if s.parent else None,
    )
