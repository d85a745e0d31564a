"""Ledger stores: SQLite (default), in-memory and JSONL."""

from __future__ import annotations

import json
import logging
import operator
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError, LedgerError
from .._records import CostRecord
from ._base import (
    CREATE_META,
    RECORD_COLUMNS,
    USER_SALT_KEY,
    Ledger,
    TaskOutcome,
    iter_json_lines,
    new_user_salt,
    outcome_to_row,
    read_json_lines,
    record_to_row,
    row_to_record,
    rows_to_outcomes,
)

if TYPE_CHECKING:  # imported where a SQLite ledger is opened: importing the package stays cheap
    import sqlite3

logger = logging.getLogger("llm_cost_hooks.ledger")

__all__ = ["JSONLLedger", "MemoryLedger", "SQLiteLedger", "open_ledger"]

# PRAGMA user_version of the file. 2: no index on cost_records(task_id); 3: records keyed
# by (timestamp, request_id) instead of request_id alone; 4: task outcomes keyed by all their
# fields (see _MIGRATIONS).
_SCHEMA_VERSION = 4

_COLUMN_TYPES = {
    "request_id": "TEXT NOT NULL",
    "timestamp": "TEXT NOT NULL",
    "input_tokens": "INTEGER",
    "output_tokens": "INTEGER",
    "cache_read_tokens": "INTEGER",
    "cache_write_tokens": "INTEGER",
    "reasoning_tokens": "INTEGER",
    "cost_usd": "REAL",
    "cost_input": "REAL",
    "cost_cache_read": "REAL",
    "cost_cache_write": "REAL",
    "cost_output": "REAL",
    "cost_reasoning": "REAL",
    "saved_usd": "REAL",
    "latency_ms": "REAL",
    "success": "INTEGER",
    "attempt": "INTEGER",
    "tokens_estimated": "INTEGER",
    "price_estimated": "INTEGER",
}

