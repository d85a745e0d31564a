"""Same-process A/B of the telemetry overhead: main (llm_cost_hooks_base) vs this branch."""

import os
import sys
import tempfile

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.environ.get("BASE_PKG_DIR", "/tmp/recperf/basepkg"))
import llm_cost_hooks_base.langchain as ML
import llm_cost_hooks_base.telemetry as MT
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_cost_hooks.langchain as NL
import llm_cost_hooks.telemetry as NT
from bench._common import cost_per_call, fixed_usage_model, realistic_model

tmp = tempfile.mkdtemp()
meta = {"tenant_id": "acme", "feature": "qa", "route": "cheap"}
p = "When will my card arrive?"
rounds = int(os.environ.get("ROUNDS", 7))
number = int(os.environ.get("NUMBER", 1000))


def setup(L, T, name):
    plain = L.CostCallbackHandler(ledger=f"sqlite:///{tmp}/{name}p.db")
    exp = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(exp, max_queue_size=4096, schedule_delay_millis=200))
    rd = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[rd])
    traced = L.CostCallbackHandler(
        ledger=f"sqlite:///{tmp}/{name}t.db",
        observers=[T.OTelObserver(tracer_provider=tp, meter_provider=mp)],
    )

    def drain():
        traced.tracker.flush()
        tp.force_flush()
        rd.get_metrics_data()
        exp.clear()

    return plain, traced, drain, tp, mp


for mlabel, model in (("cheap", fixed_usage_model()), ("realistic", realistic_model())):
    mp_, mt, md, mtp, mmp = setup(ML, MT, "m" + mlabel)
    np_, nt, nd, ntp, nmp = setup(NL, NT, "n" + mlabel)
    cfgs = {
        "bare": (lambda m=model, c={"metadata": meta}: m.invoke(p, config=c), None),
        "main_plain": (
            lambda m=model, c={"callbacks": [mp_], "metadata": meta}: m.invoke(p, config=c),
            mp_.flush,
        ),
        "main_traced": (lambda m=model, c={"callbacks": [mt], "metadata": meta}: m.invoke(p, config=c), md),
        "new_plain": (
            lambda m=model, c={"callbacks": [np_], "metadata": meta}: m.invoke(p, config=c),
            np_.flush,
        ),
        "new_traced": (lambda m=model, c={"callbacks": [nt], "metadata": meta}: m.invoke(p, config=c), nd),
    }
    cost = cost_per_call(cfgs, number=number, rounds=rounds)
    for clock in ("thread", "process"):
        tm = cost["main_traced"].over(cost["main_plain"], clock) * 1e6
        tn = cost["new_traced"].over(cost["new_plain"], clock) * 1e6
        d = cost["new_traced"].over(cost["main_traced"], clock) * 1e6
        print(
            f"{mlabel:9s} {clock:7s} telemetry overhead main +{tm:.1f} new +{tn:.1f} us | traced new-main {d:+.1f} us | plain over bare main {cost['main_plain'].over(cost['bare'], clock) * 1e6:.1f} new {cost['new_plain'].over(cost['bare'], clock) * 1e6:.1f}"
        )
    for h in (mp_, mt, np_, nt):
        h.tracker.close()
    for x in (mtp, mmp, ntp, nmp):
        x.shutdown()
print("load", os.getloadavg())
