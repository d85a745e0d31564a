"""Alerts on the current OpenTelemetry span and on metric hooks, through a LangChain call."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
from llm_cost_hooks.langchain import FakeChatModelWithUsage, GuardedChatModel

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
metrics = []
alerts = AlertManager(log=False)
alerts.add_metric_hook(lambda name, value, attrs: metrics.append((name, value, dict(attrs))))
guard = SpendGuard([Limit.usd(0.00005, per="day", scope="tenant")], alerts=alerts)
model = GuardedChatModel(
    inner=FakeChatModelWithUsage(max_tokens=20, responses=["Ships tomorrow."]), guard=guard
)
with trace.get_tracer("app").start_as_current_span("handle_request"):
    for _ in range(12):
        try:
            model.invoke("SECRET where is my order?", config={"metadata": {"tenant_id": "acme"}})
        except Exception:
            pass
events = [(e.name, dict(e.attributes)) for s in exporter.get_finished_spans() for e in s.events]
print(len(events), "span events:", [(n, a.get("alert.kind"), a.get("budget.threshold")) for n, a in events])
print("prompt text in span events:", any("SECRET" in str(a) or "Ships" in str(a) for _, a in events))
print(
    "metrics:",
    sorted({m[0] for m in metrics}),
    sum(1 for m in metrics if m[0] == "llm_cost_hooks.budget.alerts"),
    "alert metric points",
)
