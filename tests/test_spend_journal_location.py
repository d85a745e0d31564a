"""The spend journal lives in the state directory; an earlier default's files are adopted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks.budget import FailoverSpendStore, RedisSpendStore


def _store() -> Any:
    # Never called: the journal's place and adoption are all this reads.
    return FailoverSpendStore(RedisSpendStore("redis://127.0.0.1:1", prefix="journal-location"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLM_COST_HOOKS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("LLM_COST_HOOKS_SPEND_JOURNAL", raising=False)
    return tmp_path / "home"


def test_the_journal_is_in_the_state_directory_not_a_second_cache_directory(
    home: Path, tmp_path: Path
) -> None:
    # Prices are cached in ~/.cache/llm-cost-hooks; the journal went to ~/.cache/llm_cost_hooks,
    # a second directory spelled differently, outside LLM_COST_HOOKS_STATE_DIR.
    store = _store()
    assert store.journal.directory == tmp_path / "state" / "spend-journal"
    store.journal.append(
        {"op": "settle", "id": "r1", "keys": ["k"], "actual": [5], "ttls": [60], "bucket": 0}
    )
    assert (
        store.journal.path is not None and store.journal.path.parent == tmp_path / "state" / "spend-journal"
    )
    assert not (home / ".cache" / "llm_cost_hooks").exists()


def test_a_journal_left_in_the_earlier_default_directory_is_adopted(home: Path, tmp_path: Path) -> None:
    store = _store()
    old = home / ".cache" / "llm_cost_hooks" / "spend-journal"
    old.mkdir(parents=True)
    left = old / f"{store.journal.namespace}-4242-deadbeef.jsonl"
    entries = [
        {"op": "reserve", "id": "r1", "keys": ["k"], "units": [9], "ttls": [60], "bucket": 0},
        {"op": "settle", "id": "r1", "keys": ["k"], "actual": [5], "ttls": [60], "bucket": 0},
    ]
    left.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    assert store.journal.adopt_orphans() == 1
    assert store.journal.pending == 1 and not left.exists()
    # Re-journalled in the new place, so a crash now does not lose it.
    assert (
        store.journal.path is not None and store.journal.path.parent == tmp_path / "state" / "spend-journal"
    )


def test_an_explicit_journal_directory_wins(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_SPEND_JOURNAL", str(tmp_path / "mine"))
    assert _store().journal.directory == tmp_path / "mine"
