"""Instructions per model call on the direct span path (valgrind --tool=callgrind).

    for n in 200 2200; do PYTHONPATH=<checkout> valgrind --tool=callgrind python callgrind_direct_span.py $n; done

(instructions of 2200 calls - instructions of 200 calls) / 2000 = instructions per call.
"""

import os
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver

n = int(sys.argv[1])
tp = TracerProvider(resource=Resource.create({"service.name": "svc"}))
tp.add_span_processor(
    BatchSpanProcessor(InMemorySpanExporter(), max_queue_size=100000, schedule_delay_millis=600000)
)
obs = OTelObserver(tracer_provider=tp, metrics=False)
t = CostTracker(ledger="memory://", observers=[obs])
for i in range(n):
    rid = f"r{i}"
    t.start_llm(
        rid,
        None,
        model="gpt-4o-mini",
        provider="openai",
        messages=[],
        params={},
        metadata={"tenant_id": "acme"},
    )
    t.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=20))
assert obs._direct is not None
os._exit(0)
