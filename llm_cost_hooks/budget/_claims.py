"""Alert claims shared by the processes of one machine while the shared spend store is away.

During a Redis outage each process counts budgets on its own, so every worker of a
machine (gunicorn, uvicorn, Celery) crosses the same threshold on its local total. Before
one of them sends that alert it claims it here: a row per (store namespace, flag) in a
small SQLite file next to the spend journal, taken in one transaction, so one process per
machine sends it. The sender marks the row ``sent`` once its sinks are done with the alert
(delivered it, or gave up on it with an error logged). A claim older than ``send_timeout``
without that mark (its process died, or exited with the alert still queued) can be taken
again, so a crash never swallows an alert. Processes on other machines have files of
their own: their copies carry the same ``Idempotency-Key`` for the receiver to drop.

>>> import tempfile, pathlib
>>> claims = AlertClaims(pathlib.Path(tempfile.mkdtemp()) / "alert-claims.sqlite3", "spend-x")
>>> claims.claim("alert:b:daily:tenant:acme:20261207:0.5", 86_400)
'mine'
>>> claims.claim("alert:b:daily:tenant:acme:20261207:0.5", 86_400)  # another worker, meanwhile
'claimed'
>>> claims.sent("alert:b:daily:tenant:acme:20261207:0.5")
>>> claims.peek("alert:b:daily:tenant:acme:20261207:0.5")
'sent'
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

logger = logging.getLogger("llm_cost_hooks.budget")

#: What :meth:`AlertClaims.claim` found: ``mine`` (send it), ``sent`` (another process of
#: this machine sent it), ``claimed`` (another process is sending it right now).
ClaimState = Literal["mine", "sent", "claimed"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS alert_claims (namespace TEXT NOT NULL, flag TEXT NOT NULL, "
    "pid INTEGER NOT NULL, claimed_at REAL NOT NULL, sent INTEGER NOT NULL DEFAULT 0, "
    "expires REAL NOT NULL, PRIMARY KEY (namespace, flag))"
)


class AlertClaims:
    """One row per alert claimed on this machine during an outage (see the module doc).
    ``path=None`` claims nothing: every call answers ``mine`` (each process sends)."""

    def __init__(
        self,
        path: Path | None,
        namespace: str,
        *,
        send_timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.namespace = namespace
        #: Seconds after which a claim not marked sent is taken again.
        self.send_timeout = send_timeout
        self.clock = clock
        self._warned = False

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A connection per call: cheap next to an alert, and safe across fork().
        conn = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None)
        conn.execute(_SCHEMA)
        return conn

    def _failed(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            logger.exception(
                "llm-cost-hooks: cannot %s alert claims in %s; while the spend store is away, each "
                "process of this machine sends its own copy of an alert",
                what,
                self.path,
            )

    def claim(self, flag: str, ttl: float) -> ClaimState:
        """Take the claim on ``flag`` (kept ``ttl`` seconds) unless another process of this
        machine holds it: sent, or claimed less than ``send_timeout`` ago."""
        if self.path is None:
            return "mine"
        now = self.clock()
        try:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM alert_claims WHERE expires < ?", (now,))
                row = conn.execute(
                    "SELECT sent, claimed_at FROM alert_claims WHERE namespace = ? AND flag = ?",
                    (self.namespace, flag),
                ).fetchone()
                if row is not None and (row[0] or now - row[1] < self.send_timeout):
                    conn.execute("COMMIT")
                    return "sent" if row[0] else "claimed"
                conn.execute(
                    "INSERT OR REPLACE INTO alert_claims (namespace, flag, pid, claimed_at, sent, expires) "
                    "VALUES (?, ?, ?, ?, 0, ?)",
                    (self.namespace, flag, os.getpid(), now, now + max(ttl, self.send_timeout)),
                )
                conn.execute("COMMIT")
            finally:
                conn.close()
        except Exception:
            # A duplicate beats none: without the file, this process sends.
            self._failed("write")
            return "mine"
        return "mine"

    def sent(self, flag: str) -> None:
        """Mark ``flag`` sent (its sinks are done with it): never taken again while it lasts."""
        if self.path is None:
            return
        try:
            conn = self._connect()
            try:
                conn.execute(
                    "UPDATE alert_claims SET sent = 1 WHERE namespace = ? AND flag = ?",
                    (self.namespace, flag),
                )
            finally:
                conn.close()
        except Exception:
            self._failed("write")

    def peek(self, flag: str) -> ClaimState | None:
        """``sent`` or ``claimed`` (and not yet stale) by a process of this machine, else None."""
        if self.path is None or not self.path.exists():
            return None
        now = self.clock()
        try:
            conn = self._connect()
            try:
                row = conn.execute(
                    "SELECT sent, claimed_at, expires FROM alert_claims WHERE namespace = ? AND flag = ?",
                    (self.namespace, flag),
                ).fetchone()
            finally:
                conn.close()
        except Exception:
            self._failed("read")
            return None
        if row is None or row[2] < now:
            return None
        if row[0]:
            return "sent"
        if now - row[1] < self.send_timeout:
            return "claimed"
        return None
