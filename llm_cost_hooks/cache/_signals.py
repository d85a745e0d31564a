"""Deciding whether a semantic neighbour may be served.

A single similarity threshold is a poor decision rule: on banking77 (many near-twin
intents) the threshold that keeps precision at 0.99 serves ~4% of queries. What separates
good from bad hits much better is the *neighbourhood* of the query:

* ``agreement``: the similarity-weighted share of the k nearest entries whose answer is
  the same as the nearest one's (many near entries agreeing = a settled answer);
* ``margin``: how much nearer the nearest entry is than the nearest entry with a
  *different* answer.

These, with the top similarities, go into a logistic model whose output is the estimated
probability that serving the nearest entry is correct; calibration (``calibrate``) fits the
weights and picks the threshold for a target precision on labelled data. ``bench/bench_cache.py``
measures each signal's contribution. Opt-in guards veto a hit whose query and matched
query are a minimal pair differing in negation or in the numbers they contain (the classic
wrong hits of semantic caches); on banking77 they vetoed mostly correct matches, so they are
off by default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FEATURE_NAMES",
    "DecisionPolicy",
    "Neighbor",
    "guard_veto",
    "neighbour_features",
    "wilson_lower_bound",
]

FEATURE_NAMES = ("s1", "s2", "margin", "agreement5", "agreement10", "s1_minus_s5")
_TAU = 0.05  # softness of the similarity weighting in agreement


@dataclass(slots=True)
class Neighbor:
    """One search result: entry id, cosine similarity, answer key, original query."""

    entry_id: str
    similarity: float
    answer_key: str
    query: str
    payload: Any = None  # backend-specific (the full entry when cheap to carry)


def neighbour_features(sims: Sequence[float], same_as_top: Sequence[bool], k: int = 10) -> list[float]:
    """The feature vector of one query from its neighbours (sorted by similarity, desc).

    ``same_as_top[i]`` says whether neighbour i has the nearest neighbour's answer.
    Missing neighbours (a sparse cache) count as different answers at similarity 0, so a
    lone entry does not look like a settled answer.
    """
    s = list(sims[:k]) + [0.0] * max(0, k - len(sims))
    same = list(same_as_top[:k]) + [False] * max(0, k - len(same_as_top))
    s1 = s[0]
    diff = [x for x, eq in zip(s, same) if not eq]
    margin = s1 - (max(diff) if diff else 0.0)

    def agree(n: int) -> float:
        w = [math.exp((x - s1) / _TAU) for x in s[:n]]
        tot = sum(w)
        return sum(wi for wi, eq in zip(w, same[:n]) if eq) / tot if tot else 0.0

    return [s1, s[1], margin, agree(5), agree(10), s1 - s[4]]


_NEG = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot|can't|won't|don't|doesn't|"
    r"didn't|isn't|aren't|wasn't|weren't|haven't|hasn't|hadn't|shouldn't|wouldn't|couldn't|mustn't|"
    r"cant|wont|dont|doesnt|didnt|isnt|arent|havent|hasnt)\b|n't\b",
    re.IGNORECASE,
)
_NUM = re.compile(r"\d+(?:[.,]\d+)*")


def _negated(text: str) -> bool:
    return len(_NEG.findall(text)) % 2 == 1


def _numbers(text: str) -> frozenset[str]:
    return frozenset(n.replace(",", "") for n in _NUM.findall(text))


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _content_words(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    return {w for w in words if not _NEG.fullmatch(w) and not _NUM.fullmatch(w) and not w.endswith("n't")}


def guard_veto(
    query: str, matched: str, *, negation: bool = True, numbers: bool = True, overlap: float = 0.6
) -> str | None:
    """Why ``matched`` must not answer ``query`` (``"negation"``/``"numbers"``), or ``None``.

    A *minimal-pair* guard: it vetoes only when the two texts share most of their other
    words (Jaccard >= ``overlap``) and differ in negation or in the numbers they contain
    -- "Can I pay by card?" vs "Can't I pay by card?". Incidental negation in a differently
    worded query ("my card still hasn't arrived" vs "where is my card") is left to the
    similarity model: on banking77 a plain negation-parity guard vetoed 322 top-1 matches
    of which 288 were right.

    >>> guard_veto("Can I pay by card?", "Can't I pay by card?")
    'negation'
    >>> guard_veto("Transfer 100 dollars", "Transfer 200 dollars")
    'numbers'
    """
    a, b = _content_words(query), _content_words(matched)
    if not a or not b or len(a & b) / len(a | b) < overlap:
        return None
    if negation and _negated(query) != _negated(matched):
        return "negation"
    if numbers and _numbers(query) != _numbers(matched):
        return "numbers"
    return None


# Fitted by ``calibrate_intents`` on banking77 *train* only (leave-one-out: each train query
# against the other 10,002 as the cache; target precision 0.99, 95% Wilson lower bound).
# The benchmark evaluates on the separate test split. Recalibrate on your own data with
# ``llm-cost cache calibrate``. Order: FEATURE_NAMES then bias.
_DEFAULT_WEIGHTS: tuple[float, ...] = (
    2.876047689198275, 0.6197214525878775, 2.0154836358597628, 0.15866418853927577,
    5.056277565634935, 1.0217252275998265, -5.492618444271398,
)
_DEFAULT_THRESHOLD = 0.9736


class DecisionPolicy(BaseModel):
    """How the semantic tier decides, for one route or as the default.

    ``kind="combined"``: logistic model on the neighbour features, serve when the
    estimated probability of a correct answer is at least ``threshold``.
    ``kind="similarity"``: plain cosine threshold (what pairs-file calibration can fit).
    Any hit also needs ``similarity >= min_similarity``; the negation/number guards are
    opt-in (``guard_negation``/``guard_numbers``).

    >>> DecisionPolicy(kind="similarity", threshold=0.9).accepts([0.95, 0.5], [True, False])
    True
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["combined", "similarity"] = "combined"
    weights: list[float] = Field(default_factory=lambda: list(_DEFAULT_WEIGHTS))
    threshold: float = _DEFAULT_THRESHOLD
    min_similarity: float = 0.5
    k: int = 10
    # Off by default: on banking77 the guards vetoed mostly correct matches (see bench_cache).
    guard_negation: bool = False
    guard_numbers: bool = False
    ttl_seconds: float | None = None
    enabled: bool = True
    calibration: dict[str, Any] | None = None  # what calibrate measured, for the record

    def score(self, sims: Sequence[float], same_as_top: Sequence[bool]) -> float:
        """Estimated probability that serving the nearest neighbour is correct."""
        if not sims:
            return 0.0
        if self.kind == "similarity":
            return float(sims[0])
        f = neighbour_features(sims, same_as_top, self.k)
        z = self.weights[-1] + sum(w * x for w, x in zip(self.weights[:-1], f))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def accepts(self, sims: Sequence[float], same_as_top: Sequence[bool]) -> bool:
        return bool(
            self.enabled
            and sims
            and sims[0] >= self.min_similarity
            and self.score(sims, same_as_top) >= self.threshold
        )


def wilson_lower_bound(successes: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Wilson score lower confidence bound of a proportion.

    >>> round(wilson_lower_bound(99, 100), 3)
    0.953
    """
    if n <= 0:
        return 0.0
    z = _z_one_sided(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / denom)


def _z_one_sided(confidence: float) -> float:
    # Inverse normal CDF by bisection on erf (no scipy).
    lo, hi = 0.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < confidence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
