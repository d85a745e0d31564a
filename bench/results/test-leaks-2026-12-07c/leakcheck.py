"""A pytest plugin that finds background work outliving its test (not loaded by default).

Run from the repository with ``PYTHONPATH=$PWD:bench/results/test-leaks-2026-12-07c`` and
``-p leakcheck``. It appends JSON lines to ``$LEAKCHECK_OUT``:

- ``leak``: a thread started during a test and still alive 2 s after that test ended
  (for a guard's lease renewer: how many reservations it still holds, and its store);
- ``late-log``: a WARNING or ERROR logged by a thread that an earlier test started (the
  thread object, not its ident: idents are reused once a thread ends);
- ``file``: a file or folder that appeared in the repository or ``tests/`` during a test.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

_REPO = os.getcwd()
_OUT = os.environ.get("LEAKCHECK_OUT", "leakcheck.jsonl")
_owner: dict[threading.Thread, str] = {}  # thread -> the test it was started during
_pending: list[tuple[float, str, threading.Thread]] = []
_reported: set[threading.Thread] = set()
_state: dict[str, Any] = {"current": "", "before": set(), "files": set()}


def _emit(kind: str, **fields: Any) -> None:
    with open(_OUT, "a") as out:
        out.write(json.dumps({"kind": kind, **fields}) + "\n")


def _listing() -> set[str]:
    names: set[str] = set()
    for folder in (_REPO, os.path.join(_REPO, "tests")):
        try:
            names |= {os.path.join(folder, n) for n in os.listdir(folder)}
        except OSError:
            pass
    return names


class _LateLogs(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        owner = _owner.get(threading.current_thread())  # the handler runs on the logging thread
        if owner and owner != _state["current"]:
            _emit(
                "late-log",
                owner=owner,
                during=_state["current"],
                thread=record.threadName,
                logger=record.name,
                level=record.levelname,
                msg=record.getMessage()[:200],
            )


def pytest_configure(config: Any) -> None:
    handler = _LateLogs()
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    _state["files"] = _listing()


def _renewer_state(thread: threading.Thread) -> dict[str, Any]:
    try:
        guard = thread._args[0]()  # type: ignore[attr-defined]
    except Exception as exc:
        return {"inspect_error": repr(exc)}
    if guard is None:
        return {"guard": "collected"}
    held = [ref() for ref in guard._held.values()]
    return {
        "held": sum(1 for r in held if r is not None and r.state == "held"),
        "store": type(guard.store).__name__,
    }


def _check(now: float, final: bool = False) -> None:
    keep = []
    for ended, nodeid, thread in _pending:
        if not final and now - ended < 2.0:
            keep.append((ended, nodeid, thread))
        elif thread.is_alive() and thread not in _reported:
            _reported.add(thread)
            extra = _renewer_state(thread) if thread.name == "llm-cost-hooks-lease-renewer" else {}
            target = repr(getattr(thread, "_target", None))[:160]
            _emit("leak", test=nodeid, thread=thread.name, daemon=thread.daemon, target=target, **extra)
    _pending[:] = keep


def pytest_runtest_setup(item: Any) -> None:
    _state["current"] = item.nodeid
    _state["before"] = set(threading.enumerate())
    _check(time.monotonic())


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    now = time.monotonic()
    for thread in threading.enumerate():
        if thread not in _state["before"] and thread not in _owner:
            _owner[thread] = nodeid
            _pending.append((now, nodeid, thread))
    files = _listing()
    if files - _state["files"]:
        _emit("file", test=nodeid, files=sorted(files - _state["files"]))
    _state["files"] = files
    _check(now)


def pytest_sessionfinish(session: Any) -> None:
    deadline = time.monotonic() + 2.5
    while _pending and time.monotonic() < deadline:
        time.sleep(0.1)
    _check(time.monotonic(), final=True)
