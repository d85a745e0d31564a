"""The embedded store's file when the deployment misbehaves: one file shared by two
processes that both answer the same question, a file that is not a database, a path that
cannot be created. bench/results/cache-store-2026-12-07/attack.py runs the same attacks on
the installed wheel.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.cache import CacheEntry, EmbeddedBackend


def _entry(exact_key: str, answer: str, partition: str = "p") -> CacheEntry:
    return CacheEntry(
        partition=partition,
        exact_key=exact_key,
        tenant="t",
        query="How do I reset my password?",
        normalized_query="how do i reset my password?",
        embedding_model="toy",
        answer=answer,
        answer_key=answer,
    )


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    return v / np.linalg.norm(v)


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM entries").fetchone()[0])


def test_a_replaced_exact_entry_leaves_no_row_behind(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    b = EmbeddedBackend(path)
    b.put(_entry("k", "first"), _vec(1))
    b.put(_entry("k", "second"), _vec(2))  # the same request answered again (a concurrent miss)
    assert b.count() == 1 and _rows(path) == 1
    b.close()


def test_two_processes_answering_the_same_question_then_a_restart(tmp_path: Path) -> None:
    """Each process misses, each writes its own entry for one exact key. The next open must
    keep one of them and search without error (a leftover vector once raised KeyError on
    every search of that partition)."""
    path = tmp_path / "c.db"
    a, b = EmbeddedBackend(path), EmbeddedBackend(path)
    a.put(_entry("k", "from a"), _vec(1))
    b.put(_entry("k", "from b"), _vec(2))
    a.close()
    b.close()
    c = EmbeddedBackend(path)
    assert c.count() == 1 and _rows(path) == 1
    found = c.search("p", _vec(1), 10)
    assert [n.payload.answer for n in found] == ["from b"]  # the later write wins
    assert c.get_exact("k").answer == "from b"  # type: ignore[union-attr]
    c.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_cache_file_is_set_aside_and_the_cache_starts_empty(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.db"
    b = EmbeddedBackend(path)
    for i in range(50):
        b.put(_entry(f"k{i}", "x" * 500), _vec(i))
    b.close()
    if damage == "garbage":
        path.write_bytes(b"not a database" * 1000)
    else:
        with path.open("r+b") as f:
            f.truncate(100)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.cache"):
        c = EmbeddedBackend(path)
    assert c.count() == 0
    assert "unreadable" in caplog.text and "moved" in caplog.text
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("c.db.corrupt-")]
    assert aside, "the damaged file is kept for inspection"
    c.put(_entry("k", "new"), _vec(0))
    c.close()
    assert EmbeddedBackend(path).get_exact("k") is not None  # the new file persists


def test_a_cache_path_that_cannot_be_created_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError, match="cache file"):
        EmbeddedBackend(blocker / "sub" / "c.db")


def test_vectors_of_another_size_or_unreadable_are_dropped_at_open(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    b = EmbeddedBackend(path)
    b.put(_entry("new", "new embedder"), _vec(1))
    b.put(_entry("odd", "odd bytes"), _vec(2))
    b.close()
    old = _entry("old", "old embedder")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE entries SET vec = x'010203' WHERE id = ?", (b.get_exact("odd").id,))  # type: ignore[union-attr]
        db.execute(  # written earlier, by an embedder of another size
            "INSERT INTO entries (rowid, id, data, vec) VALUES (0, ?, ?, ?)",
            (old.id, old.model_dump_json(), (np.ones(4, np.float32) / 2).tobytes()),
        )
    c = EmbeddedBackend(path)
    assert c.corrupt == 1 and c.count() == 1 and _rows(path) == 1
    assert [n.payload.answer for n in c.search("p", _vec(1), 10)] == ["new embedder"]
    c.close()
