"""Reports over a ledger: totals by dimension, tasks and cost per successful task.

All reports are SQL over the ``cost_records`` / ``task_outcomes`` schema; non-SQLite
ledgers are loaded into an in-memory SQLite database first, so every store reports
the same way.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

from .._errors import ConfigurationError, LedgerError
from .._records import CostRecord
from ._base import Ledger, TaskOutcome, record_to_row
from ._stores import INSERT_OUTCOME, INSERT_RECORD, SQLiteLedger, init_schema, outcome_to_row

__all__ = ["DIMENSIONS", "LedgerReports", "format_rows"]

# Report dimension -> SQL expression over cost_records.
DIMENSIONS: dict[str, str] = {
    "tenant": "tenant",
    "user": "user",
    "feature": "feature",
    "route": "route",
    "prompt_version": "prompt_version",
    "model": "model",
    "provider": "provider",
    "day": "substr(timestamp, 1, 10)",
    "month": "substr(timestamp, 1, 7)",
    "cache_status": "cache_status",
    "success": "success",
}
# Dimensions that describe a task (taken from its first call).
_TASK_DIMENSIONS = ("tenant", "user", "feature", "route", "prompt_version", "model", "provider", "day", "month")

FailurePolicy = Literal["any_error", "root_error"]


def _check_by(by: Sequence[str] | str | None, allowed: Sequence[str]) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        by = [b.strip() for b in by.split(",") if b.strip()]
    out = []
    for b in by:
        if b not in allowed:
            raise ConfigurationError(
                f"Cannot group by {b!r}; choose from: {', '.join(allowed)}."
            )
        out.append(b)
    return out


def _ts(value: datetime | date | str | None, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
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

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_ledger(cls, ledger: Ledger) -> LedgerReports:
        if isinstance(ledger, SQLiteLedger):
            ledger.flush()
            return cls(ledger.connect())
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
    def open(cls, path: str | Path) -> LedgerReports:
        """Open a ledger file (SQLite or JSONL) read-only for reporting."""
        text = str(path)
        for prefix in ("sqlite:///", "jsonl:///"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
        p = Path(text)
        if not p.exists():
            raise LedgerError(f"No ledger file at {str(p)!r}.")
        if p.suffix == ".jsonl":
            from ._stores import JSONLLedger

            led = JSONLLedger(p, background=False)
            return cls.from_records(led.records(), led.task_outcomes())
        try:
            conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            conn.execute("SELECT 1 FROM cost_records LIMIT 1")
        except sqlite3.Error as exc:
            raise LedgerError(f"{str(p)!r} is not an llm-cost-hooks SQLite ledger: {exc}") from exc
        return cls(conn)

    def close(self) -> None:
        self._conn.close()

    # -- queries -----------------------------------------------------------------------
    def _where(self, since: Any, until: Any, alias: str = "") -> tuple[str, list[Any]]:
        clauses, params = [], []
        s, u = _ts(since, "since"), _ts(until, "until")
        if s:
            clauses.append(f"{alias}timestamp >= ?")
            params.append(s)
        if u:
            clauses.append(f"{alias}timestamp < ?")
            params.append(u)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        cur = self._conn.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def totals(
        self,
        by: Sequence[str] | str | None = None,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Calls, tokens, dollars, savings, errors and cache hits, grouped by ``by``."""
        keys = _check_by(by, list(DIMENSIONS))
        where, params = self._where(since, until)
        select_keys = [f"{DIMENSIONS[k]} AS {k}" for k in keys]
        group = f" GROUP BY {', '.join(DIMENSIONS[k] for k in keys)}" if keys else ""
        sql = (
            "SELECT "
            + ", ".join(
                select_keys
                + [
                    "COUNT(*) AS calls",
                    "SUM(input_tokens) AS input_tokens",
                    "SUM(output_tokens) AS output_tokens",
                    "SUM(cache_read_tokens) AS cache_read_tokens",
                    "SUM(reasoning_tokens) AS reasoning_tokens",
                    "ROUND(SUM(cost_usd), 10) AS cost_usd",
                    "ROUND(SUM(saved_usd), 10) AS saved_usd",
                    "SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END) AS errors",
                    "SUM(CASE WHEN cache_status NOT IN ('miss') THEN 1 ELSE 0 END) AS cache_hits",
                    "SUM(CASE WHEN attempt > 1 THEN cost_usd ELSE 0 END) AS retry_cost_usd",
                    "MAX(tokens_estimated) AS tokens_estimated",
                    "MAX(price_estimated) AS price_estimated",
                ]
            )
            + f" FROM cost_records{where}{group} ORDER BY cost_usd DESC"
        )
        rows = self._rows(sql, params)
        if not keys and rows and rows[0]["calls"] == 0:
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
        where, params = self._where(since, until)
        # A task takes its dimensions from its first call.
        first = ", ".join(
            f"(SELECT {DIMENSIONS[k]} FROM cost_records f WHERE COALESCE(f.task_id, f.request_id) = "
            f"COALESCE(r.task_id, r.request_id) ORDER BY f.timestamp LIMIT 1) AS {k}"
            for k in keys
        )
        ok_expr = (
            "(t.all_ok = 1 AND COALESCE(o.run_failed, 0) = 0)"
            if failure_policy == "any_error"
            else "(CASE WHEN o.run_seen = 1 THEN 1 - o.run_failed ELSE t.all_ok END)"
        )
        sql = f"""
        WITH t AS (
            SELECT COALESCE(r.task_id, r.request_id) AS task_id,
                   {first + ',' if first else ''}
                   SUM(r.cost_usd) AS cost, SUM(r.saved_usd) AS saved, COUNT(*) AS calls,
                   MIN(r.success) AS all_ok,
                   SUM(CASE WHEN r.attempt > 1 THEN r.cost_usd ELSE 0 END) AS retry_cost,
                   SUM(CASE WHEN r.success = 0 THEN r.cost_usd ELSE 0 END) AS failed_cost
            FROM cost_records r{where.replace('timestamp', 'r.timestamp')}
            GROUP BY COALESCE(r.task_id, r.request_id)
        ),
        o AS (
            SELECT task_id,
                   MAX(CASE WHEN source = 'run' THEN 1 ELSE 0 END) AS run_seen,
                   MAX(CASE WHEN source = 'run' AND success = 0 THEN 1 ELSE 0 END) AS run_failed,
                   (SELECT u.success FROM task_outcomes u WHERE u.task_id = x.task_id
                      AND u.source = 'user' ORDER BY u.timestamp DESC LIMIT 1) AS user_mark
            FROM task_outcomes x GROUP BY task_id
        ),
        s AS (
            SELECT t.*, CASE WHEN o.user_mark IS NOT NULL THEN o.user_mark
                             ELSE {ok_expr} END AS ok
            FROM t LEFT JOIN o ON o.task_id = t.task_id
        )
        SELECT {''.join(k + ', ' for k in keys)}
               COUNT(*) AS tasks,
               SUM(ok) AS successful_tasks,
               COUNT(*) - SUM(ok) AS failed_tasks,
               SUM(calls) AS calls,
               ROUND(SUM(cost), 10) AS cost_usd,
               ROUND(SUM(cost) / COUNT(*), 10) AS cost_per_task,
               ROUND(SUM(cost) / NULLIF(SUM(ok), 0), 10) AS cost_per_successful_task,
               ROUND(SUM(retry_cost), 10) AS retry_cost_usd,
               ROUND(SUM(failed_cost), 10) AS failed_call_cost_usd,
               ROUND(SUM(saved), 10) AS saved_usd
        FROM s
        {('GROUP BY ' + ', '.join(keys)) if keys else ''}
        ORDER BY cost_usd DESC
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
        """Hits and dollars saved per cache status (and any other dimensions)."""
        keys = _check_by(by, list(DIMENSIONS))
        where, params = self._where(since, until)
        where = (where + " AND " if where else " WHERE ") + "cache_status != 'miss'"
        select_keys = [f"{DIMENSIONS[k]} AS {k}" for k in keys]
        group = f" GROUP BY {', '.join(DIMENSIONS[k] for k in keys)}" if keys else ""
        sql = (
            "SELECT "
            + ", ".join(select_keys + ["COUNT(*) AS hits", "ROUND(SUM(saved_usd), 10) AS saved_usd"])
            + f" FROM cost_records{where}{group} ORDER BY saved_usd DESC"
        )
        return [r for r in self._rows(sql, params) if r["hits"]]


    def timeseries(
        self,
        bucket: Literal["hour", "day", "month"] = "day",
        by: str | None = None,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Calls, cost, savings and cache hits per time bucket (and per ``by`` value)."""
        widths = {"hour": 13, "day": 10, "month": 7}
        if bucket not in widths:
            raise ConfigurationError("bucket must be 'hour', 'day' or 'month'.")
        keys = _check_by(by, list(DIMENSIONS))
        if len(keys) > 1:
            raise ConfigurationError("timeseries takes at most one 'by' dimension.")
        where, params = self._where(since, until)
        t = f"substr(timestamp, 1, {widths[bucket]})"
        extra = f", {DIMENSIONS[keys[0]]} AS {keys[0]}" if keys else ""
        group = f"{t}" + (f", {DIMENSIONS[keys[0]]}" if keys else "")
        sql = (
            f"SELECT {t} AS bucket{extra}, COUNT(*) AS calls, ROUND(SUM(cost_usd), 10) AS cost_usd, "
            "ROUND(SUM(saved_usd), 10) AS saved_usd, "
            "SUM(CASE WHEN cache_status NOT IN ('miss') THEN 1 ELSE 0 END) AS cache_hits, "
            "SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END) AS errors "
            f"FROM cost_records{where} GROUP BY {group} ORDER BY bucket"
        )
        return self._rows(sql, params)

    def budget_breaches(
        self,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
    ) -> list[dict[str, Any]]:
        """Calls refused or changed by a budget: ``error_type`` BudgetExceeded, or a
        ``budget.*`` tag in the record (trims, downgrades), grouped by tenant and feature."""
        where, params = self._where(since, until)
        cond = "(error_type = 'BudgetExceeded' OR tags LIKE '%\"budget.%')"
        where = (where + " AND " if where else " WHERE ") + cond
        sql = (
            "SELECT tenant, feature, COUNT(*) AS calls, "
            "SUM(CASE WHEN error_type = 'BudgetExceeded' THEN 1 ELSE 0 END) AS refused, "
            "ROUND(SUM(cost_usd), 10) AS cost_usd "
            f"FROM cost_records{where} GROUP BY tenant, feature ORDER BY calls DESC"
        )
        return self._rows(sql, params)


def format_rows(
    rows: Sequence[dict[str, Any]], fmt: Literal["table", "csv", "json"] = "table"
) -> str:
    """Render report rows as an aligned text table, CSV or JSON."""
    if fmt == "json":
        return json.dumps(list(rows), indent=2, default=str)
    if not rows:
        return "(no records)" if fmt == "table" else ""
    cols = list(rows[0].keys())
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
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
        return str(v)

    body = [[cell(c, r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in cols]
    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric))
    out = [line(cols), "  ".join("-" * w for w in widths)]
    out += [line(b) for b in body]
    return "\n".join(out)
