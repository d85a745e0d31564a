"""Paraphrase pairs: what the pair verifier sees beyond a rewording (kept word sequences,
clauses one side adds), and the shipped weights file."""

from __future__ import annotations

import json
import math
from importlib import resources

from llm_cost_hooks.cache._contrast import contrast_flags
from llm_cost_hooks.cache._verifier import PAIR_FEATURE_NAMES, PairVerifier, pair_features

BASE = "The women said victims of rape who came forward were routinely punished for minor infractions."
REWORDED = "The women said rape victims who came forward were routinely punished for minor offences."
ADDED = REWORDED[:-1] + ", prompting most victims to remain silent about the attacks."


def _f(query: str, stored: str, cosine: float = 0.95) -> dict[str, float]:
    return dict(zip(PAIR_FEATURE_NAMES, pair_features(query, stored, cosine)))


def test_identical_sentences_add_nothing() -> None:
    f = _f(BASE, BASE, 1.0)
    assert f["bigrams_min"] == f["bigrams_max"] == f["trigrams_max"] == 1.0
    assert f["added_clauses"] == f["added_clause_words"] == f["extra_vs_shorter"] == 0.0


def test_added_clause_is_seen_from_either_side() -> None:
    # reworded on both sides, so no hard veto (added scope): it is the verifier's call
    assert contrast_flags(ADDED, BASE) == [] and contrast_flags(BASE, ADDED) == []
    for q, s in ((ADDED, BASE), (BASE, ADDED)):
        f = _f(q, s)
        assert f["added_clauses"] > 0 and f["added_clause_words"] > 0 and f["extra_vs_shorter"] > 0
        # the shorter side keeps more of its word pairs than the longer one
        assert f["bigrams_max"] > f["bigrams_min"]
    assert _f(ADDED, BASE)["added_clauses"] > _f(REWORDED, BASE)["added_clauses"]


def test_rewording_adds_no_clause() -> None:
    f = _f(REWORDED, BASE)
    assert f["added_clauses"] == 0.0
    assert 0.0 < f["bigrams_min"] < 1.0


def test_added_clause_lowers_the_verifier_probability() -> None:
    """Same cosine, same shared wording: the side that says more is less likely the same question."""
    v = PairVerifier.default()
    assert v.probability(ADDED, BASE, 0.95) < v.probability(REWORDED, BASE, 0.95)


def test_clause_split_on_conjunctions_and_dashes() -> None:
    plain = "Shares of the company rose sharply on the news."
    longer = plain[:-1] + " - while analysts warned about weak demand in Europe."
    assert _f(longer, plain)["added_clauses"] > 0
    assert _f("Shares rose, then fell.", "Shares rose, then fell.")["added_clauses"] == 0.0


def test_shipped_weights_are_plain_finite_numbers() -> None:
    text = resources.files("llm_cost_hooks.cache").joinpath("data/pair_verifier.json").read_text("utf-8")
    d = json.loads(text)
    assert d["features"] == list(PAIR_FEATURE_NAMES)
    assert len(d["weights"]) == len(PAIR_FEATURE_NAMES)
    assert all(isinstance(w, float) and math.isfinite(w) for w in d["weights"])
    assert isinstance(d["bias"], float) and math.isfinite(d["bias"])
    # every new feature carries weight: a refit that dropped one would show here
    for name in ("bigrams_min", "bigrams_max", "trigrams_max", "added_clauses", "added_clause_words"):
        assert d["weights"][PAIR_FEATURE_NAMES.index(name)] != 0.0
