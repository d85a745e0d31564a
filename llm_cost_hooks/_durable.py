"""Durable file replacement helpers shared by the stores that rewrite files."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["sync_dir"]


def sync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
