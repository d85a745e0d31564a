"""The cost handler's ``defaults`` and ``observers`` given in a likely wrong shape: a typed
error saying what to pass, raised before a ledger is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.langchain import CostCallbackHandler
from llm_cost_hooks.tracking import RunObserver


def test_defaults_given_as_a_list(tmp_path: Path) -> None:
    ledger = tmp_path / "costs.db"
    with pytest.raises(ConfigurationError, match=r"defaults must be a mapping .*got list"):
        CostCallbackHandler(ledger=f"sqlite:///{ledger}", defaults=["feature"])  # type: ignore[arg-type]
    assert not ledger.exists()  # refused before the ledger was opened


def test_one_observer_not_in_a_list() -> None:
    with pytest.raises(ConfigurationError, match=r"observers=\[observer\]; got a single RunObserver"):
        CostCallbackHandler(ledger="memory://", observers=RunObserver())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="observers must be a list"):
        CostCallbackHandler(ledger="memory://", observers=3)  # type: ignore[arg-type]


def test_right_shapes_are_taken() -> None:
    observer = RunObserver()
    handler = CostCallbackHandler(ledger="memory://", defaults={"feature": "faq"}, observers=(observer,))
    assert handler.tracker.observers == [observer]