_RECORDS_COLUMNS_SQL = ", ".join(f"{c} {_COLUMN_TYPES.get(c, 'TEXT')}" for c in RECORD_COLUMNS)
CREATE_RECORDS = f"CREATE TABLE IF NOT EXISTS cost_records ({_RECORDS_COLUMNS_SQL})"
CREATE_OUTCOMES = (
    "CREATE TABLE IF NOT EXISTS task_outcomes (task_id TEXT NOT NULL, success INTEGER NOT NULL, "
    "source TEXT NOT NULL, reason TEXT, timestamp TEXT NOT NULL)"
)
# A record is the same record when its request id and its timestamp are: what a retried
# batch, a dead-letter replay or a copy writes again. The key leads with the timestamp, so
# an insert lands at the index's end whatever the request ids look like (random ones on a
# key of their own dirtied a random page of it per row: 25 us a row with a million records
# in the file), and the same index serves the reports' time ranges and order.
# A task outcome is the same outcome when all of it is (as ledger copy and the PostgreSQL
# store compare them; a NULL reason equals another): a replayed dead-letter file, or a batch
# set aside at exit that its writer finished after all, must not count a task twice. The key
# leads with the task id, so it also serves the reports' look-ups by task.
_OUTCOME_KEY = "task_outcomes(task_id, timestamp, success, source, COALESCE(reason, ''))"
CREATE_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_records_time_request ON cost_records(timestamp, request_id)",
    f"CREATE UNIQUE INDEX IF NOT EXISTS ux_outcomes_key ON {_OUTCOME_KEY}",
)
# What opening a file of an older schema version does to it, by the version it reaches.
# 2: the index on cost_records(task_id) goes. No query reads records by task id (task
# reports group the whole table by COALESCE(task_id, request_id), which it cannot serve),
# and task ids are mostly random run ids: every insert updated a random page of it, about
# a third of a row's insert CPU.
# 3: the table is rebuilt without its primary key on request_id (SQLite cannot drop one in
# place), every row copied in its order; its indexes go with the old table, and the unique
# (timestamp, request_id) index replaces the key and the timestamp index.
# 4: the copies of an outcome earlier versions stored twice (every field equal, the time to
# the microsecond) go, the first one stays; the unique key on outcomes (created with the
# other indexes) replaces the index on task_id, which it begins with.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("DROP INDEX IF EXISTS ix_records_task",),
    3: (
        f"CREATE TABLE cost_records_v3 ({_RECORDS_COLUMNS_SQL})",
        "INSERT INTO cost_records_v3 ({0}) SELECT {0} FROM cost_records ORDER BY rowid".format(
            ", ".join(RECORD_COLUMNS)
        ),
        "DROP TABLE cost_records",
        "ALTER TABLE cost_records_v3 RENAME TO cost_records",
    ),
    4: (
        # Each row is compared with the others of its task through the task_id index: less
        # than half the CPU of grouping the whole table (2.2-2.5 s, not 5.0-5.7 s, for a
        # million rows).
        "CREATE INDEX IF NOT EXISTS ix_outcomes_task ON task_outcomes(task_id)",
        "DELETE FROM task_outcomes WHERE EXISTS (SELECT 1 FROM task_outcomes AS b "
        "WHERE b.task_id = task_outcomes.task_id AND b.rowid < task_outcomes.rowid "
        "AND b.timestamp = task_outcomes.timestamp AND b.success = task_outcomes.success "
        "AND b.source = task_outcomes.source "
        "AND COALESCE(b.reason, '') = COALESCE(task_outcomes.reason, ''))",
        "DROP INDEX ix_outcomes_task",
    ),
}
# Indexes of earlier versions that a release of version 1 or 2 creates again when it opens a
# file of this version (they run their CREATE INDEX IF NOT EXISTS on every open; version 1
# also sets user_version back to 1; releases of version 3 leave a newer file alone). Each one adds to every insert: with
# ix_records_time and ix_outcomes_task SQLite's steps take 29% more instructions a record
# (bench/results/upgrade-2026-12-07d/). Opening the file drops them again.
_EARLIER_INDEXES = ("ix_records_task", "ix_records_time", "ix_outcomes_task")
INSERT_RECORD = "INSERT OR REPLACE INTO cost_records ({}) VALUES ({})".format(
    ", ".join(RECORD_COLUMNS), ", ".join("?" for _ in RECORD_COLUMNS)
)
# Rows per INSERT statement, largest first (30 rows: at most 960 parameters, under the 999 of
# SQLite before 3.32): a batch is written with few statement steps, so the writer thread gives
# up the GIL a few times per batch instead of once per row, and the VM runs fewer round trips.
_INSERT_SIZES = (30, 16, 8, 4, 2, 1)
# The columns a record leaves empty (None) are left out of its INSERT (they default to NULL):
# the sqlite3 module binds None only after an adapter look-up that raises and discards two
# AttributeErrors, about 3,000 instructions a value, a third of a typical row's insert.
_OPTIONAL_COLUMNS = tuple(
    "task_id parent_id tenant user feature route prompt_version provider latency_ms error_type tags".split()
)
_OPTIONAL_AT = tuple(RECORD_COLUMNS.index(c) for c in _OPTIONAL_COLUMNS)
# The values nearly every row has in these columns (no cache writes, no reasoning tokens, US
# dollars, a first attempt that succeeded, counted and priced): a row that has them all gets
# them as literals in its statement instead of bound (binding costs ~300 instructions a
# value). Numeric columns store an equal number the same way whatever its Python type.
_USUAL_VALUES = {
    "cache_write_tokens": "0",
    "reasoning_tokens": "0",
    "currency": "'USD'",
    "success": "1",
    "attempt": "1",
    "tokens_estimated": "0",
    "price_estimated": "0",
}
_USUAL_AT = {RECORD_COLUMNS.index(c): literal for c, literal in _USUAL_VALUES.items()}


