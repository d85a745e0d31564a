"""Where the OTel observer's CPU goes: cProfile of the handler called directly (cheap model's
events, ``memory://`` ledger so every span is made on the profiled thread), with the batch
span processor's export and a metric collection inside the profile (force_flush / collect
run on this thread's call). Prints the top functions by own and cumulative time.

Run: N=20000 PYTHONPATH=$PWD python bench/results/otel-2026-12-06c/profile_observer.py
"""

import cProfile
import os
import pstats

from _events import handler_calls, pipeline

from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.telemetry import OTelObserver

n = int(os.environ.get("N", "20000"))
ledger = os.environ.get("LEDGER", "memory://")
tp, exporter, reader, mp = pipeline()
h = CostCallbackHandler(ledger=ledger, observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)])


def calls(count):
    for done in range(0, count, 1000):
        handler_calls(h, min(1000, count - done))
        h.flush(60)
        tp.force_flush()
        exporter.clear()
    h.flush(60)
    tp.force_flush()
    reader.get_metrics_data()
    exporter.clear()


calls(500)
prof = cProfile.Profile()
prof.enable()
calls(n)
prof.disable()
stats = pstats.Stats(prof)
stats.sort_stats("tottime").print_stats(45)
stats.sort_stats("cumulative").print_stats(70)
