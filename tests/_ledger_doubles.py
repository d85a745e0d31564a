"""Ledgers whose store misbehaves on purpose, shared by the ledger tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import Ledger, SQLiteLedger, TaskOutcome


class HeldSQLiteLedger(SQLiteLedger):
    """A store call that does not return until ``release`` is set (a server that stopped
    answering, a slow first connection); ``entered`` is set once the writer is inside it."""

    def __init__(self, path: Path, **kw: object) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        super().__init__(path, **kw)  # type: ignore[arg-type]

    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> None:
        self.entered.set()
        self.release.wait(60)
        super()._write_batch(records, outcomes)


def stop_writer(ledger: Ledger) -> None:
    """Stop a ledger's writer without the exit-time flush (against a server that will not
    answer or let it in), and wait for it: left retrying, it would log its failures into
    later tests' captured warnings."""
    ledger._closed = True
    ledger._wake.set()
    if ledger._thread is not None:
        ledger._thread.join(15.0)
        assert not ledger._thread.is_alive(), "the ledger's writer did not stop"
