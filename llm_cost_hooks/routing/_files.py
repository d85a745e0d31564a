"""Saved routing files replaced whole: written under a temporary name in the same
directory, flushed to disk, then renamed over the old one (a rename is atomic), so a
reader, or a crash, never meets a half-written file."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from .._durable import sync_dir

__all__ = ["replace_file"]


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: the old file stays whole until the new one is."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # Created with the mode a plain open() gives (0o666 less the umask), not mkstemp's 0o600:
    # a router trained by one account is often served by another.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_dir(path.parent)
