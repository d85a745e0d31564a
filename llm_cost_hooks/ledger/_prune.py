"""Retention: delete the records and task outcomes older than a date, in bounded batches.

Each store deletes in short transactions of at most ``batch_size`` rows, so writers of a
live ledger wait at most one batch. The PostgreSQL store takes what a batch deletes off its
hourly rollups in the same transaction: reports read the same totals from the rollups as
from the records at every moment.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._durable import sync_dir
from .._errors import ConfigurationError, LedgerError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["cutoff_from", "prune_jsonl", "prune_postgres", "prune_sqlite"]

_AGE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_AGE_UNITS = {"h": "hours", "d": "days", "w": "weeks"}

#: Rows per transaction unless told otherwise.
DEFAULT_BATCH = 10_000
#: The pause between two SQLite batches, in which waiting writers take the lock.
_YIELD_SECONDS = 0.05


def cutoff_from(
    before: datetime | date | str | None = None,
    older_than: str | timedelta | None = None,
    *,
    now: datetime | None = None,
    names: tuple[str, str] = ("before", "older_than"),
) -> datetime:
    """The UTC instant records older than which go: ``before`` (an ISO date, taken as
    midnight UTC, or datetime, UTC unless it names its offset) or ``older_than`` (a
    :class:`~datetime.timedelta` or text like ``90d``, ``12w``, ``36h``) before ``now``.
    ``names``: what the two are called in messages (the command line's options)."""
    b_name, o_name = names
    if (before is None) == (older_than is None):
        raise ConfigurationError(f"Give one of {b_name} (a date, e.g. 2026-09-01) or {o_name} (e.g. 90d).")
    now = now or datetime.now(timezone.utc)
    if older_than is not None:
        if isinstance(older_than, str):
            m = _AGE.match(older_than)
            if not m:
                raise ConfigurationError(
                    f"{o_name} must be a whole number of hours, days or weeks like 36h, 90d or 12w; "
                    f"got {older_than!r}."
                )
            older_than = timedelta(**{_AGE_UNITS[m.group(2)]: int(m.group(1))})
        if older_than <= timedelta(0):
            raise ConfigurationError(f"{o_name} must be more than zero; got {older_than}.")
        return now - older_than
    assert before is not None
    if isinstance(before, str):
        try:
            before = datetime.fromisoformat(before.strip())
        except ValueError:
            raise ConfigurationError(
                f"{b_name} must be an ISO date or date and time like 2026-09-01 or "
                f"2026-09-01T12:00:00+00:00; got {before!r}."
            ) from None
    if not isinstance(before, datetime):
        before = datetime(before.year, before.month, before.day, tzinfo=timezone.utc)
    elif before.tzinfo is None:
        before = before.replace(tzinfo=timezone.utc)
    before = before.astimezone(timezone.utc)
    if before > now:
        # The records being written now would go too: surely not what was meant.
        raise ConfigurationError(
            f"{b_name} ({before.isoformat()}) is in the future; give a date in the past, such as "
            f"{(now - timedelta(days=90)).date().isoformat()}."
        )
    return before


def _result(records: int, outcomes: int, free_bytes: int | None = None) -> dict[str, int]:
    out = {"records": records, "outcomes": outcomes}
    if free_bytes is not None:
        out["free_bytes"] = free_bytes
    return out


# -- SQLite --------------------------------------------------------------------------------
def prune_sqlite(
    path: Path, cutoff: datetime, *, dry_run: bool = False, batch_size: int = DEFAULT_BATCH
) -> dict[str, int]:
    """Delete from a SQLite ledger file. Records go oldest first through the time index;
    outcomes (no time index: it would cost every write) are found by a scan per batch,
    which stops at the batch's last old row as outcomes are appended in time order.
    ``free_bytes``: pages now free in the file. New records reuse them, so a pruned ledger
    stops growing; ``VACUUM`` (or ``PRAGMA incremental_vacuum`` where the file was made
    with ``auto_vacuum = INCREMENTAL``, which this runs) returns them to the disk."""
    import sqlite3

    text = cutoff.astimezone(timezone.utc).isoformat()
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        if dry_run:
            n = conn.execute("SELECT COUNT(*) FROM cost_records WHERE timestamp < ?", (text,)).fetchone()[0]
            m = conn.execute("SELECT COUNT(*) FROM task_outcomes WHERE timestamp < ?", (text,)).fetchone()[0]
            return _result(n, m)
        records = _delete_batches(
            conn,
            "DELETE FROM cost_records WHERE rowid IN (SELECT rowid FROM cost_records "
            "WHERE timestamp < ? ORDER BY timestamp LIMIT ?)",
            text,
            batch_size,
        )
        outcomes = _delete_batches(
            conn,
            "DELETE FROM task_outcomes WHERE rowid IN (SELECT rowid FROM task_outcomes "
            "WHERE timestamp < ? LIMIT ?)",
            text,
            batch_size,
        )
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:  # INCREMENTAL
            conn.execute("PRAGMA incremental_vacuum")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return _result(records, outcomes, free * page)
    except sqlite3.Error as exc:
        raise LedgerError(f"Cannot prune the SQLite ledger {str(path)!r}: {exc}") from exc
    finally:
        conn.close()


def _delete_batches(conn: sqlite3.Connection, sql: str, cutoff: str, batch_size: int) -> int:
    done = 0
    while True:
        # IMMEDIATE: the write lock up front, waited for like any writer waits.
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = conn.execute(sql, (cutoff, batch_size)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        done += n
        if n < batch_size:
            return done
        # Writers waiting for the lock sleep in SQLite's busy handler (1 ms, 2 ms, 5 ms ...,
        # up to 100 ms): taking the lock again at once kept them waiting batch after batch.
        time.sleep(_YIELD_SECONDS)


# -- JSONL ---------------------------------------------------------------------------------
def _line_time(line: bytes) -> datetime | None:
    """The timestamp of a record or outcome line (None: not a whole line of ours, kept)."""
    try:
        data = json.loads(line)
        if "task_outcome" in data:
            data = data["task_outcome"]
        ts = datetime.fromisoformat(str(data["timestamp"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def prune_jsonl(
    path: Path,
    cutoff: datetime,
    *,
    dry_run: bool = False,
    settle: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Rewrite a JSONL ledger without its old lines: the kept lines go to a new file beside
    it, which then replaces it (``os.replace``: a reader sees the old file or the new one).
    Lines a writer appends meanwhile are carried over, also those a writer that opened the
    file just before the swap adds within ``settle`` seconds after it. Damaged lines stay."""
    gone = {"records": 0, "outcomes": 0}

    def keep(line: bytes) -> bool:
        ts = _line_time(line)
        if ts is None or ts >= cutoff:
            return True
        gone["outcomes" if b'"task_outcome"' in line[:20] else "records"] += 1
        return False

    try:
        src = open(path, "rb")  # noqa: SIM115 - read to the end after the swap too
    except OSError as exc:
        raise LedgerError(f"Cannot read the JSONL ledger {str(path)!r}: {exc}") from exc
    tmp = path.with_name(f".{path.name}.prune-{os.getpid()}")
    try:
        with src:
            if dry_run:
                for line in src:
                    keep(line)
                return _result(gone["records"], gone["outcomes"])
            with open(tmp, "wb") as out:
                pending = b""  # a last line without its newline yet: a writer is mid-append

                def carry() -> None:
                    nonlocal pending
                    data = pending + src.read()
                    lines = data.split(b"\n")
                    pending = lines.pop()
                    out.writelines(line + b"\n" for line in lines if keep(line))

                carry()
                for _ in range(50):  # writers appending: catch up before the swap
                    if os.fstat(src.fileno()).st_size == src.tell():
                        break
                    carry()
                out.flush()
                os.fsync(out.fileno())
                os.replace(tmp, path)
                # A writer opens the path for each batch: one that opened the old file just
                # before the swap may still append to it.
                sleep(settle)
                carry()
                if pending:  # a torn last line stays as it was (a damaged line)
                    out.write(pending + b"\n")
                out.flush()
                os.fsync(out.fileno())
        sync_dir(path.parent)
    except OSError as exc:
        raise LedgerError(f"Cannot rewrite the JSONL ledger {str(path)!r}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return _result(gone["records"], gone["outcomes"])


# -- PostgreSQL ----------------------------------------------------------------------------
def _prune_records_sql() -> str:
    from ._postgres import ROLLUP_KEYS, ROLLUP_MEASURES, ROLLUP_TABLE

    sums = [(m, agg) for m, agg, how in ROLLUP_MEASURES if how == "sum"]
    keys = ", ".join(f"COALESCE({k}, '') AS {k}" for k in ROLLUP_KEYS)
    aggs = ", ".join(f"{agg} AS {m}" for m, agg in sums)
    sets = ", ".join(f"{m} = COALESCE(r.{m}, 0) - COALESCE(a.{m}, 0)" for m, _ in sums)
    match = " AND ".join(f"r.{k} = a.{k}" for k in ROLLUP_KEYS)
    # One statement, one transaction: the batch's rows leave the table and their sums leave
    # the rollups together. The maxima (tokens_estimated, price_estimated) stay: a flag that
    # may overstate an hour partly pruned, exact again once the hour's row goes.
    return (
        "WITH gone AS (DELETE FROM cost_records WHERE ctid = ANY(ARRAY("
        'SELECT ctid FROM cost_records WHERE "timestamp" < %s ORDER BY "timestamp" LIMIT %s)) '
        "RETURNING *), agg AS (SELECT date_trunc('hour', \"timestamp\" AT TIME ZONE 'UTC') AS hour, "
        f"{keys}, {aggs} FROM gone GROUP BY 1, 2, 3, 4), "
        f"upd AS (UPDATE {ROLLUP_TABLE} r SET {sets} FROM agg a WHERE r.hour = a.hour AND {match}) "
        "SELECT COUNT(*) FROM gone"
    )


def prune_postgres(
    conn: Any, cutoff: datetime, *, dry_run: bool = False, batch_size: int = DEFAULT_BATCH
) -> dict[str, int]:
    """Delete from a PostgreSQL ledger over ``conn`` (autocommit), a transaction per batch.
    Writers keep inserting meanwhile (a batch locks only the old rows it deletes and their
    rollup rows). The space is reused once (auto)vacuum has run."""
    from ._postgres import ROLLUP_TABLE

    if dry_run:
        n = conn.execute('SELECT COUNT(*) FROM cost_records WHERE "timestamp" < %s', (cutoff,)).fetchone()[0]
        m = conn.execute('SELECT COUNT(*) FROM task_outcomes WHERE "timestamp" < %s', (cutoff,)).fetchone()[0]
        return _result(int(n), int(m))
    sql = _prune_records_sql()
    records = 0
    while True:
        with conn.transaction():
            n = int(conn.execute(sql, (cutoff, batch_size)).fetchone()[0])
        records += n
        if n < batch_size:
            break
    # Hours wholly pruned; a row with calls left (the cutoff's hour, or a record written
    # into an old hour meanwhile) stays.
    conn.execute(f"DELETE FROM {ROLLUP_TABLE} WHERE calls <= 0 AND hour < %s", (_naive_hour_after(cutoff),))
    outcomes = 0
    while True:
        with conn.transaction():
            cur = conn.execute(
                "DELETE FROM task_outcomes WHERE ctid = ANY(ARRAY(SELECT ctid FROM task_outcomes "
                'WHERE "timestamp" < %s LIMIT %s))',
                (cutoff, batch_size),
            )
            n = cur.rowcount
        outcomes += n
        if n < batch_size:
            break
    return _result(records, outcomes)


def _naive_hour_after(cutoff: datetime) -> datetime:
    """The rollups' hour (naive UTC) just after the one the cutoff falls in."""
    t = cutoff.astimezone(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    return t + timedelta(hours=1)
