"""Reports over a ledger: totals by dimension, tasks and cost per successful task.

All reports are one set of SQL over the ``cost_records`` / ``task_outcomes`` schema,
written for SQLite and PostgreSQL alike; a :class:`SQLDialect` supplies the few
expressions that differ (time buckets, rounding, placeholders) and says whether the
store keeps hourly rollups, which totals and time series read when the grouping allows.
Other ledgers are loaded into an in-memory SQLite database first, so every store
reports the same way.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

from .._errors import ConfigurationError, LedgerError
from .._records import CostRecord
from ._base import Ledger, TaskOutcome, outcome_to_row, record_to_row
from ._stores import INSERT_OUTCOME, INSERT_RECORD, JSONLLedger, SQLiteLedger, init_schema

__all__ = ["DIMENSIONS", "LedgerReports", "SQLDialect", "format_rows", "wilson_interval"]

# Tag on the record of a would-be semantic cache hit answered by the model to verify it.
_VERIFIED_TAG = "cache.verified"

# Report dimension -> SQL expression over cost_records.
DIMENSIONS: dict[str, str] = {
    "tenant": "tenant",
    "user": '"user"',
    "feature": "feature",
    "route": "route",
    "prompt_version": "prompt_version",
    "model": "model",
    "provider": "provider",
    "day": "substr(timestamp, 1, 10)",  # SQLite's; see SQLDialect.bucket
    "month": "substr(timestamp, 1, 7)",
    "cache_status": "cache_status",
    "success": "success",
}
# Dimensions that describe a task (taken from its first call).
_TASK_DIMENSIONS = (
    "tenant",
    "user",
    "feature",
    "route",
    "prompt_version",
    "model",
    "provider",
    "day",
    "month",
)

FailurePolicy = Literal["any_error", "root_error"]

_TIME_DIMENSIONS = ("hour", "day", "month")
# Names: an empty one ('') is reported as none, as PostgreSQL's rollups (which store none as
# '') must report it, so a name groups the same way on every store and in every window.
_NAME_DIMENSIONS = ("tenant", "user", "feature", "route", "prompt_version", "model", "provider")


@dataclass(frozen=True)
class SQLDialect:
    """What differs between the SQL of the stores the reports run on."""

    name: str
    placeholder: str = "?"
    # Table of hourly rollups (hour x tenant x feature x model), if the store keeps one.
    rollup_table: str | None = None
    rollup_keys: tuple[str, ...] = ()

    def bucket(self, unit: str, column: str = "timestamp") -> str:
        """A text expression of the UTC hour/day/month of ``column`` (2026-11-05T13,
        2026-11-05, 2026-11)."""
        if self.name == "sqlite":
            return f"substr({column}, 1, {dict(hour=13, day=10, month=7)[unit]})"
        fmt = {"hour": 'YYYY-MM-DD"T"HH24', "day": "YYYY-MM-DD", "month": "YYYY-MM"}[unit]
        if column == "hour":  # the rollups' hour is a UTC timestamp already
            return f"to_char(hour, '{fmt}')"
        return f"to_char({column} AT TIME ZONE 'UTC', '{fmt}')"

    def round(self, expr: str, digits: int = 10) -> str:
        if self.name == "sqlite":
            return f"ROUND({expr}, {digits})"
        return f"CAST(ROUND(CAST({expr} AS NUMERIC), {digits}) AS DOUBLE PRECISION)"

    def text(self, expr: str) -> str:
        """``expr`` compared byte by byte, as SQLite compares text: rows with equal measures
        come in the same order whatever collation the PostgreSQL database was created with."""
        return expr if self.name == "sqlite" else f'({expr}) COLLATE "C"'

    def int_sum(self, expr: str) -> str:
        # PostgreSQL sums BIGINT into NUMERIC; reports give whole numbers as int.
        return f"SUM({expr})" if self.name == "sqlite" else f"CAST(SUM({expr}) AS BIGINT)"

    def prepare(self, sql: str) -> str:
        if self.placeholder == "?":
            return sql
        return sql.replace("%", "%%").replace("?", self.placeholder)


SQLITE = SQLDialect("sqlite")
POSTGRES = SQLDialect(
    "postgresql",
    placeholder="%s",
    rollup_table="cost_rollup_hour",
    rollup_keys=("tenant", "feature", "model"),
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _check_by(by: Sequence[str] | str | None, allowed: Sequence[str]) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        by = [b.strip() for b in by.split(",") if b.strip()]
    out = []
    for b in by:
        if b not in allowed:
            raise ConfigurationError(f"Cannot group by {b!r}; choose from: {', '.join(allowed)}.")
        out.append(b)
    return out


def _locked(exc: sqlite3.Error) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _locked_error(path: Path) -> LedgerError:
    return LedgerError(
        f"{str(path)!r} is locked by another process (one holding an exclusive lock, or a "
        "schema migration in progress); run the report again once it is done."
    )


def _ts(value: datetime | date | str | None, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value[-1:] in ("Z", "z"):  # Python 3.10's fromisoformat does not read the "Z" suffix
            value = value[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ConfigurationError(
                f"{name} must be an ISO date or datetime like 2026-11-01, got {value!r}."
            ) from exc
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).isoformat()


class LedgerReports:
    """Aggregations over one ledger.

    >>> from llm_cost_hooks.ledger import MemoryLedger
    >>> ledger = MemoryLedger()
    >>> ledger.write(CostRecord(model="gpt-4o", tenant="acme", cost_usd=0.5, task_id="t1"))
    >>> LedgerReports.from_ledger(ledger).totals(by=["tenant"])[0]["cost_usd"]
    0.5
    """

    def __init__(self, conn: Any, dialect: SQLDialect = SQLITE) -> None:
        self._conn = conn
        self._dialect = dialect
        self._path: Path | None = None  # the SQLite file opened, for error messages
        # Lines of a JSONL ledger skipped as not whole records (cut short by a crash).
        self.damaged_lines = 0

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_ledger(cls, ledger: Ledger) -> LedgerReports:
        if isinstance(ledger, SQLiteLedger):
            ledger.flush()
            return cls(ledger.connect())
        from ._postgres import PostgresLedger

        if isinstance(ledger, PostgresLedger):
            ledger.flush()
            return cls(ledger.connect(), POSTGRES)
        if isinstance(ledger, JSONLLedger):
            ledger.flush()
            return cls._from_jsonl(ledger)
        return cls.from_records(ledger.records(), ledger.task_outcomes())

    @classmethod
    def from_records(
        cls, records: Iterable[CostRecord], outcomes: Iterable[TaskOutcome] = ()
    ) -> LedgerReports:
        conn = sqlite3.connect(":memory:")
        init_schema(conn)
        conn.executemany(INSERT_RECORD, [record_to_row(r) for r in records])
        conn.executemany(INSERT_OUTCOME, [outcome_to_row(o) for o in outcomes])
        conn.commit()
        return cls(conn)

    @classmethod
    def _from_jsonl(cls, ledger: JSONLLedger) -> LedgerReports:
        """The file streamed into a temporary SQLite database on disk (SQLite's empty file
        name: deleted when the connection closes), not into memory: a million records took
        several GB as objects. One read: one warning about damaged lines."""
        conn = sqlite3.connect("")
        try:
            init_schema(conn)
            ledger._load_into(conn)
        except BaseException:
            conn.close()
            raise
        report = cls(conn)
        report.damaged_lines = ledger.damaged_lines
        return report

    @classmethod
    def open(cls, path: str | Path) -> LedgerReports:
        """Open a ledger read-only for reporting: a SQLite or JSONL file, or a
        ``postgresql://`` URL (migrated to the current schema first)."""
        text = str(path)
        from ._postgres import is_postgres_url

        if is_postgres_url(text):
            from ._postgres import connect_for_reports

            return cls(connect_for_reports(text), POSTGRES)
        for prefix in ("sqlite:///", "jsonl:///"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
        p = Path(text)
        if not p.exists():
            raise LedgerError(f"No ledger file at {str(p)!r}.")
        if p.suffix == ".jsonl":
            led = JSONLLedger(p, background=False)
            try:
                return cls._from_jsonl(led)
            except ValueError as exc:  # not one line is a record
                raise LedgerError(
                    f"{str(p)!r} is not a readable llm-cost-hooks JSONL ledger (one JSON record "
                    f"per line, UTF-8): {str(exc).splitlines()[0]}."
                ) from exc
        if p.is_dir():
            raise LedgerError(f"{str(p)!r} is a directory; give the ledger file in it.")
        try:
            conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            conn.execute("SELECT 1 FROM cost_records LIMIT 1")
        except sqlite3.Error as exc:
            if _locked(exc):
                raise _locked_error(p) from exc
            raise LedgerError(f"{str(p)!r} is not an llm-cost-hooks SQLite ledger: {exc}") from exc
        report = cls(conn)
        report._path = p
        return report

    def close(self) -> None:
        self._conn.close()

    # -- queries -----------------------------------------------------------------------
    def _where(self, since: Any, until: Any, column: str = "timestamp") -> tuple[str, list[Any]]:
        clauses, params = [], []
        s, u = _ts(since, "since"), _ts(until, "until")
        if s and u and s >= u:
            # Always empty: more likely swapped bounds than a question worth "(no records)".
            raise ConfigurationError(
                f"since ({s}) must be before until ({u}, exclusive): that window holds no records."
            )
        if s:
            clauses.append(f"{column} >= ?")
            params.append(s)
        if u:
            clauses.append(f"{column} < ?")
            params.append(u)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        try:
            cur = self._conn.execute(self._dialect.prepare(sql), params)
        except sqlite3.OperationalError as exc:
            if self._path is not None and _locked(exc):  # locked after open: same message
                raise _locked_error(self._path) from exc
            raise
        cols = [d[0] for d in cur.description]
        return [{c: _plain(v) for c, v in zip(cols, row)} for row in cur.fetchall()]

    def _dim(self, key: str, rollup: bool = False) -> str:
        """The SQL expression of a report dimension, over records or over the rollups."""
        if key in _TIME_DIMENSIONS:
            return self._dialect.text(self._dialect.bucket(key, "hour" if rollup else "timestamp"))
        if key in _NAME_DIMENSIONS:
            return self._dialect.text(f"NULLIF({DIMENSIONS[key]}, '')")
        return DIMENSIONS[key]

    def _use_rollups(self, keys: Sequence[str], since: Any, until: Any) -> bool:
        """Whether the rollups answer exactly: every key is one of theirs or a time
        bucket, and the time bounds fall on whole hours."""
        d = self._dialect
        if d.rollup_table is None:
            return False
        if any(k not in d.rollup_keys and k not in _TIME_DIMENSIONS for k in keys):
            return False
        for bound in (since, until):
            text = _ts(bound, "since")
            if text is not None:
                t = datetime.fromisoformat(text)
                if (t.minute, t.second, t.microsecond) != (0, 0, 0):
                    return False
        return True

    def _source(
        self, keys: Sequence[str], since: Any, until: Any
    ) -> tuple[bool, str, str, list[Any], dict[str, str]]:
        """Where totals and time series read from: (from the rollups?, table, WHERE,
        parameters, the SQL of the counted measures)."""
        d = self._dialect
        if self._use_rollups(keys, since, until):
            # The rollups' hour is a UTC timestamp without zone: compare with naive UTC.
            where, params = self._where(since, until, column="hour")
            naive = [datetime.fromisoformat(p).replace(tzinfo=None) for p in params]
            measures = {m: d.int_sum(m) for m in ("calls", "errors", "cache_hits")}
            measures["retry_cost_usd"] = "SUM(retry_cost_usd)"
            return True, str(d.rollup_table), where, naive, measures
        where, params = self._where(since, until)
        return (
            False,
            "cost_records",
            where,
            params,
            {
                "calls": "COUNT(*)",
                "errors": "SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END)",
                "cache_hits": "SUM(CASE WHEN cache_status NOT IN ('miss') THEN 1 ELSE 0 END)",
                "retry_cost_usd": "SUM(CASE WHEN attempt > 1 THEN cost_usd ELSE 0 END)",
            },
        )

    def _order(self, first: str, keys: Sequence[str]) -> str:
        # Ties broken by the keys, NULLs last: the same order on every store.
        return " ORDER BY " + ", ".join([f"{first} DESC NULLS LAST"] + [f'"{k}" NULLS LAST' for k in keys])

    def totals(
        self,
        by: Sequence[str] | str | None = None,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Calls, tokens, dollars, savings, errors and cache hits, grouped by ``by``."""
        keys = _check_by(by, list(DIMENSIONS))
        d = self._dialect
        rollup, source, where, params, m = self._source(keys, since, until)
        calls, errors, hits, retry = m["calls"], m["errors"], m["cache_hits"], m["retry_cost_usd"]
        exprs = [self._dim(k, rollup) for k in keys]
        select_keys = [f'{e} AS "{k}"' for e, k in zip(exprs, keys)]
        group = f" GROUP BY {', '.join(exprs)}" if keys else ""
        sql = (
            "SELECT "
            + ", ".join(
                select_keys
                + [
                    f"{calls} AS calls",
                    f"{d.int_sum('input_tokens')} AS input_tokens",
                    f"{d.int_sum('output_tokens')} AS output_tokens",
                    f"{d.int_sum('cache_read_tokens')} AS cache_read_tokens",
                    f"{d.int_sum('reasoning_tokens')} AS reasoning_tokens",
                    f"{d.round('SUM(cost_usd)')} AS cost_usd",
                    f"{d.round('SUM(saved_usd)')} AS saved_usd",
                    f"{errors} AS errors",
                    f"{hits} AS cache_hits",
                    f"{d.round(retry)} AS retry_cost_usd",
                    "MAX(tokens_estimated) AS tokens_estimated",
                    "MAX(price_estimated) AS price_estimated",
                ]
            )
            + f" FROM {source}{where}{group}"
            + self._order("cost_usd", keys)
        )
        rows = self._rows(sql, params)
        if not keys and rows and not rows[0]["calls"]:
            return []
        return rows

    def tasks(
        self,
        by: Sequence[str] | str | None = None,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        failure_policy: FailurePolicy = "any_error",
    ) -> list[dict[str, Any]]:
        """Tasks, successful tasks, cost per task and **cost per successful task**.

        A task is a root run (all the model calls under one top-level chain invoke).
        ``failure_policy="any_error"`` (default): a task failed if any call in it errored,
        its root run raised, or the user marked it failed. ``"root_error"``: only the root
        run raising (or the user) fails it, so a retry that recovered counts as success.
        A user's mark (``mark_task``) always wins. Failed attempts and retries stay in the
        numerator: cost per successful task = all task cost / successful tasks.
        """
        if failure_policy not in ("any_error", "root_error"):
            raise ConfigurationError("failure_policy must be 'any_error' or 'root_error'.")
        keys = _check_by(by, list(_TASK_DIMENSIONS))
        d = self._dialect
        where, params = self._where(since, until, column="r.timestamp")
        # A task takes its dimensions from its first call (over all its calls, in or out
        # of the time window; ties broken by request id).
        first_cols = "".join(f', {self._dim(k)} AS "{k}"' for k in keys)
        # Within a time window only the window's tasks are looked at: their calls are ranked
        # and their outcomes read, not the whole ledger's (a week of a year's ledger: 2.9 s of
        # CPU for a million records, most of it sorting every call by task).
        of_window_tasks = " WHERE {} IN (SELECT task_id FROM t)" if where else ""
        calls = f"cost_records{of_window_tasks.format('COALESCE(task_id, request_id)')}"
        if where and d.name == "postgresql":
            # Their calls through the task_id index, and the request_id key for the calls
            # without a task id (each its own task), not by a scan of every record: 0.6-0.8 s
            # instead of 1.3-1.7 s for a week of a million records.
            calls = (
                "(SELECT c.* FROM cost_records c JOIN t ON c.task_id = t.task_id UNION ALL "
                "SELECT c.* FROM cost_records c JOIN t ON c.task_id IS NULL AND c.request_id = t.task_id) "
                "cost_records"
            )
        first_join = (
            "LEFT JOIN (SELECT * FROM (SELECT COALESCE(task_id, request_id) AS task_id"
            f"{first_cols}, ROW_NUMBER() OVER (PARTITION BY COALESCE(task_id, request_id) "
            f"ORDER BY timestamp, request_id) AS rn FROM {calls}) ranked WHERE rn = 1) f "
            "ON f.task_id = t.task_id"
            if keys
            else ""
        )
        ok_expr = (
            "(t.all_ok = 1 AND COALESCE(o.run_failed, 0) = 0)"
            if failure_policy == "any_error"
            else "(CASE WHEN o.run_seen = 1 THEN 1 - o.run_failed ELSE t.all_ok END)"
        )
        ok_int = f"CASE WHEN {ok_expr} THEN 1 ELSE 0 END" if failure_policy == "any_error" else ok_expr
        sql = f"""
        WITH t AS (
            SELECT COALESCE(r.task_id, r.request_id) AS task_id,
                   SUM(r.cost_usd) AS cost, SUM(r.saved_usd) AS saved, COUNT(*) AS calls,
                   MIN(r.success) AS all_ok,
                   SUM(CASE WHEN r.attempt > 1 THEN r.cost_usd ELSE 0 END) AS retry_cost,
                   SUM(CASE WHEN r.success = 0 THEN r.cost_usd ELSE 0 END) AS failed_cost
            FROM cost_records r{where}
            GROUP BY COALESCE(r.task_id, r.request_id)
        ),
        o AS (
            SELECT task_id,
                   MAX(CASE WHEN source = 'run' THEN 1 ELSE 0 END) AS run_seen,
                   MAX(CASE WHEN source = 'run' AND success = 0 THEN 1 ELSE 0 END) AS run_failed,
                   (SELECT u.success FROM task_outcomes u WHERE u.task_id = x.task_id
                      AND u.source = 'user' ORDER BY u.timestamp DESC LIMIT 1) AS user_mark
            FROM task_outcomes x{of_window_tasks.format("x.task_id")} GROUP BY task_id
        ),
        s AS (
            SELECT t.*{"".join(f', f."{k}"' for k in keys)},
                   CASE WHEN o.user_mark IS NOT NULL THEN o.user_mark
                        ELSE {ok_int} END AS ok
            FROM t LEFT JOIN o ON o.task_id = t.task_id {first_join}
        )
        SELECT {"".join(f'"{k}", ' for k in keys)}
               COUNT(*) AS tasks,
               {d.int_sum("ok")} AS successful_tasks,
               COUNT(*) - {d.int_sum("ok")} AS failed_tasks,
               {d.int_sum("calls")} AS calls,
               {d.round("SUM(cost)")} AS cost_usd,
               {d.round("SUM(cost) / COUNT(*)")} AS cost_per_task,
               {d.round("SUM(cost) / NULLIF(SUM(ok), 0)")} AS cost_per_successful_task,
               {d.round("SUM(retry_cost)")} AS retry_cost_usd,
               {d.round("SUM(failed_cost)")} AS failed_call_cost_usd,
               {d.round("SUM(saved)")} AS saved_usd
        FROM s
        {("GROUP BY " + ", ".join(f'"{k}"' for k in keys)) if keys else ""}
        {self._order("cost_usd", keys)}
        """
        rows = self._rows(sql, params)
        if not keys and rows and rows[0]["tasks"] == 0:
            return []
        return rows

    def cache_savings(
        self,
        by: Sequence[str] | str | None = ("cache_status",),
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Hits and dollars saved per cache status (and any other dimensions); a batch
        answer's saving from the batch API itself is not its cache status's."""
        keys = _check_by(by, list(DIMENSIONS))
        d = self._dialect
        where, params = self._where(since, until)
        where = (where + " AND " if where else " WHERE ") + "cache_status != 'miss'"
        exprs = [self._dim(k) for k in keys]
        select_keys = [f'{e} AS "{k}"' for e, k in zip(exprs, keys)]
        group = f" GROUP BY {', '.join(exprs)}" if keys else ""
        sql = (
            "SELECT "
            + ", ".join(
                select_keys
                + ["COUNT(*) AS hits", f"{d.round(f'SUM(saved_usd - {self._batch_saved()})')} AS saved_usd"]
            )
            + f" FROM cost_records{where}{group}"
            + self._order("saved_usd", keys)
        )
        return [r for r in self._rows(sql, params) if r["hits"]]

    def cache_precision(
        self,
        by: Sequence[str] | str | None = None,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        confidence: float = 0.95,
    ) -> list[dict[str, Any]]:
        """Estimated precision of served semantic cache hits, from online verification.

        With ``verify_share`` set, the cache answers a random share of would-be semantic hits
        with the model anyway and compares the answers; each such call's record carries the
        tag ``cache.verified`` = ``agree`` / ``disagree``. Because the share is drawn at random,
        ``agreed / verified`` estimates the precision of the hits that were served, with a
        Wilson score interval at ``confidence`` (two-sided). ``precision`` is None (unknown)
        where no hit was verified.
        """
        if not 0.0 < confidence < 1.0:
            raise ConfigurationError(f"confidence must be between 0 and 1, got {confidence!r}.")
        keys = _check_by(by, [k for k in DIMENSIONS if k not in ("cache_status", "success")])
        d = self._dialect
        where, params = self._where(since, until)
        agree, disagree = (f'tags LIKE \'%"{_VERIFIED_TAG}": "{v}"%\'' for v in ("agree", "disagree"))
        semantic = "cache_status = 'semantic'"
        where = (where + " AND " if where else " WHERE ") + f"({semantic} OR {agree} OR {disagree})"
        exprs = [self._dim(k) for k in keys]
        select_keys = [f'{e} AS "{k}"' for e, k in zip(exprs, keys)]
        group = f" GROUP BY {', '.join(exprs)}" if keys else ""
        counts = {"semantic_hits": semantic, "agreed": agree, "disagreed": disagree}
        sql = (
            "SELECT "
            + ", ".join(
                select_keys
                + [f"{d.int_sum(f'CASE WHEN {c} THEN 1 ELSE 0 END')} AS {n}" for n, c in counts.items()]
            )
            + f" FROM cost_records{where}{group}"
            + self._order("semantic_hits", keys)
        )
        out = []
        for r in self._rows(sql, params):
            if r["semantic_hits"] is None:  # no matching record (an ungrouped query's one row)
                continue
            ok, bad = int(r.pop("agreed") or 0), int(r.pop("disagreed") or 0)
            n = ok + bad
            low, high = wilson_interval(ok, n, confidence)
            r.update(
                verified=n,
                agreed=ok,
                precision=ok / n if n else None,
                precision_low=low if n else None,
                precision_high=high if n else None,
            )
            out.append(r)
        return out

    def timeseries(
        self,
        bucket: Literal["hour", "day", "month"] = "day",
        by: str | None = None,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Calls, cost, savings and cache hits per time bucket (and per ``by`` value)."""
        if bucket not in _TIME_DIMENSIONS:
            raise ConfigurationError("bucket must be 'hour', 'day' or 'month'.")
        keys = _check_by(by, list(DIMENSIONS))
        if len(keys) > 1:
            raise ConfigurationError("timeseries takes at most one 'by' dimension.")
        d = self._dialect
        rollup, source, where, params, m = self._source(keys, since, until)
        calls, hits, errors = m["calls"], m["cache_hits"], m["errors"]
        t = d.text(d.bucket(bucket, "hour" if rollup else "timestamp"))
        extra = f', {self._dim(keys[0], rollup)} AS "{keys[0]}"' if keys else ""
        group = t + (f", {self._dim(keys[0], rollup)}" if keys else "")
        order = "bucket" + (f', "{keys[0]}" NULLS LAST' if keys else "")
        sql = (
            f"SELECT {t} AS bucket{extra}, {calls} AS calls, {d.round('SUM(cost_usd)')} AS cost_usd, "
            f"{d.round('SUM(saved_usd)')} AS saved_usd, {hits} AS cache_hits, {errors} AS errors "
            f"FROM {source}{where} GROUP BY {group} ORDER BY {order}"
        )
        return self._rows(sql, params)

    def _write_premiums(self, *, since: Any = None, until: Any = None) -> float:
        """Dollars the provider prompt cache's writes cost above plain input (the tracker's
        ``prompt_cache.write_premium_usd`` tag), for the savings waterfall's net step."""
        key = "prompt_cache.write_premium_usd"
        if self._dialect.name == "sqlite":
            value = f"CAST(json_extract(tags, '$.\"{key}\"') AS REAL)"
        else:
            value = f"CAST(CAST(tags AS jsonb) ->> '{key}' AS DOUBLE PRECISION)"
        where, params = self._where(since, until)
        where = (where + " AND " if where else " WHERE ") + "tags LIKE ?"
        rows = self._rows(f"SELECT SUM({value}) AS premium FROM cost_records{where}", [*params, f"%{key}%"])
        return float(rows[0]["premium"] or 0.0) if rows else 0.0

    def _batch_saved(self) -> str:
        """SQL for what the batch API saved on a record (the batch queue's ``batch.saved_usd``
        tag; 0 without it): part of its saved_usd that no cache status earned."""
        key = "batch.saved_usd"
        if self._dialect.name == "sqlite":
            value = f"CAST(json_extract(tags, '$.\"{key}\"') AS REAL)"
        else:
            value = f"CAST(CAST(tags AS jsonb) ->> '{key}' AS DOUBLE PRECISION)"
        # The LIKE skips the JSON parse on the rows without the tag (nearly all).
        return f"(CASE WHEN tags LIKE '%{key}%' THEN COALESCE({value}, 0) ELSE 0 END)"

    def _batch_savings(self, *, since: Any = None, until: Any = None) -> float:
        """Dollars the batch API saved, for the savings waterfall's batch step."""
        where, params = self._where(since, until)
        rows = self._rows(f"SELECT SUM({self._batch_saved()}) AS saved FROM cost_records{where}", params)
        return float(rows[0]["saved"] or 0.0) if rows else 0.0

    def budget_breaches(
        self,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Calls refused or changed by a budget: ``error_type`` BudgetExceeded (or
        DowngradeRequired: a downgrade with nowhere cheaper to go), or a ``budget.*`` tag in
        the record (trims, downgrades), grouped by tenant and feature."""
        d = self._dialect
        where, params = self._where(since, until)
        # A budget.* tag key; the LIKE first skips rows without one cheaply (a tag value
        # starting with "budget." passes it, the key test then drops it).
        keys = "json_each(tags)" if d.name == "sqlite" else "jsonb_each_text(CAST(tags AS jsonb))"
        tagged = (
            f"(tags LIKE '%\"budget.%' AND EXISTS (SELECT 1 FROM {keys} AS t WHERE t.key LIKE 'budget.%'))"
        )
        refused = "error_type IN ('BudgetExceeded', 'DowngradeRequired')"
        cond = f"({refused} OR {tagged})"
        where = (where + " AND " if where else " WHERE ") + cond
        tenant, feature = self._dim("tenant"), self._dim("feature")
        sql = (
            f"SELECT {tenant} AS tenant, {feature} AS feature, COUNT(*) AS calls, "
            f"SUM(CASE WHEN {refused} THEN 1 ELSE 0 END) AS refused, "
            f"{d.round('SUM(cost_usd)')} AS cost_usd "
            f"FROM cost_records{where} GROUP BY {tenant}, {feature}"
            " ORDER BY calls DESC, tenant NULLS LAST, feature NULLS LAST"
        )
        return self._rows(sql, params)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval of a proportion (``(0, 1)`` when ``n`` is 0).

    >>> [round(x, 3) for x in wilson_interval(98, 100)]
    [0.93, 0.994]
    """
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - spread), min(1.0, centre + spread)


# Longest text cell of a table; CSV and JSON keep whole values.
_MAX_CELL = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """A name as one table cell: control characters (a tenant's ``\\x1b[31m`` or newline would
    recolour the terminal or break the row) shown escaped, and cut at ``_MAX_CELL``."""
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= _MAX_CELL else text[:_MAX_CELL] + "…"


def _width(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide characters and most emoji take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """A CSV cell: a text value a spreadsheet would run as a formula (a tenant named
    ``=HYPERLINK(...)``) gets a leading apostrophe, which shows it as text; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def format_rows(rows: Sequence[dict[str, Any]], fmt: Literal["table", "csv", "json"] = "table") -> str:
    """Render report rows as an aligned text table, CSV or JSON. The table shows control
    characters in names escaped and cuts names at 60 characters; CSV and JSON keep them whole,
    and CSV starts a name a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``) with
    an apostrophe."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, default=str)
    if not rows:
        return "(no records)" if fmt == "table" else ""
    cols = list(rows[0].keys())
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: _csv_cell(r.get(c)) for c in cols} for r in rows)
        return buf.getvalue()
    if fmt != "table":
        raise ConfigurationError(f"format must be table, csv or json; got {fmt!r}.")

    def cell(col: str, v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            if col.endswith("usd") or col.startswith("cost"):
                return f"${v:,.6f}" if abs(v) < 1 else f"${v:,.2f}"
            return f"{v:,.3f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return _printable(str(v))

    body = [[cell(c, r.get(c)) for c in cols] for r in rows]
    widths = [max(_width(c), *(_width(b[i]) for b in body)) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in cols]

    def line(values: Sequence[str]) -> str:
        pads = [" " * (w - _width(v)) for v, w in zip(values, widths)]
        return "  ".join(p + v if n else v + p for v, p, n in zip(values, pads, numeric))

    out = [line(cols), "  ".join("-" * w for w in widths)]
    out += [line(b) for b in body]
    return "\n".join(out)
