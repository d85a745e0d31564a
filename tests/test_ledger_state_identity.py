"""A PostgreSQL ledger's state folder (counts of killed processes, default dead-letter file)
is named by its identity: spellings of one URL must name one folder, or the counts of a
fleet that writes ``localhost`` in one place and ``127.0.0.1`` in another are split in two
and ``llm-cost`` reports only half of them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

from llm_cost_hooks.ledger import _killcount
from llm_cost_hooks.ledger._postgres import _given_identity, state_dead_letter_path


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("LLM_COST_HOOKS_STATE_DIR", str(folder))
    for name in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGOPTIONS"):
        monkeypatch.delenv(name, raising=False)
    return folder


SAME = [
    "postgresql://app:secret@localhost/costs",
    "postgresql://app@127.0.0.1:5432/costs",
    "postgresql://app@LOCALHOST:5432/costs",
    "postgresql://app@[::1]/costs",
    "postgresql+psycopg://app@localhost:5432/costs?sslmode=prefer",
]
SAME_OPTIONS = [
    "postgresql://app@localhost/costs?options=-c%20search_path%3Dbilling%20-c%20statement_timeout%3D5000",
    "postgresql://app@127.0.0.1/costs?options=-c%20statement_timeout%3D5000%20-c%20search_path%3Dbilling",
    "postgresql://app@localhost:5432/costs?options=--search-path%3Dbilling%20-cstatement_timeout%3D5000",
]
OTHERS = [
    "postgresql://app@localhost:5433/costs",  # another server
    "postgresql://app@localhost/other",  # another database
    "postgresql://bob@localhost/costs",  # another user (their own search_path)
    "postgresql://app@db.internal/costs",  # another host
    "postgresql://app@/costs?host=/var/run/postgresql",  # a socket: perhaps another server
    "postgresql://app@localhost/costs?options=-c%20search_path%3Dother",  # other tables
]


def test_spellings_of_one_ledger_share_one_state_folder(state: Path) -> None:
    same = {state_dead_letter_path(u) for u in SAME}
    assert len(same) == 1
    options = {state_dead_letter_path(u) for u in SAME_OPTIONS}
    assert len(options) == 1 and options != same
    others = {state_dead_letter_path(u) for u in OTHERS}
    assert len(others) == len(OTHERS) and not others & (same | options)


def test_libpq_defaults_are_spelled_out(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    me = getpass.getuser()
    assert state_dead_letter_path("postgresql://localhost") == state_dead_letter_path(
        f"postgresql://{me}@127.0.0.1:5432/{me}"
    )


def test_the_folder_an_earlier_release_made_moves_to_the_new_name(state: Path) -> None:
    url = "postgresql://app@127.0.0.1/costs"
    earlier = _killcount.ledger_state_dir("postgresql", _given_identity(url))
    assert earlier is not None
    earlier.mkdir(parents=True)
    (earlier / "llm_costs.dead-letter.jsonl").write_text('{"record": {}}\n')
    path = state_dead_letter_path(url)
    assert path is not None and path.parent != earlier
    assert not earlier.exists() and path.read_text() == '{"record": {}}\n'  # nothing left behind
    assert state_dead_letter_path("postgresql://app@localhost/costs") == path


def test_an_earlier_folder_left_beside_the_new_one_is_named_in_a_warning(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = state_dead_letter_path("postgresql://app@localhost/costs")  # the new folder exists
    assert path is not None
    path.parent.mkdir(parents=True)
    url = "postgresql://app@127.0.0.1/costs"
    earlier = _killcount.ledger_state_dir("postgresql", _given_identity(url))
    assert earlier is not None
    earlier.mkdir(parents=True)
    (earlier / "llm_costs.dead-letter.jsonl").write_text('{"record": {}}\n')
    with caplog.at_level(logging.WARNING):
        assert state_dead_letter_path(url) == path
    assert any(str(earlier) in r.getMessage() for r in caplog.records)
    assert earlier.exists()  # left for the user to replay
