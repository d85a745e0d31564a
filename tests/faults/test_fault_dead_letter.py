"""The dead-letter file on a disk that fills up while records are set aside in it.

A write cut short by the full disk must not leave half a line behind: the records were
counted as lost, and the fragment would make ``replay_dead_letters`` stop at that line
and swallow the first record set aside after the disk frees up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fault_tools import child_env

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX resource limits")

_FILL_UP = """
import json, resource, signal, sys
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail with EFBIG
db, dead = sys.argv[1], sys.argv[2]
ledger = SQLiteLedger(db, dead_letter=dead)
recs = [CostRecord(request_id=f"r{i}", model="gpt-4o-mini", input_tokens=10, output_tokens=2)
        for i in range(100)]
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))  # room for a few lines only
ledger._set_aside(recs[:50], [], reason="disk full")
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space freed
ledger._set_aside(recs[50:], [], reason="after the disk was freed")
s = ledger.stats
print(json.dumps({"dead_lettered": s.dead_lettered, "dropped": s.dropped}))
ledger.close()
"""


def test_a_dead_letter_write_cut_short_by_a_full_disk_leaves_whole_lines(tmp_path: Path) -> None:
    dead = tmp_path / "costs.db.dead-letter.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", _FILL_UP, str(tmp_path / "costs.db"), str(dead)],
        capture_output=True, text=True, timeout=60,
        env=child_env(TMPDIR=str(tmp_path)),  # the temp-folder fallback fills up too
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(done.stdout.splitlines()[-1])
    assert stats["dropped"] + stats["dead_lettered"] == 100
    kept = []
    for path in (dead, *tmp_path.glob("llm-cost-hooks-dead-letter-*.jsonl")):
        ids = []
        for line in path.read_text(encoding="utf-8").splitlines():
            ids.append(json.loads(line)["record"]["request_id"])  # every line whole
        kept += ids
        if path == dead:
            assert ids[-50:] == [f"r{i}" for i in range(50, 100)]
    # What the files hold (the lines that fitted, then the fallback's) is exactly what was
    # counted as set aside, each record once.
    assert len(kept) == len(set(kept)) == stats["dead_lettered"]


_NEARLY_FULL = """
import json, os, resource, signal, sys
from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail with EFBIG
db = sys.argv[1]
ledger = SQLiteLedger(db)
ledger.write(CostRecord(request_id="first", model="gpt-4o-mini", input_tokens=10, output_tokens=2))
assert ledger.flush(10)
# No file may grow past the largest one of the ledger now: the database cannot take a batch,
# a dead-letter file has room for part of one.
limit = max(os.path.getsize(os.path.join(os.path.dirname(db), p)) for p in os.listdir(os.path.dirname(db)))
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
for i in range(200):
    ledger.write(CostRecord(request_id=f"r{i}", model="gpt-4o-mini", input_tokens=10, output_tokens=2))
ledger.close(timeout=1)
s = ledger.stats
print(json.dumps({"written": s.written, "dead_lettered": s.dead_lettered, "dropped": s.dropped}))
"""


def test_records_that_fit_in_a_nearly_full_dead_letter_file_are_set_aside(tmp_path: Path) -> None:
    # The records left at exit were set aside in one write: when the disk had room for
    # part of them, all of them were counted as lost and none kept.
    (tmp_path / "tmp").mkdir()
    db = tmp_path / "costs.db"
    done = subprocess.run(
        [sys.executable, "-c", _NEARLY_FULL, str(db)],
        capture_output=True, text=True, timeout=60, env=child_env(TMPDIR=str(tmp_path / "tmp")),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(done.stdout.splitlines()[-1])
    assert stats["written"] == 1
    assert stats["dead_lettered"] + stats["dropped"] == 200, stats
    assert stats["dead_lettered"] >= 20, (stats, done.stderr[-2000:])
    kept = []
    for path in (tmp_path / "costs.db.dead-letter.jsonl", *(tmp_path / "tmp").glob("*.jsonl")):
        if path.exists():
            kept += [json.loads(line)["record"]["request_id"] for line in path.read_text().splitlines()]
    assert len(kept) == stats["dead_lettered"] == len(set(kept))
    assert kept == [f"r{i}" for i in range(len(kept))]  # in their order, the first ones kept
    # Every file that holds some of them is named, in a warning and on the closed: line.
    for path in (tmp_path / "costs.db.dead-letter.jsonl", *(tmp_path / "tmp").glob("*.jsonl")):
        if path.exists():
            assert f"set aside in {path}" in done.stderr
            closed = [ln for ln in done.stderr.splitlines() if " closed: " in ln][-1]
            assert str(path) in closed, closed
    if stats["dropped"]:
        assert f"{stats['dropped']} record(s) and 0 task outcome(s) LOST" in done.stderr