def _empty_columns(r: Sequence[object]) -> tuple[bool, ...]:
    """Which optional columns of row ``r`` are None, in ``_OPTIONAL_COLUMNS`` order, then
    whether its task id is its request id (the same string: a call that is its own task),
    then whether it has the ``_USUAL_VALUES`` (spelled out: a generator or ``map`` costs
    several times more per row)."""
    return (
        r[1] is None,
        r[2] is None,
        r[4] is None,
        r[5] is None,
        r[6] is None,
        r[7] is None,
        r[8] is None,
        r[9] is None,
        r[25] is None,
        r[27] is None,
        r[29] is None,
        r[1] is r[0],
        r[14] == 0
        and r[15] == 0
        and r[22] == "USD"
        and r[26] == 1
        and r[28] == 1
        and r[30] == 0
        and r[31] == 0,
    )


class _Shape:
    """The INSERT statements of rows whose empty optional columns are the same (and that
    all have, or not all have, the usual values; whose task ids all are, or not all are,
    their request ids)."""

    __slots__ = ("statements", "values")

    def __init__(self, empty: tuple[bool, ...]) -> None:
        skip = {at for at, none in zip(_OPTIONAL_AT, empty) if none}
        own_task, usual = empty[-2:]
        literals = _USUAL_AT if usual else {}
        keep = [i for i in range(len(RECORD_COLUMNS)) if i not in skip]
        # A call that is its own task binds its id once, for both columns (binding a text
        # value copies it: ~800 instructions).
        bound = [i for i in keep if i not in literals and not (own_task and i == 1)]
        # The values a row binds (a plain tuple when it binds them all).
        self.values: Callable[[Sequence[object]], Sequence[object]] = (
            operator.itemgetter(*bound) if len(bound) < len(RECORD_COLUMNS) else tuple
        )
        columns = ", ".join(RECORD_COLUMNS[i] for i in keep)
        if own_task:
            # Numbered parameters: row k's values are ?(k*n+1) .. ?(k*n+n).
            at = {i: n for n, i in enumerate(bound, 1)}
            at[1] = at[0]

            def one(k: int) -> str:
                off = k * len(bound)
                return "({})".format(", ".join(literals.get(i) or f"?{off + at[i]}" for i in keep))

            rows = {size: ", ".join(one(k) for k in range(size)) for size in _INSERT_SIZES}
        else:
            plain = "({})".format(", ".join(literals.get(i, "?") for i in keep))
            rows = {size: ", ".join([plain] * size) for size in _INSERT_SIZES}
        self.statements = {
            size: f"INSERT OR REPLACE INTO cost_records ({columns}) VALUES {values}"
            for size, values in rows.items()
        }


_SHAPES: dict[tuple[bool, ...], _Shape] = {}
# An outcome stored already is skipped (not replaced: the row is the same).
INSERT_OUTCOME = (
    "INSERT OR IGNORE INTO task_outcomes (task_id, success, source, reason, timestamp) VALUES (?, ?, ?, ?, ?)"
)


