"""Does keeping a model call's LangChain objects until the ledger's writer (what an observer
that is told about the call there makes the tracker do) cost process CPU? Same process,
interleaved rounds (random order), cheap model, SQLite ledger, ``invoke``: no observer, a
no-op deferrable observer that reads rows, and the same with the call's outputs, messages and
metadata dropped on the caller when the call is queued (as the tracker does with no observer).

    N=200 ROUNDS=60 PYTHONPATH=$PWD python bench/results/otel-2026-12-06g/keep_ab.py
"""

import tempfile

from _common import run_ab
from _events import invoke_calls

from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.tracking import RunObserver, _deferred, _tracker


class NoOp(RunObserver):
    deferrable = True
    reads_rows = True


class NoOpDrop(NoOp):
    drop = True


class Dropping(_deferred.PendingRecord):
    __slots__ = ()

    def __init__(self, builder, task, finished, observers, outputs, run, *rest):
        if observers and getattr(observers[0], "drop", False):
            outputs = None
            run.messages = None
            run.metadata = {}
        super().__init__(builder, task, finished, observers, outputs, run, *rest)


_tracker.PendingRecord = Dropping
tmp = tempfile.mkdtemp()
arms = {
    "none": CostCallbackHandler(ledger=f"sqlite:///{tmp}/a.db"),
    "noop": CostCallbackHandler(ledger=f"sqlite:///{tmp}/b.db", observers=[NoOp()]),
    "noop_drop": CostCallbackHandler(ledger=f"sqlite:///{tmp}/c.db", observers=[NoOpDrop()]),
}


def calls(name, handler, n):
    invoke_calls(handler, n)
    assert handler.flush(300)


run_ab(arms, calls, [("noop", "none"), ("noop_drop", "none"), ("noop", "noop_drop")], 40)
