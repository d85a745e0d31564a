import os
import sys

from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver

temp = sys.argv[1] if len(sys.argv) > 1 else "cumulative"
kw = {}
if temp == "delta":
    kw = dict(
        preferred_temporality={
            Histogram: AggregationTemporality.DELTA,
            ObservableCounter: AggregationTemporality.DELTA,
            Counter: AggregationTemporality.DELTA,
        }
    )
reader = InMemoryMetricReader(**kw)
mp = MeterProvider(resource=Resource.create({"service.name": "svc"}), metric_readers=[reader])
obs = OTelObserver(tracer_provider=TracerProvider(), meter_provider=mp)
t = CostTracker(ledger="memory://", observers=[obs])


def call(i):
    t.start_llm(i, None, model="gpt-4o-mini", provider="openai", messages=[], params={}, metadata={})
    t.end_llm(i, TokenUsage(input_tokens=100, output_tokens=20))


def summary(tag):
    d = reader.get_metrics_data()
    out = {}
    for rm in d.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    v = getattr(p, "count", None)
                    if v is None:
                        v = p.value
                    out[m.name] = out.get(m.name, 0) + v
    print(tag, os.getpid(), {k: round(v, 6) for k, v in sorted(out.items())}, flush=True)


for i in range(3):
    call(f"p{i}")
t.flush()
if temp == "delta-unexported":
    pass
else:
    summary("parent-before-fork")
for i in range(2):
    call(f"q{i}")  # recorded, not yet collected at fork
t.flush()
pid = os.fork()
if pid == 0:
    call("c0")
    t.flush()
    summary("child(1 own call)")
    os._exit(0)
os.waitpid(pid, 0)
summary("parent-after")