# Connections a forked child inherited: kept referenced so they are never closed there.
_INHERITED_CONNECTIONS: list[sqlite3.Connection] = []


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, or bring a file of an older schema version to this one in one
    transaction (a file of a newer version is left as it is: its tables hold the same
    columns). Several processes may open one old file at once: the first migrates it under
    the write lock, the others find it done."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > _SCHEMA_VERSION:
        return
    if version == _SCHEMA_VERSION:
        _drop_earlier_indexes(conn)
        return
    conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < _SCHEMA_VERSION:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cost_records'"
            ).fetchone()
            # Versions before 4 migrate the outcomes table: a file without one gets it first.
            conn.execute(CREATE_OUTCOMES)
            if exists:
                for target in range(version + 1, _SCHEMA_VERSION + 1):
                    if target == 3 and not _keyed_by_request_id(conn):
                        continue  # already the time-keyed table
                    for stmt in _MIGRATIONS.get(target, ()):
                        conn.execute(stmt)
            conn.execute(CREATE_RECORDS)
            conn.execute(CREATE_OUTCOMES)
            for stmt in CREATE_INDEXES:
                conn.execute(stmt)
            for name in _EARLIER_INDEXES:  # version 3's rebuild is skipped on a time-keyed table
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _drop_earlier_indexes(conn: sqlite3.Connection) -> None:
    """Drop the indexes a release of an earlier version added to this file when it opened
    it. Only a cost: a file that cannot be changed now (read-only, or locked longer than the
    connection waits) opens as it is."""
    import sqlite3

    names = ", ".join(f"'{n}'" for n in _EARLIER_INDEXES)
    found = f"SELECT 1 FROM sqlite_master WHERE type = 'index' AND name IN ({names})"
    if not conn.execute(found).fetchone():
        return
    # Not worth holding up the ledger's start: a writer busy for longer leaves them for the
    # next open.
    wait = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout = 2000")
    try:
        conn.commit()
        conn.execute("BEGIN IMMEDIATE")
        for name in _EARLIER_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        conn.commit()
    except sqlite3.Error:
        conn.rollback()
        logger.debug("llm-cost-hooks ledger: indexes of an earlier version left in place", exc_info=True)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(wait)}")


def _keyed_by_request_id(conn: sqlite3.Connection) -> bool:
    """Whether cost_records is the table of versions before 3 (primary key request_id)."""
    return any(row[1] == "request_id" and row[5] for row in conn.execute("PRAGMA table_info(cost_records)"))


def _insert_rows(conn: sqlite3.Connection | sqlite3.Cursor, rows: Sequence[Sequence[object]]) -> None:
    """Insert ``rows`` (``RECORD_COLUMNS`` values) in their order: each run of rows with the
    same empty columns by multi-row statements that leave those columns out."""
    start = 0
    n = len(rows)
    while start < n:
        empty = _empty_columns(rows[start])
        end = start + 1
        while end < n and _empty_columns(rows[end]) == empty:
            end += 1
        shape = _SHAPES.get(empty)
        if shape is None:
            shape = _SHAPES[empty] = _Shape(empty)
        values = shape.values
        done = start
        for size in _INSERT_SIZES:
            stop = done + (end - done) // size * size
            if stop > done:
                if size == 1:
                    conn.executemany(shape.statements[1], map(values, rows[done:stop]))
                else:
                    conn.executemany(
                        shape.statements[size],
                        (
                            tuple(chain.from_iterable(map(values, rows[i : i + size])))
                            for i in range(done, stop, size)
                        ),
                    )
                done = stop
        start = end


