"""Where cost records go: SQLite (embedded default), PostgreSQL (a fleet), in-memory and
JSONL, plus reports."""

from ._base import Ledger, LedgerStats, TaskOutcome, replay_dead_letters
from ._html import render_html_report, savings_waterfall
from ._postgres import PostgresLedger
from ._reports import LedgerReports, format_rows
from ._stores import JSONLLedger, MemoryLedger, SQLiteLedger, open_ledger

__all__ = [
    "JSONLLedger",
    "Ledger",
    "LedgerReports",
    "LedgerStats",
    "MemoryLedger",
    "PostgresLedger",
    "SQLiteLedger",
    "TaskOutcome",
    "format_rows",
    "open_ledger",
    "render_html_report",
    "replay_dead_letters",
    "savings_waterfall",
]
