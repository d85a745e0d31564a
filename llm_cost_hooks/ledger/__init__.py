"""Where cost records go: SQLite (embedded default), PostgreSQL (a fleet), in-memory and
JSONL, plus reports. Names load on first use: a handler needs the writer, not the reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import install_lazy_exports

_EXPORTS: dict[str, str] = {
    "JSONLLedger": "._stores",
    "Ledger": "._base",
    "LedgerReports": "._reports",
    "LedgerStats": "._base",
    "MemoryLedger": "._stores",
    "PostgresLedger": "._postgres",
    "SQLiteLedger": "._stores",
    "TaskOutcome": "._base",
    "format_rows": "._reports",
    "open_ledger": "._stores",
    "render_html_report": "._html",
    "replay_dead_letters": "._base",
    "savings_waterfall": "._html",
}

__all__ = sorted(_EXPORTS)

install_lazy_exports(globals(), _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs: every name of _EXPORTS
    from ._base import Ledger as Ledger
    from ._base import LedgerStats as LedgerStats
    from ._base import TaskOutcome as TaskOutcome
    from ._base import replay_dead_letters as replay_dead_letters
    from ._html import render_html_report as render_html_report
    from ._html import savings_waterfall as savings_waterfall
    from ._postgres import PostgresLedger as PostgresLedger
    from ._reports import LedgerReports as LedgerReports
    from ._reports import format_rows as format_rows
    from ._stores import JSONLLedger as JSONLLedger
    from ._stores import MemoryLedger as MemoryLedger
    from ._stores import SQLiteLedger as SQLiteLedger
    from ._stores import open_ledger as open_ledger
