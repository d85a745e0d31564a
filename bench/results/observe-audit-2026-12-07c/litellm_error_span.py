"""A LiteLLM call that fails: its span says the error's type, never its message or the prompt."""

import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_cost_hooks.litellm import CostHooksLogger, uninstall
from llm_cost_hooks.telemetry import OTelObserver

mem = InMemorySpanExporter()
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(mem))
lg = CostHooksLogger(ledger="memory://", observers=[OTelObserver(tracer_provider=tp)])
litellm.callbacks = [lg]
for stream in (False, True):
    try:
        out = litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "SECRET-PROMPT"}],
            mock_response=Exception("SECRET-IN-ERROR"),
            stream=stream,
            metadata={"tenant_id": "acme", "route": "/r"},
        )
        if stream:
            for _ in out:
                pass
    except Exception as exc:
        print("raised", type(exc).__name__)
lg.flush()
uninstall(lg)
tp.force_flush()
for s in mem.get_finished_spans():
    print(
        s.name,
        s.status.status_code,
        s.status.description,
        dict(s.attributes).get("error.type"),
        [dict(e.attributes) for e in s.events],
    )
print(
    "SECRET in spans:",
    "SECRET"
    in json.dumps(
        [
            {**dict(s.attributes), "d": s.status.description, "e": [dict(e.attributes) for e in s.events]}
            for s in mem.get_finished_spans()
        ]
    ),
)
print("records:", [(r.success, r.error_type, r.tenant, r.route) for r in lg.records()])
