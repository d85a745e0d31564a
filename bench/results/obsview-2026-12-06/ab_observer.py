"""Same-process A/B of what a no-op deferrable observer (and the OTel observer) costs the tracker:
the base package (a copy importable as ``llm_cost_hooks_base``) vs this tree, each with no
observer, a no-op deferrable observer and the OTel observer (batch span processor, in-memory
exporter, in-memory metric reader), SQLite ledger, handler called directly (on_chat_model_start / on_llm_end with
a realistic result), flushed inside the window.

Interleaved rounds of N calls; per round the process CPU per call (caller + the ledger's writer).
Prints medians per arm and the median paired observer overheads (noop - none, otel - none) per
package, and their change new - base."""

import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/obsview/basepkg"))
from langchain_core.messages import HumanMessage
from langchain_core.outputs import LLMResult
from llm_cost_hooks_base.langchain import CostCallbackHandler as Base
from llm_cost_hooks_base.telemetry import OTelObserver as BaseOTel
from llm_cost_hooks_base.tracking import RunObserver as BaseObserver
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench._common import fixed_usage_model
from llm_cost_hooks.langchain import CostCallbackHandler as New
from llm_cost_hooks.telemetry import OTelObserver as NewOTel
from llm_cost_hooks.tracking import RunObserver as NewObserver


class BaseNoOp(BaseObserver):
    deferrable = True


class NewNoOp(NewObserver):
    deferrable = True


tmp = tempfile.mkdtemp()
model = fixed_usage_model()
msgs = [[HumanMessage("When will my card arrive?")]]
res = LLMResult(generations=[model._generate(msgs[0]).generations])
meta = {"tenant_id": "acme", "prompt_version": "v1", **model._get_ls_params()}
ser = {"name": type(model).__name__}
inv = {"_type": model._llm_type, "stop": None}
n = int(os.environ.get("N", "3000"))
rounds = int(os.environ.get("ROUNDS", "11"))
providers = []


def otel(cls):
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4096, schedule_delay_millis=200))
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
    providers.append((tp, exporter))
    return cls(tracer_provider=tp, meter_provider=mp)


handlers = {
    "base none": Base(ledger=f"sqlite:///{tmp}/b0.db"),
    "base noop": Base(ledger=f"sqlite:///{tmp}/b1.db", observers=[BaseNoOp()]),
    "base otel": Base(ledger=f"sqlite:///{tmp}/b2.db", observers=[otel(BaseOTel)]),
    "new none": New(ledger=f"sqlite:///{tmp}/n0.db"),
    "new noop": New(ledger=f"sqlite:///{tmp}/n1.db", observers=[NewNoOp()]),
    "new otel": New(ledger=f"sqlite:///{tmp}/n2.db", observers=[otel(NewOTel)]),
}


def calls(h, count):
    for _ in range(count):
        rid = uuid.uuid4()
        h.on_chat_model_start(
            ser,
            msgs,
            run_id=rid,
            parent_run_id=None,
            tags=[],
            metadata=meta,
            invocation_params=inv,
            name=None,
        )
        h.on_llm_end(res, run_id=rid, parent_run_id=None, tags=[])
    assert h.flush(300)
    for tp, exporter in providers:
        tp.force_flush()
        exporter.clear()


for h in handlers.values():
    calls(h, 500)
cpu = {k: [] for k in handlers}
for r in range(rounds):
    order = list(handlers.items())
    if r % 2:
        order.reverse()
    for name, h in order:
        c0 = time.process_time()
        calls(h, n)
        cpu[name].append((time.process_time() - c0) / n * 1e6)
with open("/proc/loadavg") as f:
    print("load:", f.read().strip())
print(f"N={n} rounds={rounds}; process CPU per call, us (median over rounds)")
for k, v in cpu.items():
    print(f"  {k:10s} {statistics.median(v):8.2f}")
for arm in ("noop", "otel"):
    for pkg in ("base", "new"):
        d = [a - b for a, b in zip(cpu[f"{pkg} {arm}"], cpu[f"{pkg} none"])]
        print(f"  {pkg} {arm} overhead ({arm} - none, median paired): {statistics.median(d):6.2f} us")
    d = [
        (a - b) - (c - e)
        for a, b, c, e in zip(cpu[f"new {arm}"], cpu["new none"], cpu[f"base {arm}"], cpu["base none"])
    ]
    print(f"  {arm} overhead change new - base (median paired): {statistics.median(d):6.2f} us")
for arm in ("none", "noop", "otel"):
    d = [a - b for a, b in zip(cpu[f"new {arm}"], cpu[f"base {arm}"])]
    print(f"  {arm}: new - base (median paired): {statistics.median(d):6.2f} us")
