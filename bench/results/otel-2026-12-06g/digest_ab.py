"""Same process, interleaved rounds (random order), cheap model, SQLite ledger, ``invoke``,
process CPU per call: no observer; the OTel observer keeping the call's objects until the
writer (``digests_calls`` off); the OTel observer digesting the call on the caller (default).

    N=200 ROUNDS=100 PYTHONPATH=$PWD python bench/results/otel-2026-12-06g/digest_ab.py
"""

import tempfile

from _common import run_ab
from _events import invoke_calls, pipeline

from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.telemetry import OTelObserver

tmp = tempfile.mkdtemp()
pipes = {}


def otel(name, digest):
    tp, exporter, reader, mp = pipeline()
    observer = OTelObserver(tracer_provider=tp, meter_provider=mp)
    observer.digests_calls = digest
    pipes[name] = (tp, exporter, reader)
    return observer


arms = {
    "none": CostCallbackHandler(ledger=f"sqlite:///{tmp}/a.db"),
    "otel keep": CostCallbackHandler(ledger=f"sqlite:///{tmp}/b.db", observers=[otel("otel keep", False)]),
    "otel digest": CostCallbackHandler(ledger=f"sqlite:///{tmp}/c.db", observers=[otel("otel digest", True)]),
}


def calls(name, handler, n):
    invoke_calls(handler, n)
    assert handler.flush(300)
    if name in pipes:  # spans exported and metrics collected inside the window
        tp, exporter, reader = pipes[name]
        tp.force_flush()
        reader.get_metrics_data()
        exporter.clear()


run_ab(arms, calls, [("otel keep", "none"), ("otel digest", "none"), ("otel digest", "otel keep")], 60)
