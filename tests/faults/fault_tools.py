"""Shared checks of the fault suite: where every record ended up."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHILD = str(Path(__file__).resolve().parent / "fault_child.py")
ROOT = str(Path(__file__).resolve().parents[2])
CLOSED = re.compile(r"closed: (\d+) records written, (\d+) set aside in (\S+), (\d+) lost")


def ledger_ids(db: str | Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT request_id FROM cost_records")]


def dead_letter_ids(path: str | Path) -> list[str]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line)["record"]["request_id"] for line in p.read_text().splitlines() if line.strip()]


def closed_counts(stderr: str) -> tuple[int, int, str, int]:
    """(written, set aside, dead-letter path, lost) from the ledger's last log line."""
    matches = CLOSED.findall(stderr)
    assert matches, f"no 'closed:' line in the log:\n{stderr[-3000:]}"
    written, aside, path, lost = matches[-1]
    return int(written), int(aside), path, int(lost)


def shared_dir() -> str:
    """A temp folder any user can use (a child may run as 'nobody' to meet permissions)."""
    d = tempfile.mkdtemp(prefix="llm-cost-faults-")
    os.chmod(d, 0o777)
    return d


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": ROOT, **extra}
    env.pop("LLM_COST_HOOKS_EXIT_TIMEOUT", None)
    env.update(extra)
    return env


def as_permission_bound(cmd: list[str]) -> list[str]:
    """``cmd`` run so that file permissions apply to it: root ignores them unless it drops
    the capabilities that override them (util-linux setpriv)."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only file would not be read-only")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *cmd]


def run_child(
    mode: str,
    db: str,
    n: int,
    *extra: str,
    timeout: float = 120,
    permission_bound: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, CHILD, mode, db, str(n), *extra]
    if permission_bound:
        cmd = as_permission_bound(cmd)
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env or child_env(), cwd=os.path.dirname(db)
    )


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real filesystem of ``size`` at ``path`` (root only); skips when it cannot mount."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
