"""Where cost records go: SQLite (embedded default), PostgreSQL (a fleet), in-memory and
JSONL, plus reports."""

from ._base import Ledger, LedgerStats, TaskOutcome, replay_dead_letters
from ._copy import copy_ledger
from ._html import render_html_report, savings_waterfall
from ._postgres import PostgresLedger
from ._reports import DIMENSIONS, LedgerReports, format_rows
from ._stores import JSONLLedger, MemoryLedger, SQLiteLedger, open_ledger

__all__ = [
    "DIMENSIONS",
    "JSONLLedger",
    "Ledger",
    "LedgerReports",
    "LedgerStats",
    "MemoryLedger",
    "PostgresLedger",
    "SQLiteLedger",
    "TaskOutcome",
    "copy_ledger",
    "format_rows",
    "open_ledger",
    "render_html_report",
    "replay_dead_letters",
    "savings_waterfall",
]
