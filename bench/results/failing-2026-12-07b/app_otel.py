"""Cost metrics over OTLP from a process that forks after making calls (as docs/fleet.md sets it up)."""

import multiprocessing as mp
import sys
import uuid

from llm_cost_hooks import CostTracker, TokenUsage
from llm_cost_hooks.telemetry import OTelObserver, configure_otel

tag = sys.argv[1]
tracer_provider, meter_provider = configure_otel(service_name=f"fork-{tag}")
LEDGER = sys.argv[2] if len(sys.argv) > 2 else "memory://"
tracker = CostTracker(
    ledger=LEDGER, observers=[OTelObserver(tracer_provider=tracer_provider, meter_provider=meter_provider)]
)


def call(who):
    rid = f"{who}-{uuid.uuid4().hex[:8]}"
    tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai", messages=[], params={}, metadata={})
    tracker.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=20))


def child(i):
    call(f"child{i}")
    tracker.flush()


for i in range(3):
    call("parent")
tracker.flush()
meter_provider.force_flush()  # these three exported before the fork (a periodic export would do the same)
for i in range(2):
    call("parent-late")  # made, not yet exported when the process forks
tracker.flush()
ps = [mp.get_context("fork").Process(target=child, args=(i,)) for i in range(2)]
[p.start() for p in ps]
[p.join() for p in ps]
print("children exit codes", [p.exitcode for p in ps])
