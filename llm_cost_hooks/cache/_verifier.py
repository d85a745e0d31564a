"""The pair verifier: does this request ask the same thing as that stored question?

The semantic tier serves a stored answer only when the request and the stored question are
equivalent, whatever the answers look like (free text, each its own). The verifier is a
small logistic model on features of the *pair* (cosine of the embeddings, shared and
unshared content words, length ratio, character-level similarity, the numbers, dates,
names and units only one side states, word pairs and triples kept, and clauses one side
adds), applied after the
contrast checks (:mod:`._contrast`) have vetoed the near-misses that embeddings cannot see.

Its weights ship in ``data/pair_verifier.json`` (plain numbers; no pickle). They were fitted
on nearest-neighbour pairs of two intent sets and on a paraphrase-pair set (see the
``trained_on`` field); ``llm-cost cache calibrate`` moves the threshold for your traffic.

>>> v = PairVerifier.default()
>>> v.probability("How do I reset my PIN?", "How can I reset my PIN?", 0.97) > 0.5
True
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from .._errors import ConfigurationError
from ._contrast import _DOTTED, _STOP, _TOKEN, _norm, _stem, one_sided_counts, view

__all__ = ["PAIR_FEATURE_NAMES", "PairVerifier", "pair_features"]

_BASE_FEATURES = (
    "cosine",
    "cosine_sq",
    "jaccard",
    "extra_query",
    "extra_stored",
    "extra_min",
    "length_ratio",
    "chars",
    "cosine_x_jaccard",
    "one_sided_numbers",
    "one_sided_dates",
    "one_sided_names",
    "one_sided_units",
    "extra_query_share",
    "extra_stored_share",
    "extra_max_share",
    "added_run_query",
    "added_run_stored",
    "added_run_max",
)
# Products of the main signals, so the model can weigh one by another (a high cosine means
# less when a clause was added): a quadratic logistic model, still plain numbers.
_CROSSED = ("cosine", "jaccard", "chars", "extra_max_share", "added_run_max", "length_ratio")
_CROSS_PAIRS = [
    (x, y)
    for i, x in enumerate(_CROSSED)
    for y in _CROSSED[i:]
    if (x, y) not in (("cosine", "cosine"), ("cosine", "jaccard"))  # cosine_sq, cosine_x_jaccard
]
# What a sentence adds beyond a rewording: word sequences kept (bigrams, trigrams) and whole
# clauses one side has and the other does not ("..., prompting most victims to remain silent").
_CLAUSE_FEATURES = (
    "bigrams_min",
    "bigrams_max",
    "trigrams_max",
    "added_clauses",
    "added_clause_words",
    "extra_vs_shorter",
)
PAIR_FEATURE_NAMES = _BASE_FEATURES + tuple(f"{x}*{y}" for x, y in _CROSS_PAIRS) + _CLAUSE_FEATURES
_CROSS_INDEX = [(_BASE_FEATURES.index(x), _BASE_FEATURES.index(y)) for x, y in _CROSS_PAIRS]


def _added_run(words: list[str], other_stems: frozenset[str]) -> int:
    best = run = 0
    for w in words:
        run = 0 if _stem(w) in other_stems else run + 1
        best = max(best, run)
    return min(best, 8)


# Clause boundaries: punctuation, dashes and the conjunctions that open an added clause.
_CLAUSE = re.compile(r"[,;:()\"“”]|\s[-–—]+\s|\bwhich\b|\bwhile\b|\bwhere\b|\bbut\b|\band\b")


def _clause_words(clause: str) -> set[str]:
    toks = (_norm(t) for t in _TOKEN.findall(_DOTTED.sub(lambda m: m.group(0).replace(".", ""), clause)))
    return {_stem(t) for t in toks if t not in _STOP and len(t) > 1 and not t[0].isdigit()}


def _added_clauses(text: str, other_stems: frozenset[str]) -> tuple[int, int]:
    """Clauses of ``text`` (two content words or more) whose words the other side mostly
    lacks, and how many unmatched words they hold."""
    n = words = 0
    for clause in _CLAUSE.split(text):
        c = _clause_words(clause)
        missing = len(c - other_stems)
        if len(c) >= 2 and missing >= max(2, 0.6 * len(c)):
            n, words = n + 1, words + missing
    return n, words


def _ngram_shares(a: list[str], b: list[str], n: int) -> tuple[float, float]:
    ga = {tuple(a[i : i + n]) for i in range(len(a) - n + 1)}
    gb = {tuple(b[i : i + n]) for i in range(len(b) - n + 1)}
    common = len(ga & gb)
    return common / max(1, len(ga)), common / max(1, len(gb))


def _clause_features(query: str, stored: str) -> list[float]:
    a, b = view(query), view(stored)
    sa, sb = [_stem(t) for t in a.lower], [_stem(t) for t in b.lower]
    bi, tri = _ngram_shares(sa, sb, 2), _ngram_shares(sa, sb, 3)
    (na, wa), (nb, wb) = _added_clauses(query, b.stems), _added_clauses(stored, a.stems)
    ca, cb = len(a.content), len(b.content)
    longer_extra = len(a.content - b.content) if ca >= cb else len(b.content - a.content)
    return [
        min(bi),
        max(bi),
        max(tri),
        min(max(na, nb), 2) / 2,
        min(max(wa, wb), 8) / 8,
        min(longer_extra / max(1, min(ca, cb)), 2.0) / 2,
    ]


def pair_features(query: str, stored: str, cosine: float) -> list[float]:
    """The feature vector of one (request, stored question) pair, in :data:`PAIR_FEATURE_NAMES` order."""
    a, b = view(query), view(stored)
    union = a.content | b.content
    jac = len(a.content & b.content) / len(union) if union else 1.0
    ea, eb = len(a.content - b.content), len(b.content - a.content)
    la, lb = len(a.tokens), len(b.tokens)
    ratio = min(la, lb) / max(la, lb) if max(la, lb) else 1.0
    chars = difflib.SequenceMatcher(None, " ".join(a.lower), " ".join(b.lower), autojunk=False).ratio()
    c = float(cosine)
    # Numbers, dates, names and units one side adds that no contrast check vetoed (a detail
    # added or dropped while the rest is reworded): the fit decides what each weighs.
    extra = [min(n, 3) / 3 for n in one_sided_counts(query, stored)]
    # The share of each side's content the other leaves out: a long sentence with a clause
    # added says more than its pair, however many words the two share.
    sa, sb = ea / max(1, len(a.content)), eb / max(1, len(b.content))
    # The longest stretch of words one side has and the other does not: a clause added ("...,
    # and he appealed the decision") rather than words swapped one for one.
    ra, rb = _added_run(a.lower, b.stems) / 8, _added_run(b.lower, a.stems) / 8
    base = [
        c,
        c * c,
        jac,
        min(ea, 6) / 6,
        min(eb, 6) / 6,
        min(ea, eb, 6) / 6,
        ratio,
        chars,
        c * jac,
        *extra,
        sa,
        sb,
        max(sa, sb),
        ra,
        rb,
        max(ra, rb),
    ]
    return base + [base[i] * base[j] for i, j in _CROSS_INDEX] + _clause_features(query, stored)


class PairVerifier:
    """Logistic model over :func:`pair_features`; ``probability`` is P(the pair asks the same thing).

    The score is compared with a calibrated ``pair_threshold`` (see :func:`calibrate_pairs`),
    not with 0.5:

    >>> verifier = PairVerifier.default()
    >>> round(verifier.probability("How do I reset my PIN?", "How can I reset my PIN?", 0.97), 2)
    0.99
    >>> round(verifier.probability("How do I reset my PIN?", "How do I close my account?", 0.35), 2)
    0.79
    """

    def __init__(self, weights: Sequence[float], bias: float, *, meta: dict[str, Any] | None = None) -> None:
        if len(weights) != len(PAIR_FEATURE_NAMES):
            raise ConfigurationError(
                f"pair verifier needs {len(PAIR_FEATURE_NAMES)} weights ({', '.join(PAIR_FEATURE_NAMES)}); got {len(weights)}."
            )
        self.weights = [float(w) for w in weights]
        self.bias = float(bias)
        self.meta = dict(meta or {})

    @classmethod
    def default(cls) -> PairVerifier:
        """The verifier shipped with the package."""
        return _default_verifier()

    @classmethod
    def from_json(cls, text: str) -> PairVerifier:
        d = json.loads(text)
        if d.get("features") != list(PAIR_FEATURE_NAMES):
            raise ConfigurationError(
                f"pair verifier file lists features {d.get('features')}; expected {list(PAIR_FEATURE_NAMES)}."
            )
        return cls(d["weights"], d["bias"], meta={k: v for k, v in d.items() if k not in ("weights", "bias")})

    def to_json(self) -> str:
        return json.dumps(
            {**self.meta, "features": list(PAIR_FEATURE_NAMES), "weights": self.weights, "bias": self.bias},
            indent=2,
        )

    def logit(self, features: Sequence[float]) -> float:
        return self.bias + sum(w * x for w, x in zip(self.weights, features))

    def probability(self, query: str, stored: str, cosine: float) -> float:
        z = self.logit(pair_features(query, stored, cosine))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@lru_cache(maxsize=1)
def _default_verifier() -> PairVerifier:
    text = (
        resources.files("llm_cost_hooks.cache")
        .joinpath("data/pair_verifier.json")
        .read_text(encoding="utf-8")
    )
    return PairVerifier.from_json(text)
