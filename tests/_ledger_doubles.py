"""Ledgers whose store misbehaves on purpose, shared by the ledger tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger, TaskOutcome


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
