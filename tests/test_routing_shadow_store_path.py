"""A shadow outcome store that cannot be opened says which file, as a ConfigurationError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import ConfigurationError
from llm_cost_hooks.routing import ShadowMode


def _judge(request: Any, answers: dict[str, str]) -> dict[str, float]:
    return {tier: 1.0 for tier in answers}


def test_a_store_in_a_missing_directory_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "ledger.db"
    with pytest.raises(ConfigurationError, match="no-such-dir"):
        ShadowMode(_judge, share=1.0, store=path)
