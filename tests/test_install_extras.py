"""The extras the install page names are the extras the package declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parent.parent


def _extras() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(data["project"]["optional-dependencies"])


def test_langchain_extra_installs_instead_of_warning() -> None:
    # `pip install 'llm-cost-hooks[langchain]'` is what a LangChain user types first; without
    # the extra pip only warns "does not provide the extra" and the user wonders what is missing.
    extras = _extras()
    assert "langchain" in extras
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    core = {re.split(r"[<>=\[ ]", d)[0] for d in data["project"]["dependencies"]}
    assert {
        re.split(r"[<>=\[ ]", d)[0] for d in data["project"]["optional-dependencies"]["langchain"]
    } <= core


def test_the_install_page_names_the_langchain_extra() -> None:
    # That every extra a page names exists is checked in test_doc_examples.py.
    text = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    assert "pip install '.[langchain]'" in text
