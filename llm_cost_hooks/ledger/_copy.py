"""Copy cost records between ledgers (SQLite or JSONL -> PostgreSQL, and back)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any, cast

from .._errors import ConfigurationError, LedgerError
from .._records import CostRecord
from ._base import (
    RECORD_COLUMNS,
    Ledger,
    TaskOutcome,
    _dead_letter_item,
    iter_json_lines,
    row_to_record,
    rows_to_outcomes,
)
from ._stores import JSONLLedger, SQLiteLedger, _jsonl_item

__all__ = ["copy_ledger"]

logger = logging.getLogger("llm_cost_hooks.ledger")


def _open(target: str | os.PathLike[str], *, role: str) -> Ledger:
    """A ledger without a background writer: the copy writes each batch itself and
    stops at the first error it cannot get past."""
    from ._postgres import PostgresLedger, is_postgres_url

    text = os.fspath(target)
    if is_postgres_url(text):
        return PostgresLedger(text, background=False)
    path = text[len("sqlite:///") :] if text.startswith("sqlite:///") else text
    if role == "source" and "://" not in path and not os.path.exists(path):
        raise ConfigurationError(f"No ledger file at {path!r}.")
    if text.startswith("sqlite:///"):
        return SQLiteLedger(path, background=False)
    if text.startswith("jsonl:///") or text.endswith(".jsonl"):
        if role == "destination":
            raise ConfigurationError(
                "A JSONL file cannot be a copy destination (it has no record ids to skip "
                "duplicates by); copy into sqlite:///path.db or postgresql://..."
            )
        return JSONLLedger(text.removeprefix("jsonl:///"), background=False)
    if "://" in text:
        raise ConfigurationError(
            f"Unknown ledger URL {text.split('://')[0]}://...; use sqlite:///path.db, "
            "jsonl:///path.jsonl or postgresql://user@host/db."
        )
    return SQLiteLedger(text, background=False)


def _sql_batches(ledger: Ledger, select: str, order: str, size: int) -> Iterator[list[Any]]:
    """Rows of a SQL store's query in batches of ``size``, streamed (never all in memory)."""
    from ._postgres import PostgresLedger

    conn: Any = cast(Any, ledger).connect()
    try:
        if isinstance(ledger, PostgresLedger):
            conn.autocommit = False  # a named (server-side) cursor lives in a transaction
            cur = conn.cursor(name="llm_cost_copy")
            cur.execute(f"{select} ORDER BY {order}")
        else:
            cur = conn.execute(f"{select} ORDER BY rowid")
        while True:
            rows = cur.fetchmany(size)
            if not rows:
                return
            yield rows
    finally:
        conn.close()


def _sql_items(ledger: Ledger, size: int) -> Iterator[tuple[list[CostRecord], list[TaskOutcome]]]:
    """A SQL store's records, then its task outcomes, in batches."""
    from ._postgres import _iso_row

    columns = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
    for rows in _sql_batches(ledger, f"SELECT {columns} FROM cost_records", '"timestamp", request_id', size):
        yield [row_to_record(_iso_row(r)) for r in rows], []
    select = 'SELECT task_id, success, source, reason, "timestamp" FROM task_outcomes'
    for rows in _sql_batches(ledger, select, '"timestamp", task_id', size):
        yield [], rows_to_outcomes(rows)


def _jsonl_items(src: JSONLLedger, size: int) -> Iterator[tuple[list[CostRecord], list[TaskOutcome]]]:
    """A JSONL ledger's records and outcomes, or those of a dead-letter file (what a ledger
    set aside: one ``{"record": ...}`` per line), read a batch at a time, so set-aside
    records are copied into the fleet database the same way, skipped if already there.
    Each line is read as either kind: task outcome lines read alike in both, so a
    dead-letter file holding outcomes was taken for a damaged JSONL ledger and its records
    skipped. One warning at the end if a crash left damaged lines in the file."""
    damaged: list[int] = []
    records: list[CostRecord] = []
    outcomes: list[TaskOutcome] = []
    any_item = False
    for item in iter_json_lines(src.path, _ledger_or_dead_letter_item, damaged):
        any_item = True
        if isinstance(item, CostRecord):
            records.append(item)
        else:
            outcomes.append(item)
        if len(records) + len(outcomes) >= size:
            yield records, outcomes
            records, outcomes = [], []
    if records or outcomes:
        yield records, outcomes
    if damaged:
        if not any_item:
            raise LedgerError(
                f"{src.path} is neither a JSONL ledger nor a dead-letter file "
                f"(one JSON record per line): line {damaged[0]} is neither."
            )
        logger.warning(
            "llm-cost-hooks ledger: %s: %d line(s) are not whole records and were skipped "
            "(line %s); a process killed while writing leaves such a line. The other lines "
            "were read.",
            src.path,
            len(damaged),
            ", ".join(map(str, damaged[:10])) + (" ..." if len(damaged) > 10 else ""),
        )