class SQLiteLedger(Ledger):
    """The embedded default: one SQLite file in WAL mode, written by a background thread.

    >>> import tempfile, os
    >>> ledger = SQLiteLedger(os.path.join(tempfile.mkdtemp(), "costs.db"))
    >>> ledger.write(CostRecord(model="gpt-4o-mini", input_tokens=10, output_tokens=5))
    >>> ledger.flush()
    True
    >>> len(list(ledger.records()))
    1
    >>> ledger.close()
    """

    def __init__(self, path: str | os.PathLike[str], **kwargs: object) -> None:
        import sqlite3

        if os.fspath(path) in ("", ":memory:") or os.fspath(path).startswith("file::memory:"):
            # Each connection to an in-memory SQLite database gets its own, empty one: the
            # writer thread and the reports would each see another, and the records none.
            raise LedgerError(
                f"An in-memory SQLite database ({os.fspath(path)!r}) cannot hold a ledger: the "
                "writer thread and the reports use connections of their own, each of which "
                "would see another, empty database. Use ledger='memory://' for a ledger in "
                "memory, or a file path (e.g. 'sqlite:///./llm_costs.db')."
            )
        self.path = Path(path)
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # Another process may hold the write lock while it migrates a large old file.
            conn = sqlite3.connect(self.path, timeout=120)
            conn.execute("PRAGMA journal_mode=WAL")
            init_schema(conn)
            conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(
                f"Cannot open the SQLite ledger at {str(self.path)!r}: {exc}. "
                "Give a writable file path (e.g. 'sqlite:///./llm_costs.db') or "
                "ledger='memory://'."
            ) from exc
        self._path_text = os.fspath(self.path)
        self._conn: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None
        self._inode: tuple[int, int] | None = None
        self._read_lock = threading.Lock()
        super().__init__(**kwargs)  # type: ignore[arg-type]

    _writes_rows = True

    def _writer_conn(self) -> sqlite3.Connection:
        import sqlite3

        if self._conn is not None:
            # A connection keeps writing into a file deleted or replaced under it, where
            # nobody will read the records again: reopen the path instead.
            try:
                st = os.stat(self._path_text)
                same = (st.st_dev, st.st_ino) == self._inode
            except OSError:
                same = False
            if not same:
                logger.warning(
                    "llm-cost-hooks ledger: %s was deleted or replaced while open; writing to a "
                    "new file at that path.",
                    self.path,
                )
                self._drop_conn()
        if self._conn is None:
            # Autocommit: _write_batch opens its transactions itself (the module's implicit
            # BEGIN and its COMMIT compile their statement anew each time).
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL is durable across application crashes in WAL mode; only a power
                # loss can drop the last transactions, which is fine for cost records.
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=5000")
                init_schema(conn)
                st = self.path.stat()
            except BaseException:
                conn.close()
                raise
            self._inode = (st.st_dev, st.st_ino)
            self._conn = conn
            self._cursor = conn.cursor()
        return self._conn

    def _drop_conn(self) -> None:
        import sqlite3

        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = self._cursor = None

    def _is_record_error(self, exc: BaseException) -> bool:
        import sqlite3

        # Binding errors (a value SQLite cannot store) and constraint violations are about
        # the batch; OperationalError/DatabaseError (full, read-only, locked, corrupt) are not.
        return super()._is_record_error(exc) or isinstance(
            exc, (sqlite3.InterfaceError, sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError)
        )

    def _after_fork_in_child(self) -> None:
        # The parent's connection stays open and unused here: closing it in the child
        # could checkpoint or release locks of a database the parent is writing.
        if self._conn is not None:
            _INHERITED_CONNECTIONS.append(self._conn)
        self._conn = self._cursor = None
        self._inode = None
        self._read_lock = threading.Lock()

    def _write_batch(
        self, records: Sequence[CostRecord | tuple[object, ...]], outcomes: Sequence[TaskOutcome]
    ) -> None:
        import sqlite3

        try:
            conn = self._writer_conn()
            cur = self._cursor
            assert cur is not None
            rows = [r if isinstance(r, tuple) else record_to_row(r) for r in records]
            if len(rows) == 1 and not outcomes:
                # One statement: a transaction of its own.
                _insert_rows(cur, rows)
                return
            skipped = 0
            cur.execute("BEGIN")
            try:
                if rows:
                    _insert_rows(cur, rows)
                if outcomes:
                    cur.executemany(INSERT_OUTCOME, [outcome_to_row(o) for o in outcomes])
                    # rowcount: the rows added, summed over the statements.
                    skipped = len(outcomes) - cur.rowcount if cur.rowcount >= 0 else 0
                cur.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.rollback()
                    except sqlite3.Error:
                        logger.debug("llm-cost-hooks ledger: rollback failed", exc_info=True)
                raise
            if skipped:
                with self._lock:
                    self._stats.duplicate_outcomes += skipped
        except sqlite3.Error as exc:
            if not self._is_record_error(exc):
                # Reopen next time: the file may have been replaced or the disk remounted.
                self._drop_conn()
            raise

    def _close_storage(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = self._cursor = None

    def _user_salt(self, new: str | None = None, *, create: bool = True) -> str | None:
        """The salt kept in the file (table ``llm_cost_meta``), made by the first writer."""
        import sqlite3

        # A writer holding the file longer (a migration) makes this fail: asked again later.
        conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        try:
            select = "SELECT value FROM llm_cost_meta WHERE key = ?"
            unsalted = "SELECT 1 FROM cost_records WHERE user IS NOT NULL LIMIT 1"
            if not create:
                try:
                    found = conn.execute(select, (USER_SALT_KEY,)).fetchone()
                except sqlite3.OperationalError:  # no such table: a file of an earlier release
                    found = None
                if found is None:
                    return "" if conn.execute(unsalted).fetchone() else None
                return str(found[0])
            conn.execute(CREATE_META)
            found = conn.execute(select, (USER_SALT_KEY,)).fetchone()
            if found is None:
                conn.execute("BEGIN IMMEDIATE")  # one writer decides
                try:
                    found = conn.execute(select, (USER_SALT_KEY,)).fetchone()
                    if found is None:
                        found = (
                            ""
                            if conn.execute(unsalted).fetchone()
                            else (new_user_salt() if new is None else new),
                        )
                        conn.execute(
                            "INSERT INTO llm_cost_meta (key, value) VALUES (?, ?)", (USER_SALT_KEY, found[0])
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            return str(found[0])
        finally:
            conn.close()

    def connect(self) -> sqlite3.Connection:
        """A new read connection (the caller closes it)."""
        import sqlite3

        return sqlite3.connect(self.path)

    def records(self) -> Iterable[CostRecord]:
        import sqlite3

        with self._read_lock, sqlite3.connect(self.path) as conn:
            rows = conn.execute(
                f"SELECT {', '.join(RECORD_COLUMNS)} FROM cost_records ORDER BY timestamp"
            ).fetchall()
        return [row_to_record(r) for r in rows]

    def task_outcomes(self) -> Iterable[TaskOutcome]:
        import sqlite3

        with self._read_lock, sqlite3.connect(self.path) as conn:
            rows = conn.execute(
                "SELECT task_id, success, source, reason, timestamp FROM task_outcomes"
            ).fetchall()
        return rows_to_outcomes(rows)

    def _prune(self, cutoff: datetime, *, dry_run: bool, batch_size: int) -> dict[str, int]:
        from ._prune import prune_sqlite

        return prune_sqlite(self.path, cutoff, dry_run=dry_run, batch_size=batch_size)


class MemoryLedger(Ledger):
    """Keeps records in a list; for tests and short scripts. Writes synchronously.

    >>> from llm_cost_hooks import CostRecord
    >>> ledger = MemoryLedger()
    >>> ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.0002))
    >>> [(r.tenant, r.cost_usd) for r in ledger.records()]
    [('acme', 0.0002)]
    """

    def __init__(self, **kwargs: object) -> None:
        self._records: list[CostRecord] = []
        self._task_outcomes: list[TaskOutcome] = []
        self._salt = new_user_salt()
        kwargs.setdefault("background", False)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> None:
        self._records.extend(records)
        self._task_outcomes.extend(outcomes)

    def _user_salt(self, new: str | None = None, *, create: bool = True) -> str | None:
        return self._salt

    def records(self) -> list[CostRecord]:
        return list(self._records)

    def task_outcomes(self) -> list[TaskOutcome]:
        return list(self._task_outcomes)

    def _prune(self, cutoff: datetime, *, dry_run: bool, batch_size: int) -> dict[str, int]:
        with self._io_lock:
            records = [r for r in self._records if r.timestamp >= cutoff]
            outcomes = [o for o in self._task_outcomes if o.timestamp >= cutoff]
            counts = {
                "records": len(self._records) - len(records),
                "outcomes": len(self._task_outcomes) - len(outcomes),
            }
            if not dry_run:
                self._records, self._task_outcomes = records, outcomes
        return counts


class JSONLLedger(Ledger):
    """Appends one JSON object per line (records and ``{"task_outcome": ...}`` lines).

    >>> import json
    >>> from llm_cost_hooks import CostRecord
    >>> with JSONLLedger("llm_costs.jsonl") as ledger:
    ...     ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.0002))
    >>> json.loads(open("llm_costs.jsonl").readline())["tenant"]
    'acme'
    """

    def __init__(self, path: str | os.PathLike[str], **kwargs: object) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise LedgerError(
                f"Cannot open the JSONL ledger at {str(self.path)!r}: {exc}. Give a writable file path."
            ) from exc
        # Lines the last read skipped as damaged.
        self.damaged_lines = 0
        self._clean_end = -1
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _user_salt(self, new: str | None = None, *, create: bool = True) -> str | None:
        """The salt kept beside the file (``<file>.salt``, readable by its owner only), made
        by the first writer; an empty one for a file that already held unsalted hashes."""
        side = self.path.with_name(self.path.name + ".salt")
        try:
            return side.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pass
        unsalted = self._holds_user_hashes()
        if not create:
            return "" if unsalted else None
        value = "" if unsalted else (new_user_salt() if new is None else new)
        tmp = side.with_name(f"{side.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(value)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, side)  # the first writer's salt wins, whole
            except FileExistsError:
                return side.read_text(encoding="utf-8").strip()
        finally:
            tmp.unlink(missing_ok=True)
        return value

    def _holds_user_hashes(self) -> bool:
        """Whether a record line of the file has a user: read a line at a time, up to the
        first one. A dead-letter file's lines (``{"record": ...}``) do not count: their
        hashes were made with their ledger's salt, which the file does not hold."""
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if '"user"' not in line:
                    continue
                try:
                    data = json.loads(line)
                except ValueError:  # a damaged line
                    continue
                if isinstance(data, dict) and "record" not in data and data.get("user") is not None:
                    return True
        return False

    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> None:
        lines = [r.model_dump_json() for r in records]
        lines += [json.dumps({"task_outcome": json.loads(o.model_dump_json())}) for o in outcomes]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size
            # The size this writer left the file at ends with its own newline: no need to look.
            if start != self._clean_end and _ends_torn(fd, start):
                # A process killed mid-write left a line without its end: start on a new
                # line so these records do not merge into the damaged one.
                data = b"\n" + data
            done = 0
            try:
                while done < len(data):
                    done += os.write(fd, data[done:])
                self._clean_end = start + done
            except BaseException:
                # No half-written batch (it is retried or set aside whole), unless another
                # process appended meanwhile: its lines are not ours to cut.
                try:
                    if os.fstat(fd).st_size == start + done:
                        os.ftruncate(fd, start)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)

    def _read(self) -> tuple[list[CostRecord], list[TaskOutcome]]:
        """The file's records and task outcomes. A line that is not a whole record (cut
        short by a crash, or a later append merged into such a line) is skipped, counted in
        :attr:`damaged_lines` and named in one warning per read: the other lines are read."""
        items, damaged = read_json_lines(self.path, _jsonl_item)
        records = [i for i in items if isinstance(i, CostRecord)]
        outcomes = [i for i in items if isinstance(i, TaskOutcome)]
        self._note_damage(damaged, bool(records or outcomes))
        return records, outcomes

    def _load_into(self, conn: sqlite3.Connection, batch: int = 5000) -> None:
        """Insert the file's records and outcomes into the ledger tables of ``conn`` a few
        thousand at a time (a year of records would not fit in memory as objects), with
        the damaged lines skipped and counted as :meth:`_read` does."""
        damaged: list[int] = []
        rows: list[tuple[Any, ...]] = []
        outcomes: list[tuple[object, ...]] = []
        found = False
        for item in iter_json_lines(self.path, _jsonl_item, damaged):
            found = True
            if isinstance(item, CostRecord):
                rows.append(record_to_row(item))
                if len(rows) >= batch:
                    _insert_rows(conn, rows)
                    rows.clear()
            else:
                outcomes.append(outcome_to_row(item))
                if len(outcomes) >= batch:
                    conn.executemany(INSERT_OUTCOME, outcomes)
                    outcomes.clear()
        if rows:
            _insert_rows(conn, rows)
        if outcomes:
            conn.executemany(INSERT_OUTCOME, outcomes)
        conn.commit()
        self._note_damage(damaged, found)

    def _note_damage(self, damaged: list[int], found: bool) -> None:
        self.damaged_lines = len(damaged)
        if damaged:
            if not found:
                raise ValueError(f"no line is a record; line {damaged[0]} is not one")
            logger.warning(
                "llm-cost-hooks ledger: %s: %d line(s) are not whole records and were skipped "
                "(line %s); a process killed while writing leaves such a line. The other lines "
                "were read.",
                self.path,
                len(damaged),
                _line_list(damaged),
            )

    def records(self) -> list[CostRecord]:
        return self._read()[0]

    def task_outcomes(self) -> list[TaskOutcome]:
        return self._read()[1]

    def _prune(self, cutoff: datetime, *, dry_run: bool, batch_size: int) -> dict[str, int]:
        from ._prune import prune_jsonl

        # The writer appends under this lock: none of this process's lines is written
        # while the file is swapped.
        with self._io_lock:
            return prune_jsonl(self.path, cutoff, dry_run=dry_run)


def _ends_torn(fd: int, size: int) -> bool:
    """Whether the file open at ``fd`` (``size`` bytes) ends inside a line."""
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _jsonl_item(data: Any) -> CostRecord | TaskOutcome:
    if "task_outcome" in data:
        return TaskOutcome.model_validate(data["task_outcome"])
    return CostRecord.model_validate(data)


def _line_list(numbers: Sequence[int], most: int = 10) -> str:
    text = ", ".join(map(str, numbers[:most]))
    return text + (f" and {len(numbers) - most} more" if len(numbers) > most else "")


def open_ledger(target: str | os.PathLike[str] | Ledger | None) -> Ledger:
    """Open a ledger from a URL or path.

    ``"sqlite:///relative.db"``, ``"sqlite:////abs/path.db"``, a path ending in ``.db``
    or ``.sqlite``: :class:`SQLiteLedger`; ``"jsonl:///path"`` or a ``.jsonl`` path:
    :class:`JSONLLedger`; ``"postgresql://user@host/db"``: ``PostgresLedger`` (the
    ``postgres`` extra); ``"memory://"`` or ``None``: :class:`MemoryLedger`. A
    :class:`Ledger` instance is returned as is.

    >>> type(open_ledger("sqlite:///llm_costs.db")).__name__
    'SQLiteLedger'
    >>> type(open_ledger("costs.jsonl")).__name__, type(open_ledger(None)).__name__
    ('JSONLLedger', 'MemoryLedger')
    """
    if target is None:
        return MemoryLedger()
    if isinstance(target, Ledger):
        return target
    if not isinstance(target, (str, os.PathLike)):
        raise ConfigurationError(
            "ledger must be a URL like 'sqlite:///llm_costs.db', a path, 'memory://' or "
            f"a Ledger instance; got {type(target).__name__}."
        )
    text = os.fspath(target)
    if text.startswith("memory://"):
        return MemoryLedger()
    if text.startswith("sqlite:///"):
        return SQLiteLedger(text[len("sqlite:///") :])
    if text.startswith("jsonl:///"):
        return JSONLLedger(text[len("jsonl:///") :])
    if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from ._postgres import PostgresLedger

        return PostgresLedger(text)
    if "://" in text:
        raise ConfigurationError(
            f"Unknown ledger URL {text.split('://')[0]}://...; use sqlite:///path.db, "
            "jsonl:///path.jsonl, postgresql://user@host/db or memory://."
        )
    if text.endswith(".jsonl"):
        return JSONLLedger(text)
    return SQLiteLedger(text)
