"""Copy cost records between ledgers (SQLite or JSONL -> PostgreSQL, and back)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any, cast

from .._errors import ConfigurationError, LedgerError
from .._records import CostRecord
from ._base import RECORD_COLUMNS, Ledger, TaskOutcome, _dead_letter_item, read_json_lines, row_to_record
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


def _record_batches(ledger: Ledger, size: int) -> Iterator[list[CostRecord]]:
    """The source's records in batches, streamed from SQL stores (not all in memory)."""
    from ._postgres import PostgresLedger, _iso_row

    columns = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
    if isinstance(ledger, SQLiteLedger):
        conn: Any = ledger.connect()
        cur = conn.execute(f"SELECT {columns} FROM cost_records ORDER BY rowid")
    elif isinstance(ledger, PostgresLedger):
        conn = ledger.connect()
        conn.autocommit = False  # a named (server-side) cursor lives in a transaction
        cur = conn.cursor(name="llm_cost_copy")
        cur.execute(f'SELECT {columns} FROM cost_records ORDER BY "timestamp", request_id')
    else:
        records = list(ledger.records())
        for i in range(0, len(records), size):
            yield records[i : i + size]
        return
    try:
        while True:
            rows = cur.fetchmany(size)
            if not rows:
                return
            yield [row_to_record(_iso_row(r)) for r in rows]
    finally:
        conn.close()


def _outcome_key(o: TaskOutcome) -> tuple[Any, ...]:
    return (o.task_id, o.success, o.source, o.reason, o.timestamp.timestamp())


def copy_ledger(
    source: str | os.PathLike[str], destination: str | os.PathLike[str], *, batch_size: int = 5_000
) -> dict[str, int]:
    """Copy every record and task outcome of ``source`` into ``destination``.

    Idempotent: a record the destination holds already is skipped (PostgreSQL, by
    ``request_id``) or rewritten with the same values (SQLite, by ``request_id`` and
    ``timestamp``), and task outcomes already there are not added again, so an interrupted
    copy can simply be run again. Returns counts: ``records`` read, ``records_added``,
    ``outcomes`` read, ``outcomes_added``.

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
        before = _count(dst)
        read = 0
        # A JSONL file is read once: one warning if a crash left a damaged line in it.
        whole = _read_jsonl(src) if isinstance(src, JSONLLedger) else None
        batches: Iterable[list[CostRecord]] = (
            (whole[0][i : i + batch_size] for i in range(0, len(whole[0]), batch_size))
            if whole is not None
            else _record_batches(src, batch_size)
        )
        for batch in batches:
            dst._write_batch(batch, ())
            read += len(batch)
        seen = {_outcome_key(o) for o in dst.task_outcomes()}
        new_outcomes: list[TaskOutcome] = []
        outcomes = whole[1] if whole is not None else list(src.task_outcomes())
        for o in outcomes:
            key = _outcome_key(o)
            if key not in seen:
                seen.add(key)
                new_outcomes.append(o)
        for i in range(0, len(new_outcomes), batch_size):
            dst._write_batch((), new_outcomes[i : i + batch_size])
        return {
            "records": read,
            "records_added": _count(dst) - before,
            "outcomes": len(outcomes),
            "outcomes_added": len(new_outcomes),
        }
    finally:
        src.close()
        dst.close()


def _read_jsonl(src: JSONLLedger) -> tuple[list[CostRecord], list[TaskOutcome]]:
    """A JSONL ledger's records and outcomes; or those of a dead-letter file (what a ledger
    set aside: one ``{"record": ...}`` per line), so set-aside records are copied into the
    fleet database the same way, skipped if already there. Each line is read as either
    kind: task outcome lines read alike in both, so a dead-letter file holding outcomes
    was taken for a damaged JSONL ledger and its records skipped."""
    items, damaged = read_json_lines(src.path, _ledger_or_dead_letter_item)
    if damaged:
        if not items:
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
    return (
        [i for i in items if isinstance(i, CostRecord)],
        [i for i in items if isinstance(i, TaskOutcome)],
    )


def _ledger_or_dead_letter_item(data: Any) -> CostRecord | TaskOutcome:
    # A dead-letter line wraps its record ({"record": ...}); a JSONL ledger's line is the
    # record itself (no field of a record is named "record").
    if isinstance(data, dict) and "record" in data:
        return _dead_letter_item(data)
    return _jsonl_item(data)


def _count(ledger: Ledger) -> int:
    # SQL stores only: a JSONL ledger is never a destination (see _open)
    conn = cast(Any, ledger).connect()
    try:
        return int(conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0])
    finally:
        conn.close()