def copy_ledger(
    source: str | os.PathLike[str], destination: str | os.PathLike[str], *, batch_size: int = 5_000
) -> dict[str, int]:
    """Copy every record and task outcome of ``source`` into ``destination``.

    Idempotent: a record the destination holds already is skipped (PostgreSQL, by
    ``request_id``) or rewritten with the same values (SQLite, by ``request_id`` and
    ``timestamp``), and task outcomes already there are not added again, so an interrupted
    copy can simply be run again. Returns counts: ``records`` read, ``records_added``,
    ``outcomes`` read, ``outcomes_added``. The ledgers are read and written ``batch_size``
    rows at a time: memory does not grow with their size.

    >>> import os, tempfile
    >>> from llm_cost_hooks.ledger import SQLiteLedger
    >>> d = tempfile.mkdtemp()
    >>> src = SQLiteLedger(os.path.join(d, "a.db"))
    >>> src.write(CostRecord(model="gpt-4o-mini", cost_usd=0.01)); src.close()
    >>> copy_ledger(os.path.join(d, "a.db"), os.path.join(d, "b.db"))["records_added"]
    1
    >>> copy_ledger(os.path.join(d, "a.db"), os.path.join(d, "b.db"))["records_added"]
    0
    """
    if batch_size < 1:
        raise ConfigurationError("batch_size must be at least 1.")
    src = _open(source, role="source")
    dst = _open(destination, role="destination")
    try:
        _carry_user_salt(src, dst)
        records_before, outcomes_before = _count(dst, "cost_records"), _count(dst, "task_outcomes")
        read = outcomes_read = 0
        batches = (
            _jsonl_items(src, batch_size) if isinstance(src, JSONLLedger) else _sql_items(src, batch_size)
        )
        for records, outcomes in batches:
            # Outcomes the destination holds already are skipped by its unique outcome key
            # (the same key in SQLite and PostgreSQL), so no set of them is kept here.
            dst._write_batch(records, outcomes)
            read += len(records)
            outcomes_read += len(outcomes)
        return {
            "records": read,
            "records_added": _count(dst, "cost_records") - records_before,
            "outcomes": outcomes_read,
            "outcomes_added": _count(dst, "task_outcomes") - outcomes_before,
        }
    finally:
        src.close()
        dst.close()


def _carry_user_salt(src: Ledger, dst: Ledger) -> None:
    """Give ``dst`` the salt ``src``'s user hashes were made with when it has none yet, so a
    user keeps one hash in it; say so when it has another (a user is then counted twice)."""
    salt = src._user_salt(create=False)
    if salt is None:  # no user hash to keep alike
        return
    if dst._user_salt(salt) != salt:
        logger.warning(
            "llm-cost-hooks ledger: the copied user hashes were made with another salt than the "
            "destination's: a user who has records in both is counted as two users there."
        )


def _ledger_or_dead_letter_item(data: Any) -> CostRecord | TaskOutcome:
    # A dead-letter line wraps its record ({"record": ...}); a JSONL ledger's line is the
    # record itself (no field of a record is named "record").
    if isinstance(data, dict) and "record" in data:
        return _dead_letter_item(data)
    return _jsonl_item(data)


def _count(ledger: Ledger, table: str) -> int:
    # SQL stores only: a JSONL ledger is never a destination (see _open)
    conn = cast(Any, ledger).connect()
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()
