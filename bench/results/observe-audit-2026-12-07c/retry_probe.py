"""with_retry: a failed first attempt and a recovered retry, in the report and on the spans."""

import json
import subprocess
import uuid

from langchain_core.prompts import ChatPromptTemplate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver

mem = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(mem))
h = CostCallbackHandler(ledger="sqlite:///retry.db", observers=[OTelObserver(tracer_provider=tp)])
llm = FakeChatModelWithUsage(
    model_name="gpt-4o", errors=[TimeoutError("slow"), None], responses=["fine answer"]
)
chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | llm.with_retry(
    stop_after_attempt=2, wait_exponential_jitter=False
)
chain.invoke(
    {"q": "a question"}, config={"callbacks": [h], "run_id": uuid.uuid4(), "metadata": {"tenant_id": "acme"}}
)
h.flush()
tp.force_flush()
for s in mem.get_finished_spans():
    if s.name.startswith("chat"):
        a = s.attributes
        print(
            s.name,
            s.status.status_code,
            a.get("llm_cost_hooks.attempt"),
            a.get("gen_ai.usage.cost"),
            a.get("error.type"),
        )
for policy in ("any_error", "root_error"):
    out = subprocess.run(
        ["llm-cost", "report", "retry.db", "--show", "tasks", "--format", "json", "--failure-policy", policy],
        capture_output=True,
        text=True,
        check=True,
    )
    t = json.loads(out.stdout)["tasks"][0]
    print(
        policy,
        {
            k: t[k]
            for k in (
                "tasks",
                "successful_tasks",
                "calls",
                "cost_usd",
                "retry_cost_usd",
                "failed_call_cost_usd",
                "cost_per_successful_task",
            )
        },
    )
