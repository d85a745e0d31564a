"""The fleet ledger: cost records from many processes and machines in one PostgreSQL
database, written with COPY by the background writer, with hourly rollups for reports."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError, LedgerError, MissingExtraError
from .._records import CostRecord
from . import _killcount
from ._base import (
    CREATE_META,
    RECORD_COLUMNS,
    USER_SALT_KEY,
    Ledger,
    TaskOutcome,
    new_user_salt,
    outcome_to_row,
    record_to_row,
    row_to_record,
    rows_to_outcomes,
)

__all__ = [
    "MIGRATIONS",
    "PostgresLedger",
    "connect_for_reports",
    "is_postgres_url",
    "migrate",
    "schema_version",
]

logger = logging.getLogger("llm_cost_hooks.ledger")

_URL_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")

# Every column is quoted: "user" is a reserved word in PostgreSQL.
_COLS = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
_OUTCOME_COLS = 'task_id, success, source, reason, "timestamp"'

_PG_TYPES = {
    "timestamp": "TIMESTAMPTZ NOT NULL",
    "request_id": "TEXT PRIMARY KEY",
    "model": "TEXT NOT NULL",
    "cost_usd": "DOUBLE PRECISION",
    "cost_input": "DOUBLE PRECISION",
    "cost_cache_read": "DOUBLE PRECISION",
    "cost_cache_write": "DOUBLE PRECISION",
    "cost_output": "DOUBLE PRECISION",
    "cost_reasoning": "DOUBLE PRECISION",
    "saved_usd": "DOUBLE PRECISION",
    "latency_ms": "DOUBLE PRECISION",
}
_INT_COLUMNS = {"success", "attempt", "tokens_estimated", "price_estimated"}
_BIGINT_COLUMNS = {
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
}

ROLLUP_TABLE = "cost_rollup_hour"
# Rollup dimensions: stored as '' for "none" so they can be part of the primary key on
# any PostgreSQL version (reports map '' back to NULL).
ROLLUP_KEYS = ("tenant", "feature", "model")
# (rollup column, its aggregate over cost_records rows, how two partial values combine)
ROLLUP_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("calls", "COUNT(*)", "sum"),
    ("input_tokens", "SUM(input_tokens)", "sum"),
    ("output_tokens", "SUM(output_tokens)", "sum"),
    ("cache_read_tokens", "SUM(cache_read_tokens)", "sum"),
    ("reasoning_tokens", "SUM(reasoning_tokens)", "sum"),
    ("cost_usd", "SUM(cost_usd)", "sum"),
    ("saved_usd", "SUM(saved_usd)", "sum"),
    ("errors", "SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END)", "sum"),
    ("cache_hits", "SUM(CASE WHEN cache_status <> 'miss' THEN 1 ELSE 0 END)", "sum"),
    ("retry_cost_usd", "SUM(CASE WHEN attempt > 1 THEN cost_usd ELSE 0 END)", "sum"),
    ("tokens_estimated", "MAX(tokens_estimated)", "max"),
    ("price_estimated", "MAX(price_estimated)", "max"),
)
_ROLLUP_TYPES = {
    "cost_usd": "DOUBLE PRECISION",
    "saved_usd": "DOUBLE PRECISION",
    "retry_cost_usd": "DOUBLE PRECISION",
    "tokens_estimated": "INTEGER",
    "price_estimated": "INTEGER",
}


def _rollup_upsert(source: str) -> str:
    """Add the rows of ``source`` (a table with cost_records' columns) to the rollups.

    Rows are upserted in key order, so concurrent writers lock rollup rows in the same
    order and never deadlock each other."""
    keys = ", ".join(ROLLUP_KEYS)
    measures = ", ".join(m for m, _, _ in ROLLUP_MEASURES)
    aggs = ", ".join(agg for _, agg, _ in ROLLUP_MEASURES)
    key_exprs = ", ".join(f"COALESCE({k}, '')" for k in ROLLUP_KEYS)
    sets = ", ".join(
        f"{m} = COALESCE(r.{m}, 0) + COALESCE(EXCLUDED.{m}, 0)"
        if how == "sum"
        else f"{m} = GREATEST(r.{m}, EXCLUDED.{m})"
        for m, _, how in ROLLUP_MEASURES
    )
    return (
        f"INSERT INTO {ROLLUP_TABLE} AS r (hour, {keys}, {measures}) "
        f"SELECT date_trunc('hour', \"timestamp\" AT TIME ZONE 'UTC'), {key_exprs}, {aggs} "
        f"FROM {source} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
        f"ON CONFLICT (hour, {keys}) DO UPDATE SET {sets}"
    )


_V1 = (
    "CREATE TABLE IF NOT EXISTS cost_records ({})".format(
        ", ".join(
            f'"{c}" '
            + _PG_TYPES.get(
                c, "BIGINT" if c in _BIGINT_COLUMNS else "INTEGER" if c in _INT_COLUMNS else "TEXT"
            )
            for c in RECORD_COLUMNS
        )
    ),
    "CREATE TABLE IF NOT EXISTS task_outcomes (task_id TEXT NOT NULL, success INTEGER NOT NULL, "
    'source TEXT NOT NULL, reason TEXT, "timestamp" TIMESTAMPTZ NOT NULL)',
    "CREATE INDEX IF NOT EXISTS ix_records_task ON cost_records (task_id)",
    'CREATE INDEX IF NOT EXISTS ix_records_time ON cost_records ("timestamp")',
    "CREATE INDEX IF NOT EXISTS ix_outcomes_task ON task_outcomes (task_id)",
)

_V2 = (
    "CREATE TABLE IF NOT EXISTS {t} (hour TIMESTAMP NOT NULL, {keys}, {measures}, "
    "PRIMARY KEY (hour, {pk}))".format(
        t=ROLLUP_TABLE,
        keys=", ".join(f"{k} TEXT NOT NULL" for k in ROLLUP_KEYS),
        measures=", ".join(f"{m} {_ROLLUP_TYPES.get(m, 'BIGINT')}" for m, _, _ in ROLLUP_MEASURES),
        pk=", ".join(ROLLUP_KEYS),
    ),
    # A statement-level trigger sees the rows one INSERT really added (ON CONFLICT DO
    # NOTHING skips duplicates), so records written by any client keep the rollups right.
    "CREATE OR REPLACE FUNCTION llm_cost_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN " + _rollup_upsert("new_rows") + "; RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS llm_cost_rollup_insert ON cost_records",
    "CREATE TRIGGER llm_cost_rollup_insert AFTER INSERT ON cost_records "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION llm_cost_rollup_insert()",
    f"DELETE FROM {ROLLUP_TABLE}",
    _rollup_upsert("cost_records"),
)

# A task outcome is the same outcome when all of it is (what copy_ledger compares too): a
# batch sent again after its commit's answer was lost, or a dead-letter file replayed twice,
# must not count a task twice. COALESCE: a NULL reason is equal to another (every version).
_OUTCOME_KEY = "(task_id, \"timestamp\", success, source, (COALESCE(reason, '')))"

_V3 = (
    # No writer adds rows while the duplicates go and the index is built (readers go on).
    "LOCK TABLE task_outcomes IN SHARE ROW EXCLUSIVE MODE",
    # Copies that earlier versions wrote twice: identical to the microsecond, the same outcome.
    "DELETE FROM task_outcomes a USING task_outcomes b WHERE a.ctid > b.ctid "
    'AND a.task_id = b.task_id AND a."timestamp" = b."timestamp" AND a.success = b.success '
    "AND a.source = b.source AND a.reason IS NOT DISTINCT FROM b.reason",
    f"CREATE UNIQUE INDEX IF NOT EXISTS ux_outcomes_key ON task_outcomes {_OUTCOME_KEY}",
)

# Forward migrations: MIGRATIONS[i] takes a database from version i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)
# Serializes migrations of concurrent first connects (any fixed 64-bit key).
_MIGRATION_LOCK = 7_243_190_551

_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS llm_cost_schema (version INTEGER NOT NULL, "
    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)


def is_postgres_url(text: str) -> bool:
    return text.startswith(_URL_PREFIXES)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise MissingExtraError("postgres", "psycopg", "The PostgreSQL ledger") from exc
    return psycopg


def _conninfo(url: str) -> str:
    if url.startswith("postgresql+psycopg://"):
        url = "postgresql://" + url[len("postgresql+psycopg://") :]
    return url


# What names a PostgreSQL ledger on this machine (the schema, through search_path in
# options, names its tables), and libpq's variables for the parts a URL leaves out.
_IDENTITY_KEYS = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "options": "PGOPTIONS",
}


def _given_identity(url: str) -> dict[str, str]:
    """The identity keys as the URL (or libpq's variables) spell them: what named the state
    directory in earlier releases."""
    given = _psycopg().conninfo.conninfo_to_dict(_conninfo(url))
    return {key: str(given.get(key) or os.environ.get(env, "")) for key, env in _IDENTITY_KEYS.items()}


# Names of this machine's loopback interface: a server reached by one is reached by all.
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]", "0:0:0:0:0:0:0:1"}
# libpq's default port (also that of every Debian, Homebrew and Docker image server).
_DEFAULT_PORT = "5432"
# One setting of the options parameter: -c name=value, -cname=value or --name=value.
_OPTION = re.compile(r"(?:-c\s*|--)([A-Za-z_][A-Za-z0-9_.-]*)=((?:\\.|[^\s\\])*)")


def _same_hosts(text: str) -> str:
    return ",".join(
        "localhost" if h.strip().lower() in _LOOPBACK else h.strip().lower() for h in text.split(",")
    )


def _same_options(text: str) -> str:
    """The options' settings in one order (the last of a name wins, as in the server); the
    text unchanged when it holds anything else (a flag whose effect is not known here)."""
    settings: dict[str, str] = {}

    def take(m: re.Match[str]) -> str:
        settings[m[1].lower().replace("-", "_")] = m[2]
        return ""

    if _OPTION.sub(take, text).strip():
        return text
    return " ".join(f"-c {name}={settings[name]}" for name in sorted(settings))


def ledger_identity(url: str) -> dict[str, str]:
    """The server, database, user and options of a ledger URL, without its password: the
    name of its state directory (counts of killed processes, default dead-letter file).
    Spellings of one ledger are named alike: the loopback host by any of its names, the
    default port spelled out or not, the user and database libpq defaults to, the options'
    settings in any order. A Unix-socket path stays apart from TCP (it may be another
    server's)."""
    import getpass

    identity = _given_identity(url)
    identity["host"] = _same_hosts(identity["host"])
    identity["hostaddr"] = _same_hosts(identity["hostaddr"])
    identity["port"] = ",".join(p.strip() or _DEFAULT_PORT for p in identity["port"].split(","))
    if not identity["user"]:
        try:
            identity["user"] = getpass.getuser()  # libpq's default: the user running the process
        except Exception:
            pass
    if not identity["dbname"]:
        identity["dbname"] = identity["user"]  # libpq's default
    identity["options"] = _same_options(identity["options"])
    return identity


def state_dead_letter_path(url: str) -> Path | None:
    """The default dead-letter file of the ledger at ``url``, in its state directory (its
    counts of killed processes are beside it); None when there is no state directory."""
    from ._base import _STATE_DEAD_LETTER

    state = _killcount.ledger_state_dir("postgresql", ledger_identity(url), _given_identity(url))
    return None if state is None else state / _STATE_DEAD_LETTER


# TCP keepalives and a limit on unacknowledged data, unless the URL sets them: the kernel
# gives up on a server lost on the network (a dead host, a NAT or firewall dropping the
# idle connection) after 30 s of unacknowledged data or three unanswered probes, instead of
# its defaults (two hours before the first probe, many minutes of retransmissions).
# libpq ignores them on Unix-domain sockets.
_TRANSPORT_DEFAULTS = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",  # milliseconds
}


def _transport_params(conninfo: str) -> dict[str, str]:
    """The keepalive settings the URL does not set itself."""
    try:
        given = _psycopg().conninfo.conninfo_to_dict(conninfo)
    except Exception:
        return {}  # a malformed URL fails later, with psycopg's own message
    return {k: v for k, v in _TRANSPORT_DEFAULTS.items() if k not in given}


class _Hung(Exception):
    """A server that did not answer within the deadline of the connection."""


_deadline_connection: Any = None


def _deadline_connection_class() -> Any:
    """A psycopg Connection whose every wait for the server ends after ``answer_timeout``
    seconds: the connection is closed and an OperationalError raised, so the writer retries
    on a new connection. A hung server process (SIGSTOP, a stalled VM, a proxy that stops
    forwarding) keeps the TCP connection open and acknowledged: neither keepalives nor
    statement_timeout (the server's own clock) end such a wait; only the client's can."""
    global _deadline_connection
    if _deadline_connection is not None:
        return _deadline_connection
    psycopg = _psycopg()

    class DeadlineConnection(psycopg.Connection):  # type: ignore[misc,name-defined]
        answer_timeout: float | None = None
        #: Makes the error raised when the server is silent (default: OperationalError,
        #: which the writer retries); reports raise a LedgerError that says what to check.
        hung_error: Any = None

        def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
            limit = self.answer_timeout
            if limit is None:
                return super().wait(gen, *args, **kwargs)
            try:
                return super().wait(_until(gen, time.monotonic() + limit), *args, **kwargs)
            except _Hung:
                # The protocol stopped half way: the connection cannot be used again.
                # Closing it also makes psycopg skip the rollback (another wait).
                self.pgconn.finish()
                if self.hung_error is not None:
                    raise self.hung_error(limit) from None
                raise psycopg.OperationalError(
                    f"the server did not answer within {limit:g} s (connection closed)"
                ) from None

    _deadline_connection = DeadlineConnection
    return DeadlineConnection


def _until(gen: Any, deadline: float) -> Any:
    """``gen`` (a psycopg I/O generator) that raises :class:`_Hung` once ``deadline`` has
    passed. psycopg's wait loop resumes it at least every 0.1 s, also with no data."""
    try:
        state = next(gen)
        while True:
            ready = yield state
            if time.monotonic() > deadline:
                raise _Hung
            state = gen.send(ready)
    except StopIteration as stop:
        return stop.value


def redact(url: str) -> str:
    """The URL without its password (for logs and errors)."""
    # Up to the last '@' before the path: a password may hold an '@' of its own.
    return re.sub(r"(://[^:/@]*):[^/?#]*@", r"\1:***@", url)  # also with no user name


def _scrubbed(exc: BaseException, url: str) -> str:
    """``exc``'s message without the URL's password: libpq quotes the part of a URL it
    cannot read (``invalid percent-encoded token: "<password>"``)."""
    text = str(exc)
    for pattern in (r"://[^:/@]*:([^/?#]*)@", r"://[^:/@]*:([^@]*)@"):  # last '@', first '@'
        found = re.search(pattern, url)
        if found and found.group(1):
            text = text.replace(found.group(1), "***")
    return text


def schema_version(conn: Any) -> int:
    """The schema version of the database behind ``conn`` (0: no ledger tables yet)."""
    row = conn.execute("SELECT to_regclass('llm_cost_schema')").fetchone()
    if row[0] is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM llm_cost_schema").fetchone()
    return int(row[0] or 0)


def migrate(conn: Any, target: int | None = None) -> tuple[int, int]:
    """Apply the forward migrations up to ``target`` (default: the latest) in one
    transaction, under an advisory lock so concurrent first connects do it once.
    Returns (version before, version after)."""
    target = SCHEMA_VERSION if target is None else target
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(_VERSION_TABLE)
        before = schema_version(conn)
        if before > SCHEMA_VERSION:
            raise LedgerError(
                f"The PostgreSQL ledger has schema version {before}, newer than this "
                f"llm-cost-hooks knows ({SCHEMA_VERSION}); upgrade llm-cost-hooks."
            )
        for version in range(before, target):
            for stmt in MIGRATIONS[version]:
                conn.execute(stmt)
            conn.execute("INSERT INTO llm_cost_schema (version) VALUES (%s)", (version + 1,))
    return before, max(before, target)


def migrate_url(url: str) -> tuple[int, int]:
    """Bring the database at ``url`` to the latest schema (``llm-cost ledger migrate``).
    Connecting is bounded by the read timeout; the migration itself may take long on a
    large ledger (it rebuilds the rollups), so its statements get the migration's own
    deadline, and a server lost on the network is noticed by the keepalives. The salt of
    user hashes is made too, so that a role that may only read and insert finds it."""
    conn = _connect(url, "llm-cost-hooks-migrate")
    try:
        done = _migrate_unhurried(conn)
        user_salt_on(conn)
        return done
    finally:
        conn.close()


def user_salt_on(conn: Any, new: str | None = None, *, create: bool = True) -> str | None:
    """The ledger's salt of user hashes (see ``Ledger._user_salt``) on an autocommit
    connection. The table is created only where it is missing (a role that may not create
    tables reads the one its owner made: ``llm-cost ledger migrate``)."""
    psycopg = _psycopg()
    unsalted = 'SELECT 1 FROM cost_records WHERE "user" IS NOT NULL LIMIT 1'
    if conn.execute("SELECT to_regclass('llm_cost_meta')").fetchone()[0] is None:
        if not create:
            return "" if conn.execute(unsalted).fetchone() else None
        try:
            conn.execute(CREATE_META)
        except psycopg.errors.UniqueViolation:  # another writer created it just now
            pass
    select = "SELECT value FROM llm_cost_meta WHERE key = %s"
    found = conn.execute(select, (USER_SALT_KEY,)).fetchone()
    if found is None:
        held = conn.execute(unsalted).fetchone()
        if not create:
            return "" if held else None
        conn.execute(
            "INSERT INTO llm_cost_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
            (USER_SALT_KEY, "" if held else (new_user_salt() if new is None else new)),
        )
        found = conn.execute(select, (USER_SALT_KEY,)).fetchone()
    return str(found[0])


def _migrate_unhurried(conn: Any) -> tuple[int, int]:
    """``migrate(conn)`` with the deadline of a migration (it may rebuild the rollups from
    every record) instead of the connection's read timeout."""
    limit = conn.answer_timeout
    if limit is not None:
        conn.answer_timeout = max(limit, PostgresLedger._migrate_timeout)
    try:
        return migrate(conn)
    finally:
        conn.answer_timeout = limit


#: Default of ``LLM_COST_HOOKS_LEDGER_READ_TIMEOUT``: seconds reports, ``records()`` and
#: ``llm-cost ledger migrate`` wait to connect and for each answer of the server.
DEFAULT_READ_TIMEOUT = 60.0


def _read_timeout() -> float:
    if "LLM_COST_HOOKS_LEDGER_READ_TIMEOUT" not in os.environ:
        return DEFAULT_READ_TIMEOUT
    from .._settings import get_settings

    return float(get_settings().ledger_read_timeout)


class _NoAnswer(LedgerError, TimeoutError):
    """The PostgreSQL server did not answer a report's connection in time (a LedgerError
    and a TimeoutError)."""


def _no_answer(url: str, limit: float, doing: str) -> _NoAnswer:
    return _NoAnswer(
        f"The PostgreSQL ledger {redact(url)} did not answer within {limit:g} s {doing}. "
        "Check that the server is running and reachable from here (host and port, network, "
        "firewall, VPN, a proxy or pooler in between); a report that needs longer can have it "
        "with LLM_COST_HOOKS_LEDGER_READ_TIMEOUT (seconds, 0: no limit)."
    )


def _connect(url: str, application_name: str) -> Any:
    """An autocommit connection whose connecting and every answer are bounded by the read
    timeout: a server cut off by the network (accepted connection, no answer) ends the
    wait with a :class:`LedgerError` instead of holding it until the kernel gives up."""
    psycopg = _psycopg()
    limit = _read_timeout()
    try:
        conninfo = _conninfo(url)
        conn = _deadline_connection_class().connect(
            conninfo,
            autocommit=True,
            # 0: libpq's "wait forever"; psycopg waits at least 2 s anyway.
            connect_timeout=math.ceil(limit) if limit else 0,
            application_name=application_name,
            **_transport_params(conninfo),
        )
    except psycopg.errors.ConnectionTimeout:
        raise _no_answer(url, limit, "while connecting") from None
    except psycopg.Error as exc:
        raise LedgerError(
            f"Cannot connect to the PostgreSQL ledger {redact(url)}: {_scrubbed(exc, url)}"
        ) from exc
    conn.answer_timeout = limit or None
    conn.hung_error = lambda waited: _no_answer(url, waited, "(connection closed)")
    return conn


def connect_for_reports(url: str) -> Any:
    """An autocommit connection for reports, with the schema brought up to date. A role
    that may only read a database of schema 2 (before outcomes had a key) reads it as it
    is: reports need its tables, not the key."""
    conn = _connect(url, "llm-cost-hooks-report")
    try:
        version = schema_version(conn)
    except BaseException:
        conn.close()
        raise
    if version < SCHEMA_VERSION:
        try:
            _migrate_unhurried(conn)
        except _psycopg().errors.InsufficientPrivilege as exc:
            advice = "Run 'llm-cost ledger migrate URL' as the owner of the database."
            if version < 2:  # no rollups yet: nothing reports can read
                conn.close()
                raise LedgerError(
                    f"The PostgreSQL ledger {redact(url)} has schema version {version} and the "
                    f"user of the URL may not migrate it ({_first_line(exc)}). {advice}"
                ) from None
            logger.warning(
                "llm-cost-hooks: PostgreSQL ledger %s has schema version %d and the user of "
                "the URL may not migrate it to %d (%s); reports read it as it is. %s",
                redact(url),
                version,
                SCHEMA_VERSION,
                _first_line(exc),
                advice,
            )
        except BaseException:
            conn.close()
            raise
    return conn


# Databases this process has brought to the latest schema (a ledger made per request
# must not open a connection each time just to check it).
_migrated_databases: set[str] = set()

# Connections a forked child inherited: kept referenced so that their finalizers never
# run in the child (closing one would end the parent's session on the shared socket).
_inherited: list[Any] = []
_live_ledgers: weakref.WeakSet[PostgresLedger] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for ledger in list(_live_ledgers):
        ledger._forget_connections()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class PostgresLedger(Ledger):
    """Cost records in a PostgreSQL database shared by every process of a fleet.

    The background writer sends each batch with ``COPY`` into a per-connection staging
    table and moves it into ``cost_records`` with ``ON CONFLICT (request_id) DO NOTHING``,
    so a batch retried after a lost commit acknowledgement is never counted twice. A
    statement trigger keeps the hourly rollups (``cost_rollup_hour``: hour x tenant x
    feature x model) that reports read. The schema is created or migrated on the first
    connection, which the writer makes as the ledger starts (the constructor does not wait
    for the server). While the server is unreachable, or hung (no answer within 30 s), records
    stay in the bounded buffer and are retried with back-off; ``write`` never touches the
    network.

    ``ledger="postgresql://user:password@host:5432/db"`` selects it everywhere a ledger
    is accepted (or ``LLM_COST_HOOKS_LEDGER``). Needs ``pip install 'llm-cost-hooks[postgres]'``.
    The writer holds one connection (``pool_size`` is accepted and has no effect); reports
    open their own.

    Example (needs a running server)::

        ledger = PostgresLedger("postgresql://app@db.internal/llm_costs")
        ledger.write(CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.0004))
        ledger.flush()
        print(ledger.reports().totals(by="tenant,day"))

    The URL is checked before anything is imported or connected:

    >>> try:
    ...     PostgresLedger("sqlite:///costs.db")
    ... except ConfigurationError as exc:
    ...     print(exc)
    A PostgreSQL ledger URL looks like postgresql://user:password@host:5432/db; got 'sqlite:///costs.db'.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 2,
        connect_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(url, str) or not is_postgres_url(url):
            raise ConfigurationError(
                "A PostgreSQL ledger URL looks like postgresql://user:password@host:5432/db; got "
                f"{redact(url) if isinstance(url, str) else type(url).__name__!r}."
            )
        if pool_size < 1:
            raise ConfigurationError("pool_size must be at least 1.")
        self._psycopg = _psycopg()
        self.url = url
        self._conninfo = _conninfo(url)
        self._pool_size = pool_size  # accepted for compatibility: the writer needs one connection
        self._connect_timeout = connect_timeout
        # The writer's one connection, opened when a batch needs it. No connection pool: a
        # pool reconnects on its own threads and logs every failed attempt, beside the
        # writer's own retries and warnings, in every process, also at exit.
        self._conn: Any = None
        self._conn_lock = threading.Lock()
        # Between a lost connection and the next batch written (one warning, one info line).
        self._in_outage = False
        self._migrated = False
        unreadable = None
        try:
            # Parse now: a malformed URL is a configuration error, not a retryable outage.
            self._psycopg.conninfo.conninfo_to_dict(self._conninfo)
        except self._psycopg.ProgrammingError as exc:
            unreadable = _scrubbed(exc, url)
        if unreadable is not None:  # raised here, without the original: it quotes the password
            raise ConfigurationError(f"Invalid PostgreSQL ledger URL {redact(url)!r}: {unreadable}")
        self._transport = _transport_params(self._conninfo)
        # The first connection (schema check, migration) is made in the background as the
        # ledger starts: start-up never waits for a server that is hung or black-holed.
        self._open_at_start = True
        _live_ledgers.add(self)
        super().__init__(**kwargs)
        if not self._background:  # every write goes to the server on the caller's thread anyway
            self._first_connection()

    #: Seconds the writer waits for any one answer of the server (a statement, a part of
    #: the COPY, the commit) before it closes the connection as hung and retries the batch
    #: on a new one. Above the slowest batch a busy server takes, rollups included.
    _answer_timeout = 30.0
    #: The same for the statements of a schema migration (it rebuilds the rollups from
    #: every record, minutes on a large ledger).
    _migrate_timeout = 3600.0

    def _run(self) -> None:
        if self._open_at_start:
            self._open_at_start = False
            # On a thread of its own: the writer stays free, so a process that ends before
            # a silent server has answered does not wait for it at exit (nothing to write).
            threading.Thread(
                target=self._first_connection, name="llm-cost-hooks-PostgresLedger-connect", daemon=True
            ).start()
        super()._run()

    def _first_connection(self) -> None:
        """Connect (and create or migrate the schema) as the ledger starts, off the caller's
        thread; say so when it fails. A login the server refuses or a schema newer than this
        version are configuration errors: logged as errors, so the user sees them."""
        try:
            # Not under _io_lock: a fork (a pre-fork server starting its workers right after
            # the app is loaded) must not wait for a server that does not answer. The child
            # drops this half-made connection with the rest (_forget_connections).
            with self._conn_lock:
                if self._closed:
                    return
                self._connection()
                if self._closed:  # closed while connecting: _close_storage did not wait
                    self._drop_connection()
        except Exception as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            with self._lock:
                self._stats.last_error = f"{type(exc).__name__}: {exc}"
                self._store_failing = True
                # The first batch waits for the back-off as after a failed one.
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, self.retry_max)
            if self._closed:
                # Closed while connecting (close() does not wait for a silent server): the
                # close has said where every record went; a warning now would be about
                # nothing, and would come long after the user's close().
                logger.debug(
                    "llm-cost-hooks: PostgreSQL ledger %s was closed; its first connection failed (%s)",
                    redact(self.url),
                    _first_line(cause),
                )
                return
            url = redact(self.url)
            if _refused_login(cause):
                # The server answered and said no: retrying will not help until the URL
                # (or the role) is fixed, so say so loudly and where the records will go.
                logger.error(
                    "llm-cost-hooks: PostgreSQL ledger %s refused the connection at start-up "
                    "(%s). Check the user, password and database name in the URL. Records are "
                    "kept in memory and retried; those not written by exit are set aside in %s",
                    url,
                    _first_line(cause),
                    self.dead_letter_path,
                )
            elif isinstance(cause, LedgerError):
                logger.error(
                    "llm-cost-hooks: PostgreSQL ledger %s cannot be used: %s Records are kept "
                    "in memory and retried; those not written by exit are set aside in %s",
                    url,
                    cause,
                    self.dead_letter_path,
                )
            else:
                logger.warning(
                    "llm-cost-hooks: PostgreSQL ledger %s not reachable at start-up (%s); records "
                    "are kept in memory and written when it answers",
                    url,
                    _first_line(cause),
                )

    # -- connections -------------------------------------------------------------------
    def _connection(self) -> Any:
        """The writer's connection (call with ``_conn_lock`` held): the open one if it still
        answers (a restarted server leaves it dead), else a new one. Raises
        :class:`LedgerError` naming the cause when the server cannot be reached."""
        conn = self._conn
        if conn is not None:
            try:
                if not conn.closed and not conn.broken:
                    conn.answer_timeout = self._answer_timeout
                    conn.execute("")  # one round trip, as a pool's connection check
                    return conn
                cause = "the connection was closed"
            except self._psycopg.Error as exc:
                cause = _first_line(exc)
            self._drop_connection()
            self._outage_began(cause)
        try:
            conn = _deadline_connection_class().connect(
                self._conninfo,
                autocommit=True,  # batches run in conn.transaction()
                connect_timeout=max(1, int(self._connect_timeout)),
                application_name="llm-cost-hooks",
                # No server-side prepared statements: they break behind PgBouncer in
                # transaction mode, a common fleet set-up.
                prepare_threshold=None,
                **self._transport,
            )
        except self._psycopg.OperationalError as exc:
            # The writer's own warning says so (write failed); writes resuming is logged.
            self._in_outage = True
            raise LedgerError(
                f"PostgreSQL ledger {redact(self.url)} unreachable: {_first_line(exc)}"
            ) from exc
        conn.answer_timeout = self._answer_timeout
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _outage_began(self, cause: str) -> None:
        """Say once per outage that the server stopped answering (call with ``_conn_lock``
        held): a reconnect that works at once is otherwise silent, and the batches of an
        outage each give a line otherwise."""
        if self._in_outage:
            return
        self._in_outage = True
        logger.warning(
            "llm-cost-hooks: PostgreSQL ledger %s stopped answering (%s); reconnecting. "
            "Records are kept in memory and retried; writes resuming is logged",
            redact(self.url),
            cause,
        )

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                logger.debug("llm-cost-hooks: closing a PostgreSQL ledger connection failed", exc_info=True)

    def _configure(self, conn: Any) -> None:
        if not self._migrated:
            if self._conninfo not in _migrated_databases:
                version = schema_version(conn)
                if version != SCHEMA_VERSION:  # newer: migrate() refuses it
                    conn.answer_timeout = self._migrate_timeout
                    try:
                        migrate(conn)
                    except self._psycopg.errors.InsufficientPrivilege as exc:
                        # A role that may only insert, on a database of an older release:
                        # a configuration error (logged as one at start-up), not an outage.
                        # Retried, so the owner's migrate lets the writer go on.
                        raise LedgerError(
                            f"The PostgreSQL ledger has schema version {version}, this "
                            f"llm-cost-hooks writes version {SCHEMA_VERSION}, and the user of "
                            f"the URL may not migrate it ({_first_line(exc)}). Run "
                            "'llm-cost ledger migrate URL' as the owner of the database."
                        ) from None
                    finally:
                        conn.answer_timeout = self._answer_timeout
                _migrated_databases.add(self._conninfo)
            self._migrated = True

    def _ensure_schema(self) -> None:
        if self._migrated:
            return
        if self._conninfo not in _migrated_databases:
            with self._psycopg.connect(
                self._conninfo,
                connect_timeout=max(1, int(self._connect_timeout)),
                autocommit=True,
                **self._transport,
            ) as conn:
                migrate(conn)
            _migrated_databases.add(self._conninfo)
        self._migrated = True

    def _forget_connections(self) -> None:
        """In a forked child: drop the parent's connection without closing its socket."""
        if self._conn is not None:
            _inherited.append(self._conn)
        self._conn = None
        self._conn_lock = threading.Lock()
        self._open_at_start = False  # a child connects when it has records to write

    def _after_fork_in_child(self) -> None:
        self._forget_connections()

    def _is_record_error(self, exc: BaseException) -> bool:
        # A value the server rejects (bad data, a constraint) is about the batch: it is split
        # so only the bad records are set aside. Connection and server faults are retried.
        return super()._is_record_error(exc) or isinstance(
            exc, (self._psycopg.DataError, self._psycopg.IntegrityError, UnicodeError)
        )

    _salt_is_remote = True

    def _user_salt(self, new: str | None = None, *, create: bool = True) -> str | None:
        """The salt kept in the database (table ``llm_cost_meta``): the first writer of the
        fleet to ask stores a random one (or ``new``), every writer reads that one."""
        conn = self.connect()
        try:
            return user_salt_on(conn, new, create=create)
        except self._psycopg.Error as exc:
            raise LedgerError(
                f"Cannot read the user-hash salt of the PostgreSQL ledger {redact(self.url)}: "
                f"{_scrubbed(exc, self.url)}"
            ) from exc
        finally:
            conn.close()

    def connect(self) -> Any:
        """A new autocommit connection to the ledger's database (the caller closes it).
        Connecting and each answer wait at most ``LLM_COST_HOOKS_LEDGER_READ_TIMEOUT``
        seconds (60 by default, 0: no limit); then a :class:`LedgerError` is raised."""
        try:
            self._ensure_schema()
        except self._psycopg.Error as exc:
            raise LedgerError(
                f"Cannot connect to the PostgreSQL ledger {redact(self.url)}: {_scrubbed(exc, self.url)}"
            ) from exc
        return _connect(self.url, "llm-cost-hooks")

    # -- writing -----------------------------------------------------------------------
    def _write_batch(self, records: Sequence[CostRecord], outcomes: Sequence[TaskOutcome]) -> int | None:
        rows = [record_to_row(r) for r in records]
        outcome_rows = [outcome_to_row(o) for o in outcomes]
        try:
            return self._send(rows, outcome_rows)
        except (self._psycopg.DataError, UnicodeError) as exc:
            # Text PostgreSQL cannot store (a NUL character, an unpaired surrogate) would
            # fail this batch on every retry: store those values with the characters
            # replaced, and say so.
            clean = [_storable(row) for row in rows]
            clean_outcomes = [_storable(row) for row in outcome_rows]
            changed = sum(a != b for a, b in zip(rows + outcome_rows, clean + clean_outcomes))
            if not changed:
                raise
            skipped = self._send(clean, clean_outcomes)
            logger.warning(
                "llm-cost-hooks: %d cost records or task outcomes held text PostgreSQL cannot "
                "store (%s); written with those characters replaced by U+FFFD",
                changed,
                exc,
            )
            return skipped

    def _send(self, rows: Sequence[Sequence[Any]], outcome_rows: Sequence[Sequence[Any]]) -> int:
        """Write rows and outcome rows in one transaction; returns how many rows were
        skipped as already stored (ON CONFLICT DO NOTHING)."""
        skipped = 0
        with self._conn_lock:
            conn = self._connection()
            try:
                skipped = self._copy_rows(conn, rows, outcome_rows)
            except self._psycopg.Error as exc:
                if conn.broken or conn.closed:  # the server went away mid-batch: reconnect next time
                    self._drop_connection()
                    self._outage_began(_first_line(exc))
                raise
            if self._in_outage:
                self._in_outage = False
                logger.info("llm-cost-hooks: PostgreSQL ledger %s: writes resumed", redact(self.url))
        return skipped

    def _copy_rows(
        self, conn: Any, rows: Sequence[Sequence[Any]], outcome_rows: Sequence[Sequence[Any]]
    ) -> int:
        skipped = outcomes_skipped = 0
        with conn.transaction(), conn.cursor() as cur:
            if rows:
                # Staging for COPY, private to the session and emptied at commit;
                # created in the same transaction, so it also works behind a
                # transaction-mode pooler that changes sessions between transactions.
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS llm_cost_staging "
                    "(LIKE cost_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                with cur.copy(f"COPY llm_cost_staging ({_COLS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cur.execute(
                    f"INSERT INTO cost_records ({_COLS}) SELECT {_COLS} FROM llm_cost_staging "
                    "ON CONFLICT (request_id) DO NOTHING"
                )
                if cur.rowcount >= 0:  # -1: the server did not say
                    skipped = len(rows) - cur.rowcount
            if outcome_rows:
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS llm_cost_outcome_staging "
                    "(LIKE task_outcomes INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
                with cur.copy(f"COPY llm_cost_outcome_staging ({_OUTCOME_COLS}) FROM STDIN") as copy:
                    for row in outcome_rows:
                        copy.write_row(row)
                # An outcome stored already (the batch's commit reached the server, its
                # answer did not) is not added again.
                cur.execute(
                    f"INSERT INTO task_outcomes ({_OUTCOME_COLS}) SELECT {_OUTCOME_COLS} "
                    f"FROM llm_cost_outcome_staging ON CONFLICT {_OUTCOME_KEY} DO NOTHING"
                )
                if cur.rowcount >= 0:
                    outcomes_skipped = len(outcome_rows) - cur.rowcount
        if outcomes_skipped:  # counted once the transaction committed
            with self._lock:
                self._stats.duplicate_outcomes += outcomes_skipped
        return skipped

    def _close_storage(self) -> None:
        _live_ledgers.discard(self)
        # With the writer ended, only a first connection still under way holds the lock;
        # it drops its connection itself when it sees the ledger closed.
        if self._conn_lock.acquire(blocking=self._thread is None):
            try:
                self._drop_connection()
            finally:
                self._conn_lock.release()

    # -- reading -----------------------------------------------------------------------
    def records(self) -> Iterable[CostRecord]:
        with self.connect() as conn:
            rows = conn.execute(
                f'SELECT {_COLS} FROM cost_records ORDER BY "timestamp", request_id'
            ).fetchall()
        return [row_to_record(_iso_row(r)) for r in rows]

    def task_outcomes(self) -> Iterable[TaskOutcome]:
        with self.connect() as conn:
            rows = conn.execute(
                'SELECT task_id, success, source, reason, "timestamp" FROM task_outcomes'
            ).fetchall()
        return rows_to_outcomes(rows)

    def _prune(self, cutoff: datetime, *, dry_run: bool, batch_size: int) -> dict[str, int]:
        from ._prune import prune_postgres

        try:
            with self.connect() as conn:
                return prune_postgres(conn, cutoff, dry_run=dry_run, batch_size=batch_size)
        except self._psycopg.errors.InsufficientPrivilege as exc:
            raise LedgerError(
                f"The user of {redact(self.url)} may not prune the ledger ({_first_line(exc)}): it needs "
                "DELETE on cost_records and task_outcomes and UPDATE, DELETE on cost_rollup_hour "
                "(see the fleet guide)."
            ) from None
        except self._psycopg.Error as exc:
            raise LedgerError(
                f"Cannot prune the PostgreSQL ledger {redact(self.url)}: {_first_line(exc)}"
            ) from exc

    def rebuild_rollups(self) -> None:
        """Recompute the hourly rollups from ``cost_records`` (after deleting records by
        hand, for instance: the trigger only follows inserts)."""
        with self.connect() as conn, conn.transaction():
            if conn.answer_timeout is not None:  # every record is read again
                conn.answer_timeout = max(conn.answer_timeout, self._migrate_timeout)
            conn.execute(f"LOCK TABLE {ROLLUP_TABLE} IN EXCLUSIVE MODE")
            conn.execute(f"DELETE FROM {ROLLUP_TABLE}")
            conn.execute(_rollup_upsert("cost_records"))

    def __repr__(self) -> str:
        return f"PostgresLedger({redact(self.url)!r})"

    def _state_identity(self) -> tuple[str, dict[str, str], dict[str, str]] | None:
        return "postgresql", ledger_identity(self.url), _given_identity(self.url)


_TS_INDEX = RECORD_COLUMNS.index("timestamp")

# libpq's words when the server answered and turned the login down (SQLSTATE classes 28
# and 3D; a failed connection carries no SQLSTATE in psycopg).
_LOGIN_REFUSED = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "password is required",
)


def _refused_login(exc: BaseException) -> bool:
    # "FATAL:" is the server's own answer to the login (a failed statement, such as a
    # migration's, reads differently).
    text = str(exc)
    return "FATAL:" in text and any(words in text for words in _LOGIN_REFUSED)


def _first_line(exc: BaseException) -> str:
    """The error without libpq's hint lines ("Is the server running ...")."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _storable(row: Sequence[Any]) -> tuple[Any, ...]:
    """The row with text PostgreSQL rejects replaced: NUL characters and unpaired
    surrogates become U+FFFD."""
    out = []
    for v in row:
        if type(v) is str:
            v = (
                v.replace("\x00", "\ufffd")
                .encode("utf-16-le", "surrogatepass")
                .decode("utf-16-le", "replace")
            )
        out.append(v)
    return tuple(out)


def _iso_row(row: Sequence[Any]) -> list[Any]:
    out = list(row)
    ts = out[_TS_INDEX]
    if isinstance(ts, datetime):
        out[_TS_INDEX] = ts.astimezone(timezone.utc).isoformat()
    return out
