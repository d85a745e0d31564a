"""Doses: milligrams, micrograms and grams are units of their own, so a stored "2 mg"
question is never served for "2 g", even next to padded wordings of the stored one (found
by bench/results/cache-deployed-2026-12-07c/deployed_check.py: "Hi, Is 2 mg ..." was served
for "Is 2 g ..." in a keyed cache)."""

from __future__ import annotations

import pytest

from llm_cost_hooks.cache._contrast import contrast_flags

STORED = "Is 2 mg of this medicine safe for a child?"
PADS = ["{q}", "Hi, {q}", "Quick question: {q}", "{q} Thanks!", "Hello there. {q}"]


@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize(
    "query",
    ["Is 2 g of this medicine safe for a child?", "Is 2 mcg of this medicine safe for a child?"],
)
def test_another_dose_unit_is_told_apart(query: str, pad: str) -> None:
    assert "unit" in contrast_flags(query, pad.format(q=STORED))


@pytest.mark.parametrize(
    ("stored", "query"),
    [
        ("Is 2 mg of this medicine safe for a child?", "Is 2 milligrams of this medicine safe for a child?"),
        ("Take 500 mcg once a day?", "Take 500 micrograms once a day?"),
    ],
)
def test_the_same_unit_spelled_out_is_not_told_apart(stored: str, query: str) -> None:
    assert "unit" not in contrast_flags(query, stored)
