"""User ids are stored hashed with a salt kept with the ledger, by default.

With an empty salt anyone holding the records could find a user by hashing a list of
candidate ids (e-mail addresses, account numbers). Every writer of one ledger must hash
alike, and a ledger that already holds unsalted hashes must not split a user in two.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import CostRecord, CostTracker
from llm_cost_hooks._settings import Settings, get_settings
from llm_cost_hooks.ledger import JSONLLedger, MemoryLedger, SQLiteLedger
from llm_cost_hooks.tracking._attribution import hash_user

USER = "alice@example.com"
_runs = iter(range(1_000_000))


def _user_of(tracker: CostTracker, user: str = USER) -> str | None:
    """The user column of the record a call of ``user`` writes."""
    run = f"run-{next(_runs)}"
    tracker.start_llm(run, None, model="gpt-4o-mini", provider="openai", metadata={"user_id": user})
    tracker.end_llm(run, (10, 2, 0, 0, 0))
    tracker.ledger.flush()
    return next(r.user for r in tracker.ledger.records() if r.request_id == run)


@pytest.fixture
def no_env_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_COST_HOOKS_USER_HASH_SALT", raising=False)


def _tracker(ledger: Any, **settings: Any) -> CostTracker:
    return CostTracker(ledger=ledger, settings=Settings(**settings))


def test_the_default_hash_is_salted_and_every_writer_of_a_ledger_hashes_alike(
    tmp_path: Path, no_env_salt: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "costs.db"
    first, second = SQLiteLedger(path), SQLiteLedger(path)  # two writers of one file
    other = SQLiteLedger(tmp_path / "other.db")
    try:
        with caplog.at_level(logging.DEBUG):
            a = _user_of(_tracker(first))
            b = _user_of(_tracker(second))
            c = _user_of(_tracker(other))
        assert a is not None and a != hash_user(USER, "")  # not found by hashing candidate ids
        assert a == b and len(a) == 16
        assert c != a  # another ledger, another salt
        salt = first.connect().execute("SELECT value FROM llm_cost_meta").fetchone()[0]
        assert a == hash_user(USER, salt) and len(salt) == 32
        assert all(salt not in r.getMessage() for r in caplog.records)  # never logged
    finally:
        for ledger in (first, second, other):
            ledger.close()
    reopened = SQLiteLedger(path)  # a restart keeps the salt
    try:
        assert _user_of(_tracker(reopened)) == a
    finally:
        reopened.close()


def test_a_ledger_of_unsalted_hashes_keeps_them_with_one_warning(
    tmp_path: Path, no_env_salt: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "costs.db"
    old = SQLiteLedger(path)  # what an earlier release wrote: the default empty salt
    old.write(CostRecord(model="gpt-4o-mini", user=hash_user(USER, "")))
    old.close()
    ledger = SQLiteLedger(path)
    try:
        with caplog.at_level(logging.WARNING):
            tracker = _tracker(ledger)
            assert _user_of(tracker) == hash_user(USER, "")  # one user, one hash, across the upgrade
            assert _user_of(tracker, "bob") == hash_user("bob", "")
            assert _user_of(_tracker(ledger), "carol") == hash_user("carol", "")  # another handler
        warned = [r for r in caplog.records if "without a salt" in r.getMessage()]
        assert len(warned) == 1
    finally:
        ledger.close()


def test_the_setting_wins(tmp_path: Path, no_env_salt: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = SQLiteLedger(tmp_path / "costs.db")
    try:
        assert _user_of(_tracker(ledger, user_hash_salt="pepper")) == hash_user(USER, "pepper")
        assert _user_of(_tracker(ledger, user_hash_salt="")) == hash_user(USER, "")  # chosen: unsalted
        monkeypatch.setenv("LLM_COST_HOOKS_USER_HASH_SALT", "from-env")
        get_settings(reload=True)
        assert _user_of(CostTracker(ledger=ledger)) == hash_user(USER, "from-env")
    finally:
        ledger.close()
        monkeypatch.delenv("LLM_COST_HOOKS_USER_HASH_SALT")
        get_settings(reload=True)


def test_a_jsonl_ledger_keeps_its_salt_beside_it_for_its_owner_only(
    tmp_path: Path, no_env_salt: None
) -> None:
    path = tmp_path / "costs.jsonl"
    first, second = JSONLLedger(path), JSONLLedger(path)
    try:
        a, b = _user_of(_tracker(first)), _user_of(_tracker(second))
        assert a == b and a != hash_user(USER, "")
        side = tmp_path / "costs.jsonl.salt"
        assert a == hash_user(USER, side.read_text())
        assert stat.S_IMODE(os.stat(side).st_mode) == 0o600
    finally:
        first.close()
        second.close()


def test_a_memory_ledger_is_salted(no_env_salt: None) -> None:
    assert _user_of(_tracker(MemoryLedger())) != hash_user(USER, "")


class _Unreachable(MemoryLedger):
    """A ledger whose salt cannot be read until ``up``."""

    up = False

    def _user_salt(self) -> str:
        if not self.up:
            raise OSError("down")
        return super()._user_salt()


def test_a_salt_that_cannot_be_read_leaves_the_user_out_and_says_so(
    no_env_salt: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_cost_hooks.tracking import _attribution

    ledger = _Unreachable()
    tracker = _tracker(ledger)
    with caplog.at_level(logging.WARNING):
        assert _user_of(tracker) is None  # never a hash of another salt: it would split the user
        assert _user_of(tracker) is None
    assert len([r for r in caplog.records if "cannot read the ledger's salt" in r.getMessage()]) == 1
    ledger.up = True
    monkeypatch.setattr(_attribution, "_SALT_RETRY_SECONDS", 0.0)
    tracker._attributions._salt._retry_at = 0.0  # type: ignore[union-attr]
    assert _user_of(tracker) == hash_user(USER, ledger._user_salt())


def test_postgresql_writers_share_the_salt(postgres_db_url: str, no_env_salt: None) -> None:
    pytest.importorskip("psycopg")
    from llm_cost_hooks.ledger import PostgresLedger

    first, second = PostgresLedger(postgres_db_url), PostgresLedger(postgres_db_url)
    try:
        a, b = _user_of(_tracker(first)), _user_of(_tracker(second))
        assert a == b and a is not None and a != hash_user(USER, "")
    finally:
        first.close()
        second.close()


def test_a_postgresql_ledger_of_unsalted_hashes_keeps_them(postgres_db_url: str, no_env_salt: None) -> None:
    pytest.importorskip("psycopg")
    from llm_cost_hooks.ledger import PostgresLedger

    old = PostgresLedger(postgres_db_url)
    old.write(CostRecord(model="gpt-4o-mini", user=hash_user(USER, "")))
    old.flush()
    old.close()
    ledger = PostgresLedger(postgres_db_url)
    try:
        assert _user_of(_tracker(ledger)) == hash_user(USER, "")
    finally:
        ledger.close()


@pytest.mark.parametrize("source_salted", [True, False])
def test_a_copy_takes_the_source_salt_along(tmp_path: Path, no_env_salt: None, source_salted: bool) -> None:
    from llm_cost_hooks.ledger._copy import copy_ledger

    src_path, dst_path = tmp_path / "a.db", tmp_path / "b.db"
    src = SQLiteLedger(src_path)
    if source_salted:
        before = _user_of(_tracker(src))
    else:  # a file an earlier release wrote
        before = hash_user(USER, "")
        src.write(CostRecord(model="gpt-4o-mini", user=before))
    src.close()
    copy_ledger(src_path, dst_path)
    dst = SQLiteLedger(dst_path)
    try:
        assert _user_of(_tracker(dst)) == before  # one user, one hash, in the copy
    finally:
        dst.close()


def test_the_owner_migrating_a_postgresql_ledger_makes_its_salt(
    postgres_db_url: str, no_env_salt: None
) -> None:
    pytest.importorskip("psycopg")
    import psycopg

    from llm_cost_hooks.ledger import PostgresLedger
    from llm_cost_hooks.ledger._postgres import migrate_url

    migrate_url(postgres_db_url)  # what `llm-cost ledger migrate` runs, as the owner
    with psycopg.connect(postgres_db_url) as conn:
        row = conn.execute("SELECT value FROM llm_cost_meta WHERE key = 'user_hash_salt'").fetchone()
    assert row is not None and len(row[0]) == 32
    ledger = PostgresLedger(postgres_db_url)
    try:
        assert _user_of(_tracker(ledger)) == hash_user(USER, row[0])
    finally:
        ledger.close()
