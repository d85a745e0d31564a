"""Where the full development data sets are (``../shared/data`` beside the repository, or
``$LLM_COST_HOOKS_SHARED_DATA``). Users and fresh clones do not have them: tests that need
them skip and say so. Point the variable at a missing folder to check that they do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("LLM_COST_HOOKS_SHARED_DATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "data"
)


def need_shared(*parts: str) -> Path:
    """``SHARED_DATA / parts``, or skip the test saying what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"needs the full development data set {path} (not shipped; ../shared/data or "
            "LLM_COST_HOOKS_SHARED_DATA)"
        )
    return path
