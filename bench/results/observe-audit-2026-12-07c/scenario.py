"""A new user's traffic, tagged as the docs say: LangChain chains (fake chat models with usage)
and LiteLLM calls (mock_response), one SQLite ledger, the user's own TracerProvider with an
in-memory exporter (and, with OTLP_ENDPOINT set, an OTLP/HTTP exporter too).

Writes costs.db, spans.json (every exported span's name, kind, parent and attributes),
expected.json (what the script itself did: per call tenant/feature/route/prompt/model and
which tasks it failed) and prints the observer's stats."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from langchain_core.caches import InMemoryCache
from langchain_core.globals import set_llm_cache
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.litellm import CostHooksLogger, uninstall
from llm_cost_hooks.telemetry import OTelObserver

RUN = uuid.uuid4().hex[:8]
SECRET_Q = "SECRET-QUESTION-7f3a"
SECRET_A = "SECRET-ANSWER-9b2c"

# The user's own providers, installed globally before the library is used.
memory = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "observe-audit"}))
provider.add_span_processor(SimpleSpanProcessor(memory))
if os.environ.get("OTLP_ENDPOINT"):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["OTLP_ENDPOINT"])))
trace.set_tracer_provider(provider)
reader = InMemoryMetricReader()
meter_provider = MeterProvider(metric_readers=[reader])
metrics.set_meter_provider(meter_provider)

observer = OTelObserver()  # global providers, looked up lazily (docs/telemetry.md)
handler = CostCallbackHandler(
    ledger="sqlite:///costs.db", observers=[observer], defaults={"feature": "support_answer"}
)

TENANTS = ["acme", "globex", "<script>alert(1)</script>"]
expected: list[dict] = []
failed_tasks: list[str] = []

prompt = ChatPromptTemplate.from_messages([("system", "You are a support bot."), ("human", "{q}")])

n = 0
for i in range(12):
    tenant = TENANTS[i % 3]
    model = "gpt-4o-mini" if i % 2 == 0 else "gpt-4o"
    feature = "support_answer" if i % 4 < 2 else "summarize"
    route = "/cards" if i % 3 != 2 else "/loans"
    pv = "v1" if i < 6 else "v2"
    llm = FakeChatModelWithUsage(
        model_name=model, responses=[SECRET_A + " " + "word " * (i + 1)], temperature=0.2, max_tokens=200
    )
    run_id = uuid.uuid4()
    md = {"tenant_id": tenant, "route": route, "prompt_version": pv}
    if feature != "support_answer":
        md["feature"] = feature
    fail_root = i == 5
    steps = prompt | llm | StrOutputParser()
    if fail_root:

        def boom(_: str) -> str:
            raise ValueError("post-processing failed " + SECRET_A)

        steps = steps | RunnableLambda(boom)
    try:
        steps.invoke(
            {"q": f"{SECRET_Q} question {i}"},
            config={"callbacks": [handler], "metadata": md, "run_id": run_id},
        )
    except ValueError:
        pass
    if fail_root:
        failed_tasks.append(str(run_id))
    if i == 7:  # thumbs-down from the user
        handler.mark_task(run_id, success=False, reason="thumbs-down")
        failed_tasks.append(str(run_id))
    expected.append(
        {
            "task_id": str(run_id),
            "tenant": tenant,
            "feature": feature,
            "route": route,
            "prompt_version": pv,
            "model": model,
            "source": "langchain",
        }
    )

# a model call that errors: the call is a failed record, its task failed
err_llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", errors=[RuntimeError("provider down " + SECRET_A)])
run_id = uuid.uuid4()
try:
    (prompt | err_llm).invoke(
        {"q": SECRET_Q},
        config={
            "callbacks": [handler],
            "metadata": {"tenant_id": "acme", "route": "/cards", "prompt_version": "v2"},
            "run_id": run_id,
        },
    )
except RuntimeError:
    pass
failed_tasks.append(str(run_id))
expected.append(
    {
        "task_id": str(run_id),
        "tenant": "acme",
        "feature": "support_answer",
        "route": "/cards",
        "prompt_version": "v2",
        "model": "gpt-4o-mini",
        "source": "langchain",
        "error": True,
    }
)
# the same question twice under LangChain's cache: the second is a $0 exact hit with saved_usd
set_llm_cache(InMemoryCache())
for k in range(2):
    run_id = uuid.uuid4()
    cllm = FakeChatModelWithUsage(model_name="gpt-4o", responses=[SECRET_A + " cached answer"])
    (prompt | cllm).invoke(
        {"q": SECRET_Q + " cached"},
        config={
            "callbacks": [handler],
            "metadata": {"tenant_id": "globex", "route": "/faq", "prompt_version": "v2"},
            "run_id": run_id,
        },
    )
    expected.append(
        {
            "task_id": str(run_id),
            "tenant": "globex",
            "feature": "support_answer",
            "route": "/faq",
            "prompt_version": "v2",
            "model": "gpt-4o",
            "source": "langchain",
            "cache": "miss" if k == 0 else "exact",
        }
    )
set_llm_cache(None)
handler.flush()

# LiteLLM, same ledger file through its own logger, same observer
cost_logger = CostHooksLogger(
    ledger="sqlite:///costs.db", observers=[observer], defaults={"tenant_id": "acme"}
)
litellm.callbacks = [cost_logger]
for j in range(4):
    tid = f"litellm-{RUN}-{j}"  # unique per run: a trace viewer may hold earlier runs
    md = {"feature": "search", "route": "/search", "prompt_version": "s1", "task_id": tid}
    if j == 3:
        md["tenant_id"] = "globex"
    litellm.completion(
        model="gpt-4o-mini" if j < 2 else "anthropic/claude-haiku-4-5",
        messages=[{"role": "user", "content": SECRET_Q + f" {j}"}],
        mock_response=SECRET_A + f" {j} " + "tok " * (5 * j + 3),
        metadata=md,
    )
    expected.append(
        {
            "task_id": tid,
            "tenant": md.get("tenant_id", "acme"),
            "feature": "search",
            "route": "/search",
            "prompt_version": "s1",
            "model": "gpt-4o-mini" if j < 2 else "claude-haiku-4-5",
            "source": "litellm",
        }
    )
cost_logger.flush()
uninstall(cost_logger)
handler.flush()
provider.force_flush()

spans = []
for s in memory.get_finished_spans():
    spans.append(
        {
            "name": s.name,
            "kind": str(s.kind),
            "trace_id": format(s.context.trace_id, "032x"),
            "span_id": format(s.context.span_id, "016x"),
            "parent": format(s.parent.span_id, "016x") if s.parent else None,
            "status": str(s.status.status_code),
            "status_description": s.status.description,
            "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in s.events],
            "attributes": dict(s.attributes or {}),
        }
    )
Path("spans.json").write_text(json.dumps(spans, indent=1, default=str))
data = reader.get_metrics_data()
mets = []
for rm in data.resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            mets.append(
                {
                    "name": m.name,
                    "unit": m.unit,
                    "description": m.description,
                    "type": type(m.data).__name__,
                    "points": [
                        dict(p.attributes or {})
                        | {
                            "value": getattr(p, "value", None),
                            "sum": getattr(p, "sum", None),
                            "count": getattr(p, "count", None),
                        }
                        for p in m.data.data_points
                    ],
                }
            )
Path("metrics.json").write_text(json.dumps(mets, indent=1, default=str))
Path("expected.json").write_text(json.dumps({"calls": expected, "failed_tasks": failed_tasks}, indent=1))
print(
    "provider still the user's:",
    trace.get_tracer_provider() is provider,
    metrics.get_meter_provider() is meter_provider,
)
print("stats:", observer.stats.snapshot())
print("spans:", len(spans), "metrics:", [m["name"] for m in mets])
