"""Counts of the records a process killed outright never wrote.

A process ended by SIGKILL (the OOM killer, a worker timeout, ``kubectl delete
--grace-period=0``) or ``os._exit()`` runs no exit code: the records its ledger still held
are lost. Each process with a background ledger keeps a 64-byte memory-mapped file in
``<ledger>.writers/``: the caller adds one to *accepted* per record (a plain memory write,
no system call), the writer publishes *accounted* (written, skipped as already there, set
aside or dropped) after each batch. The kernel keeps a shared mapping's pages when the
process dies, so the counts survive a SIGKILL. The file is locked (``flock``) for the
process's life: the kernel drops the lock when the process ends, however it ends, so a
lock that can be taken means its owner is gone (a reused pid is no test of that). A clean
close removes the file. The next process that opens the ledger (or ``llm-cost report``)
turns a dead process's file whose counts differ into a warning, a line in
``<ledger>.unwritten.jsonl`` and ``ledger.stats.unwritten``, then removes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock, nothing kept
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CountsFile",
    "collect_dead",
    "ledger_state_dir",
    "scratch",
    "unwritten_log_path",
    "user_state_dir",
    "writers_dir",
]

logger = logging.getLogger("llm_cost_hooks.ledger")

_MAGIC = 0x4C43484B_43303031  # "LCHKC001"
SLOTS = 8
# Slots of the file (int64 each).
MAGIC, PID, STARTED_NS, ACCEPTED, ACCOUNTED, IN_FLIGHT, ACCOUNTED_NS, _RESERVED = range(SLOTS)
_SIZE = SLOTS * 8
_SUFFIX = ".counts"

_warned_dirs: set[str] = set()


def scratch() -> memoryview:
    """Counters in plain memory: what a ledger counts into when it keeps no file (no
    branch on the caller's path either way)."""
    return memoryview(bytearray(_SIZE)).cast("q")


STATE_DIR_ENV = "LLM_COST_HOOKS_STATE_DIR"


def user_state_dir() -> Path | None:
    """``$LLM_COST_HOOKS_STATE_DIR``, else ``$XDG_STATE_HOME/llm-cost-hooks`` or
    ``~/.local/state/llm-cost-hooks`` (Linux, macOS), ``%LOCALAPPDATA%\\llm-cost-hooks\\state``
    (Windows); None when there is no home to put it in (a container without ``HOME``)."""
    explicit = os.environ.get(STATE_DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "llm-cost-hooks" / "state"
    xdg = os.environ.get("XDG_STATE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative value is to be ignored
        return Path(xdg) / "llm-cost-hooks"
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        return None
    if not home.is_absolute() or home.parent == home:
        return None  # "/" (no real home): a system directory is no place for our files
    return home / ".local" / "state" / "llm-cost-hooks"


def ledger_state_dir(
    kind: str, identity: dict[str, str], earlier: dict[str, str] | None = None
) -> Path | None:
    """The state directory of one ledger without a file (a PostgreSQL database): named by a
    digest of its identity (no password), so that its processes on this machine share it
    and two ledgers never do. None when there is no user state directory.

    ``earlier``: the identity an earlier release named the same ledger by. Its directory,
    if there is one and none of the new name yet, is renamed to the new name (what it
    holds stays with the ledger); if both exist, a warning names the earlier one when it
    holds records set aside."""
    base = user_state_dir()
    if base is None:
        return None
    state = base / "ledgers" / _state_name(kind, identity)
    if earlier is not None and earlier != identity:
        old = base / "ledgers" / _state_name(kind, earlier)
        if old != state and old.is_dir():
            if not state.exists():
                try:
                    old.rename(state)  # another process may have done it (or made ``state``) first
                except OSError:
                    pass
            if old.is_dir() and state.is_dir() and str(old) not in _warned_earlier:
                _warned_earlier.add(str(old))
                kept = [p for p in old.glob("*.jsonl") if p.is_file() and p.stat().st_size > 0]
                if kept:
                    logger.warning(
                        "llm-cost-hooks ledger: %s holds records set aside for this ledger under "
                        "another spelling of its URL, by an earlier release (%s); replay them with "
                        "'llm-cost ledger copy <file> <ledger URL>'. This ledger's state is now in %s.",
                        old,
                        ", ".join(p.name for p in kept),
                        state,
                    )
    return state


_warned_earlier: set[str] = set()


def _state_name(kind: str, identity: dict[str, str]) -> str:
    digest = hashlib.sha256(json.dumps([kind, identity], sort_keys=True).encode()).hexdigest()[:16]
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", identity.get("dbname") or "")[:40]
    return f"{kind}-{label}-{digest}"


def writers_dir(dead_letter_path: Path) -> Path:
    """``llm_costs.db.dead-letter.jsonl`` -> ``llm_costs.db.writers``."""
    return dead_letter_path.with_name(_base_name(dead_letter_path) + ".writers")


def unwritten_log_path(dead_letter_path: Path) -> Path:
    """``llm_costs.db.dead-letter.jsonl`` -> ``llm_costs.db.unwritten.jsonl``."""
    return dead_letter_path.with_name(_base_name(dead_letter_path) + ".unwritten.jsonl")


def _base_name(dead_letter_path: Path) -> str:
    name = dead_letter_path.name
    return name[: -len(".dead-letter.jsonl")] if name.endswith(".dead-letter.jsonl") else name


class CountsFile:
    """This process's counts file, mapped; ``view`` holds the slots."""

    def __init__(self, path: Path, fd: int, mm: mmap.mmap) -> None:
        self.path, self.fd, self.mm = path, fd, mm
        self.view = memoryview(mm).cast("q")

    @classmethod
    def create(cls, directory: Path) -> CountsFile | None:
        """A new locked counts file in ``directory``, or None (said once per directory:
        records lost to a kill are then not counted)."""
        if fcntl is None:
            return None
        tmp: Path | None = None
        fd = -1
        try:
            directory.mkdir(parents=True, exist_ok=True)
            pid = os.getpid()
            stem = f"{pid}-{time.time_ns():x}"
            tmp = directory / f".{stem}.tmp"
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, _SIZE)
            mm = mmap.mmap(fd, _SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            view = memoryview(mm).cast("q")
            view[PID], view[STARTED_NS] = pid, time.time_ns()
            view[MAGIC] = _MAGIC
            view.release()
            path = directory / (stem + _SUFFIX)
            # Under its final name only once locked and filled: a scan never sees it half made.
            os.rename(tmp, path)
            return cls(path, fd, mm)
        except (OSError, ValueError) as exc:
            if fd >= 0:
                os.close(fd)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            key = str(directory)
            if key not in _warned_dirs:
                _warned_dirs.add(key)
                logger.warning(
                    "llm-cost-hooks ledger: cannot keep the record counts in %s (%s): records this "
                    "process still holds if it is killed outright (SIGKILL, OOM) will not be counted. "
                    "Calls and records are not affected.",
                    directory,
                    exc,
                )
            return None

    def close(self, *, remove: bool) -> None:
        """Unmap and close; ``remove``: the records are all accounted for (a clean close).
        A forked child closes its parent's file without removing it (the parent's lock
        stays the parent's)."""
        if remove:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        try:
            self.view.release()
            self.mm.close()
        except (BufferError, ValueError):  # a view still in use: the mapping goes with the process
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


def collect_dead(dead_letter_path: Path, own: Path | None = None) -> list[dict[str, Any]]:
    """Turn the counts files of dead processes in the ledger's writers directory into
    entries: each with unwritten records is logged as a warning and appended to
    ``<ledger>.unwritten.jsonl``; every dead file is removed. Never raises (a directory
    that cannot be read is no loss of ours)."""
    if fcntl is None:
        return []
    directory = writers_dir(dead_letter_path)
    try:
        listed = os.listdir(directory)
    except OSError:
        return []
    names = [n for n in listed if n.endswith(_SUFFIX)]
    for name in listed:
        if name.endswith(".tmp"):
            _remove_stale_tmp(directory / name)
    found: list[dict[str, Any]] = []
    for name in names:
        path = directory / name
        if own is not None and path == own:
            continue
        try:
            entry = _take_if_dead(path)
        except OSError:
            continue
        if entry is not None:
            found.append(entry)
    if found:
        _log_entries(dead_letter_path, found)
    return found


def _remove_stale_tmp(path: Path) -> None:
    """A file a process was killed while making (before its first record): nothing in it.
    Only once it is a minute old, so a process making one now keeps it."""
    assert fcntl is not None
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        if time.time() - os.fstat(fd).st_mtime < 60:
            return
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path)
    except OSError:  # locked by a live process, or gone already
        pass
    finally:
        os.close(fd)


def _take_if_dead(path: Path) -> dict[str, Any] | None:
    assert fcntl is not None
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its process is alive
        try:
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                return None  # taken and removed by another process meanwhile
        except FileNotFoundError:
            return None
        data = os.pread(fd, _SIZE, 0)
        slots = memoryview(data).cast("q") if len(data) == _SIZE else None
        os.unlink(path)
        if slots is None or slots[MAGIC] != _MAGIC:
            return None
        accepted, accounted, in_flight = slots[ACCEPTED], slots[ACCOUNTED], slots[IN_FLIGHT]
        if accepted <= accounted:
            return None
        return {
            "pid": slots[PID],
            "started_at": _iso(slots[STARTED_NS]),
            "last_accounted_at": _iso(slots[ACCOUNTED_NS] or slots[STARTED_NS]),
            "found_at": datetime.now(timezone.utc).isoformat(),
            "accepted": accepted,
            "accounted": accounted,
            "unwritten": accepted - accounted,
            # Records of the batch in the store when the process died: its commit may have
            # landed just before the kill, so up to this many may be in the ledger after all.
            "maybe_written": min(in_flight, accepted - accounted),
        }
    finally:
        os.close(fd)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat()


def _log_entries(dead_letter_path: Path, entries: list[dict[str, Any]]) -> None:
    log = unwritten_log_path(dead_letter_path)
    for e in entries:
        maybe = (
            f" (up to {e['maybe_written']} of them were being committed and may be in the ledger)"
            if e["maybe_written"]
            else ""
        )
        logger.warning(
            "llm-cost-hooks ledger: process %d (started %s) was killed outright (SIGKILL, OOM or "
            "os._exit) holding %d record(s) it never wrote%s; it last wrote at %s. Counted in %s "
            "and ledger.stats.unwritten. Flush before os._exit(); see docs/reliability.md.",
            e["pid"],
            e["started_at"],
            e["unwritten"],
            maybe,
            e["last_accounted_at"],
            log,
        )
    try:
        from ._base import _append_durably

        _append_durably(log, "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    except OSError as exc:
        logger.error("llm-cost-hooks ledger: cannot write %s (%s); the counts are in this log only", log, exc)


def read_unwritten(dead_letter_path: Path) -> tuple[int, int]:
    """(processes, records) counted in ``<ledger>.unwritten.jsonl`` so far."""
    processes = records = 0
    try:
        with open(unwritten_log_path(dead_letter_path), "rb") as fh:
            for line in fh:
                try:
                    records += int(json.loads(line)["unwritten"])
                    processes += 1
                except (ValueError, KeyError, TypeError):
                    continue
    except OSError:
        pass
    return processes, records
