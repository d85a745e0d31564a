"""Calibration: pick the semantic tier's operating point for a target precision, and check it.

Two kinds of labelled data, both scored with the decision the cache really runs (contrast
checks, then the pair verifier on the nearest stored question):

* an **intents file** (``text,label``): rows with a label are cache entries (each one a query
  against all the others, or split per label with ``cache_fraction``); rows with an empty label
  are traffic that no stored answer fits (off-topic messages), so any hit on them is false.
  Keep them in: they are what makes false hits in real traffic. Each labelled query is also
  asked with every row of its label left out of the cache (``new_questions``): a question
  whose answer is not stored yet, where a close label's answer is a false hit.
* a **pairs file** (``text_a,text_b,label`` with label 1 = same answer): ``text_a`` is stored,
  ``text_b`` looked up.

The queries are split into a fitting slice and a held-out slice (``holdout``) by group: whole
labels (off-topic rows and pairs by their text, copies together), so the check runs on
questions unlike the ones the threshold was chosen on. The threshold is the one with the
highest hit rate on the fitting slice whose precision's one-sided Wilson lower bound reaches
the target (``rule="bound"``, the default) or whose measured precision does
(``rule="point"``). It is claimed only if the held-out slice, which took no part in choosing
it, reaches the target by the same rule; otherwise the result says so and the policy it
returns has the semantic tier off.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from .._errors import ConfigurationError
from .._lazy import require
from ._signals import _OTHER_ANSWER_GAP, _TAU, FEATURE_NAMES, DecisionPolicy, wilson_lower_bound

if TYPE_CHECKING:
    from ..embeddings import Embedder

__all__ = [
    "CalibrationPoint",
    "CalibrationResult",
    "HoldoutCheck",
    "calibrate_file",
    "calibrate_intents",
    "calibrate_pairs",
    "knn_features",
    "load_table",
    "operating_point",
]


class CalibrationPoint(BaseModel):
    """One operating point of a calibration curve: threshold, precision, hit rate.

    >>> from llm_cost_hooks.cache import calibrate_pairs
    >>> from llm_cost_hooks.routing import HashingEmbedder  # offline; use your cache's embedder
    >>> same = [("How do I reset my PIN?", "How can I reset my PIN?"),
    ...         ("Where is my card?", "Where is my card now?"),
    ...         ("Cancel my order", "Please cancel my order"),
    ...         ("What is the refund policy?", "What's the refund policy?")]
    >>> other = [("How do I reset my PIN?", "How do I change my address?"),
    ...          ("Where is my card?", "Where is the nearest branch?"),
    ...          ("Cancel my order", "Track my order"),
    ...          ("What is the refund policy?", "What is the privacy policy?")]
    >>> pairs, labels = (same + other) * 5, ([1] * 4 + [0] * 4) * 5
    >>> result = calibrate_pairs([a for a, _ in pairs], [b for _, b in pairs], labels,
    ...                          embedder=HashingEmbedder(), target_precision=0.9, rule="point")
    >>> point = result.point  # the chosen one; result.curve holds them all
    >>> round(point.threshold, 4), point.precision, point.hit_rate, point.hits
    (0.9235, 1.0, 0.3333333333333333, 10)
    """

    threshold: float
    precision: float
    precision_lower: float
    hit_rate: float
    hits: int


class HoldoutCheck(BaseModel):
    """What the chosen threshold did on the held-out slice.

    >>> from llm_cost_hooks.cache import calibrate_pairs
    >>> from llm_cost_hooks.routing import HashingEmbedder  # offline; use your cache's embedder
    >>> same = [("How do I reset my PIN?", "How can I reset my PIN?"),
    ...         ("Where is my card?", "Where is my card now?"),
    ...         ("Cancel my order", "Please cancel my order"),
    ...         ("What is the refund policy?", "What's the refund policy?")]
    >>> other = [("How do I reset my PIN?", "How do I change my address?"),
    ...          ("Where is my card?", "Where is the nearest branch?"),
    ...          ("Cancel my order", "Track my order"),
    ...          ("What is the refund policy?", "What is the privacy policy?")]
    >>> pairs, labels = (same + other) * 5, ([1] * 4 + [0] * 4) * 5
    >>> result = calibrate_pairs([a for a, _ in pairs], [b for _, b in pairs], labels,
    ...                          embedder=HashingEmbedder(), target_precision=0.9, rule="point")
    >>> check = result.holdout
    >>> check.n_queries, check.hits, check.correct, check.precision
    (10, 5, 5, 1.0)
    """

    n_queries: int
    hits: int
    correct: int
    precision: float | None
    precision_lower: float
    precision_upper: float
    hit_rate: float


class CalibrationResult(BaseModel):
    """The chosen policy, what it achieved on the fitting slice and on the held-out slice.

    >>> from llm_cost_hooks.cache import calibrate_pairs
    >>> from llm_cost_hooks.routing import HashingEmbedder  # offline; use your cache's embedder
    >>> same = [("How do I reset my PIN?", "How can I reset my PIN?"),
    ...         ("Where is my card?", "Where is my card now?"),
    ...         ("Cancel my order", "Please cancel my order"),
    ...         ("What is the refund policy?", "What's the refund policy?")]
    >>> other = [("How do I reset my PIN?", "How do I change my address?"),
    ...          ("Where is my card?", "Where is the nearest branch?"),
    ...          ("Cancel my order", "Track my order"),
    ...          ("What is the refund policy?", "What is the privacy policy?")]
    >>> pairs, labels = (same + other) * 5, ([1] * 4 + [0] * 4) * 5
    >>> result = calibrate_pairs([a for a, _ in pairs], [b for _, b in pairs], labels,
    ...                          embedder=HashingEmbedder(), target_precision=0.9, rule="point")
    >>> result.met, result.policy.kind, round(result.policy.pair_threshold, 4)
    (True, 'verified', 0.9235)
    >>> print(result.summary().splitlines()[0])
    target precision 0.900 (point rule, 95% confidence): met
    """

    policy: DecisionPolicy
    target_precision: float
    confidence: float
    rule: str
    met: bool
    point: CalibrationPoint
    n_queries: int
    n_cache: int
    curve: list[CalibrationPoint] = Field(default_factory=list)
    holdout: HoldoutCheck | None = None
    n_off_topic: int = 0
    #: Labelled queries asked a second time with their label left out of the cache (any hit false).
    n_new_questions: int = 0
    #: Share of in-domain questions assumed to have no stored answer (weight of the second asks).
    new_share: float = 0.0
    #: A floor for that share set by the labelled data (None for pairs): see ``calibrate_intents``.
    new_share_estimate: float | None = None
    reason: str = ""
    #: The fitting slice's choice when the held-out slice rejected it (``met`` is then False).
    rejected: CalibrationPoint | None = None

    def summary(self) -> str:
        p = self.point
        status = "met" if self.met else f"NOT met: {self.reason}; semantic tier off for this policy"
        new = f", {self.n_new_questions} asked with their label left out" if self.n_new_questions else ""
        sizes = f"{self.n_queries} queries of which {self.n_off_topic} off-topic{new}; {self.n_cache} cache entries"
        shown = p if self.met else self.rejected
        if shown is None:
            fitting = f"fitting slice: no threshold reaches the target ({sizes})"
        else:
            fitting = (
                f"fitting slice: threshold {shown.threshold:.4f} ({self.policy.kind}); precision "
                f"{shown.precision:.4f} (lower bound {shown.precision_lower:.4f}); hit rate {shown.hit_rate:.4f} "
                f"({shown.hits} hits; {sizes})" + ("" if self.met else "; rejected by the held-out slice")
            )
        lines = [
            f"target precision {self.target_precision:.3f} ({self.rule} rule, {self.confidence:.0%} confidence): {status}",
            fitting,
        ]
        if self.new_share_estimate is not None:
            lines.append(
                f"new questions (no stored answer): weighed as {self.new_share:.2f} of the in-domain traffic "
                f"(--new-share); in your labelled data at least {self.new_share_estimate:.2f} (questions whose label "
                "has no other stored row): a floor, blind to labels your traffic has not asked yet, so a low value "
                "does not make a lower --new-share safe"
            )
        h = self.holdout
        if h is not None:
            prec = "n/a (no hits)" if h.precision is None else f"{h.precision:.4f}"
            lines.append(
                f"held-out slice: precision {prec} (interval {h.precision_lower:.4f}-{h.precision_upper:.4f}); "
                f"hit rate {h.hit_rate:.4f} ({h.correct} of {h.hits} hits correct, {h.n_queries} queries"
                + (
                    f"; weighed by the new-question share {self.new_share:.2f})"
                    if self.n_new_questions
                    else ")"
                )
            )
        lines += ["curve (fitting slice): threshold  precision  lower_bound  hit_rate"]
        lines += [
            f"  {c.threshold:9.4f}  {c.precision:9.4f}  {c.precision_lower:11.4f}  {c.hit_rate:8.4f}"
            for c in self.curve
        ]
        return "\n".join(lines)


def operating_point(
    scores: Sequence[float],
    correct: Sequence[bool],
    *,
    target: float,
    confidence: float = 0.95,
    rule: Literal["bound", "point"] = "bound",
    n_total: float | None = None,
    curve_points: int = 15,
    weights: Sequence[float] | None = None,
) -> tuple[CalibrationPoint | None, list[CalibrationPoint]]:
    """Best threshold on ``scores`` for ``target`` precision, and a coarse curve.

    Queries with no candidate count in ``n_total`` (hit rate denominator) but not here. With
    ``weights`` (one per score; ``n_total`` is then their total) the precision at a threshold
    is the weighted count of correct hits over the weighted count of hits, and its bound is
    taken on the effective number of hits, ``(sum w)^2 / sum w^2``.

    >>> from llm_cost_hooks.cache import operating_point
    >>> point, _ = operating_point([0.9, 0.8, 0.7], [True, True, False], target=0.5,
    ...                            rule="point", weights=[0.5, 0.5, 1.0], n_total=2.0)
    >>> point.threshold, point.precision, point.hits   # 0.5+0.5 correct of 0.5+0.5+1.0
    (0.7, 0.5, 3)
    """
    n_total = n_total if n_total is not None else (len(scores) if weights is None else float(sum(weights)))
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    best: CalibrationPoint | None = None
    pts: list[CalibrationPoint] = []
    good = 0.0
    mass = mass2 = 0.0
    for rank, i in enumerate(order, 1):
        if weights is None:
            good += bool(correct[i])
        else:
            w = float(weights[i])
            good += w * bool(correct[i])
            mass += w
            mass2 += w * w
        # Only cut between distinct scores.
        if rank < len(order) and scores[order[rank]] == scores[i]:
            continue
        if weights is None:
            prec, low = good / rank, wilson_lower_bound(int(good), rank, confidence)
            rate = rank / max(n_total, 1)
        else:
            prec, low, _ = _weighted_precision(good, mass, mass2, confidence)
            rate = mass / n_total if n_total > 0 else 0.0
        pt = CalibrationPoint(
            threshold=float(scores[i]),
            precision=prec,
            precision_lower=low,
            hit_rate=rate,
            hits=rank,
        )
        pts.append(pt)
        ok = (low if rule == "bound" else prec) >= target
        if ok and (best is None or pt.hits > best.hits):
            best = pt
    step = max(1, len(pts) // curve_points)
    curve = pts[::step]
    if pts and curve[-1] is not pts[-1]:
        curve.append(pts[-1])
    return best, curve


def _weighted_precision(
    good: float, mass: float, mass2: float, confidence: float
) -> tuple[float, float, float]:
    """Precision of weighted hits (``good`` correct of ``mass``; ``mass2`` the sum of squared
    weights) and its Wilson bounds on the effective number of hits (Kish): (precision, lower, upper)."""
    if mass <= 0:
        return 0.0, 0.0, 1.0
    prec = good / mass
    n_eff = mass * mass / mass2
    low = wilson_lower_bound(prec * n_eff, n_eff, confidence)
    high = 1.0 - wilson_lower_bound((1.0 - prec) * n_eff, n_eff, confidence)
    return prec, low, high


def _np() -> Any:
    return require("numpy", "embed", "Cache calibration")  # not on the core install


def knn_features(
    query_vecs: Any,
    cache_vecs: Any,
    cache_keys: Sequence[Any],
    *,
    k: int = 10,
    block: int = 1024,
    leave_one_out: bool = False,
    exclude_keys: Sequence[Any] | None = None,
) -> tuple[Any, Any, Any]:
    """Neighbour features for many queries at once: ``(X, top_index, sims)``.

    ``X`` has one row of :data:`FEATURE_NAMES` per query (same definition as
    :func:`neighbour_features`). With ``exclude_keys`` (one per query), cache rows with the
    query's key are left out of its neighbours.
    """
    np = _np()
    keys = np.asarray(cache_keys)
    k_eff = min(k, len(keys))
    ex = None if exclude_keys is None else np.asarray(exclude_keys)
    tops, simss = [], []
    for i in range(0, len(query_vecs), block):
        s = query_vecs[i : i + block] @ cache_vecs.T
        if leave_one_out:  # queries are the cache: a query may not match itself
            rows = np.arange(s.shape[0])
            s[rows, rows + i] = -np.inf
        if ex is not None:
            s[ex[i : i + block, None] == keys[None, :]] = -np.inf
        idx = np.argpartition(-s, k_eff - 1, axis=1)[:, :k_eff]
        part = np.take_along_axis(s, idx, 1)
        o = np.argsort(-part, axis=1)
        tops.append(np.take_along_axis(idx, o, 1))
        simss.append(np.take_along_axis(part, o, 1))
    idx = np.concatenate(tops)
    sims = np.concatenate(simss).astype(np.float64)
    sims[~np.isfinite(sims)] = 0.0  # a neighbour left out counts as a different answer at similarity 0
    if k_eff < k:  # sparse cache: missing neighbours are different answers at similarity 0
        sims = np.concatenate([sims, np.zeros((len(sims), k - k_eff))], 1)
    labk = keys[idx]
    same = labk == labk[:, :1]
    if k_eff < k:
        same = np.concatenate([same, np.zeros((len(same), k - k_eff), bool)], 1)
    s1 = sims[:, 0]
    # Other answers (and missing neighbours) no farther than the gap below the nearest one.
    near = np.where(same, sims, np.maximum(sims, s1[:, None] - _OTHER_ANSWER_GAP))
    diff_best = np.where(~same, near, -np.inf).max(1)
    diff_best = np.where(np.isfinite(diff_best), diff_best, 0.0)
    w = np.exp((near - s1[:, None]) / _TAU)

    def agree(n: int) -> Any:
        return (w[:, :n] * same[:, :n]).sum(1) / w[:, :n].sum(1)

    X = np.stack([s1, sims[:, 1], s1 - diff_best, agree(5), agree(10), s1 - near[:, 4]], 1)
    assert X.shape[1] == len(FEATURE_NAMES)
    return X, idx[:, 0], sims


def fit_logistic(X: Any, y: Any, *, iters: int = 3000, l2: float = 1e-3) -> list[float]:
    """Logistic regression by Newton steps; returns weights in raw feature space + bias."""
    np = _np()
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1.0
    Z = np.c_[(X - mu) / sd, np.ones(len(X))]
    w = np.zeros(Z.shape[1])
    for _ in range(min(iters, 50)):
        p = 1 / (1 + np.exp(-np.clip(Z @ w, -50, 50)))
        g = Z.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0]
        H = (Z * (p * (1 - p))[:, None]).T @ Z / len(y) + l2 * np.eye(len(w))
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    raw = list(w[:-1] / sd)
    bias = float(w[-1] - (w[:-1] * mu / sd).sum())
    return [float(x) for x in raw] + [bias]


def _split_intents(
    texts: Sequence[str], labels: Sequence[str], cache_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    by: dict[str, list[int]] = defaultdict(list)
    for i, lab in enumerate(labels):
        by[lab].append(i)
    rng = random.Random(seed)
    cache, queries = [], []
    for lab in sorted(by):
        idx = by[lab][:]
        rng.shuffle(idx)
        n_cache = max(1, round(len(idx) * cache_fraction)) if len(idx) > 1 else 1
        cache += idx[:n_cache]
        queries += idx[n_cache:]
    return sorted(cache), sorted(queries)


def _embed_all(embedder: Embedder, texts: Sequence[str], batch: int = 64) -> Any:
    np = _np()
    if not texts:
        return np.zeros((0, embedder.dim), np.float32)
    return np.concatenate([embedder.embed(list(texts[i : i + batch])) for i in range(0, len(texts), batch)])


def _verified_scores(queries: Sequence[str], stored: Sequence[str], sims: Any, verifier: Any) -> Any:
    """The default decision's score of each (query, nearest stored question): the pair
    verifier's probability, 0 where a contrast check vetoes."""
    np = _np()
    from ._contrast import contrast_flags

    out = np.zeros(len(queries))
    for i, (q, c, s) in enumerate(zip(queries, stored, sims)):
        if not contrast_flags(q, c):
            out[i] = verifier.probability(q, c, float(s))
    return out


def _group_holdout(groups: Sequence[str], share: float, seed: int) -> Any:
    """Hold out whole groups: every row of a held-out label (or every copy of a text) goes to
    the held-out slice together, so the threshold is checked on questions unlike any it was
    chosen on, not on near-copies of them. About ``share`` of the rows, at least one group."""
    np = _np()
    mask = np.zeros(len(groups), bool)
    keys = sorted(set(groups))
    if share <= 0 or len(keys) < 2:
        return mask
    rows: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        rows[g].append(i)
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    want = share * len(groups)
    taken = 0
    for g in order[:-1]:  # at least one group stays in the fitting slice
        if taken and taken + len(rows[g]) / 2 > want:
            break
        mask[rows[g]] = True
        taken += len(rows[g])
    return mask


def _text_key(text: str) -> str:
    return " ".join(text.lower().split())


def _check(
    scores: Any,
    correct: Any,
    held: Any,
    *,
    target: float,
    confidence: float,
    rule: Literal["bound", "point"],
    policy: DecisionPolicy,
    n_cache: int,
    n_off: int,
    weights: Any = None,
) -> CalibrationResult:
    """Choose the threshold on the fitting slice, then check it on the held-out slice; with
    ``weights`` (one per query) both use weighted counts (see :func:`operating_point`)."""
    np = _np()
    if weights is not None:  # a weight of 0 is a query the traffic does not ask
        keep = np.asarray(weights, float) > 0
        scores, correct, held, weights = (
            scores[keep],
            correct[keep],
            held[keep],
            np.asarray(weights, float)[keep],
        )
    fit = ~held if held.any() else np.ones(len(scores), bool)
    point, curve = operating_point(
        list(scores[fit]),
        list(correct[fit]),
        target=target,
        confidence=confidence,
        rule=rule,
        n_total=int(fit.sum()) if weights is None else float(weights[fit].sum()),
        weights=None if weights is None else list(weights[fit]),
    )
    reason = ""
    check: HoldoutCheck | None = None
    rejected: CalibrationPoint | None = None
    if point is None:
        reason = (
            f"no threshold reaches precision {target} on the fitting slice ({int(fit.sum())} queries); "
            "the target is out of reach with this embedder and data"
        )
    if held.any():
        t = point.threshold if point is not None else float("inf")
        served = held & (scores >= t)
        hits, good = int(served.sum()), int((served & correct).sum())
        if weights is None:
            prec: float | None = good / hits if hits else None
            low = wilson_lower_bound(good, hits, confidence)
            high = 1.0 - wilson_lower_bound(hits - good, hits, confidence) if hits else 1.0
            rate = hits / int(held.sum())
        else:
            w = weights[served]
            wp, low, high = _weighted_precision(
                float(w[correct[served]].sum()), float(w.sum()), float((w * w).sum()), confidence
            )
            prec = wp if hits else None
            rate = float(w.sum() / weights[held].sum())
        check = HoldoutCheck(
            n_queries=int(held.sum()),
            hits=hits,
            correct=good,
            precision=prec,
            precision_lower=low,
            precision_upper=high,
            hit_rate=rate,
        )
        held_value = check.precision_lower if rule == "bound" else prec
        if point is not None and (held_value is None or held_value < target):
            rejected = point
            what = "lower bound" if rule == "bound" else "precision"
            reason = (
                f"on the held-out slice {good} of {hits} hits were correct ({what} {held_value or 0.0:.4f}), "
                f"short of the target {target}; the bound is not confirmed on unseen traffic "
                "(more labelled rows, a lower target, or rule 'point')"
            )
            point = None
    res = _result(policy, point, curve, target, confidence, rule, len(scores), n_cache, policy.min_similarity)
    return res.model_copy(
        update={"holdout": check, "n_off_topic": n_off, "reason": reason, "rejected": rejected}
    )


def calibrate_intents(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    embedder: Embedder | None = None,
    target_precision: float = 0.99,
    confidence: float = 0.95,
    rule: Literal["bound", "point"] = "bound",
    cache_fraction: float | None = None,
    seed: int = 0,
    k: int = 10,
    cache_texts: Sequence[str] | None = None,
    cache_labels: Sequence[str] | None = None,
    vectors: tuple[Any, Any] | None = None,
    holdout: float = 0.3,
    verifier: Any = None,
    kind: Literal["verified", "combined"] = "verified",
    new_questions: bool = True,
    new_share: float | None = None,
) -> CalibrationResult:
    """Fit the default (``verified``) policy's threshold on an intents data set (``text, label``).

    ``kind="combined"`` fits the neighbourhood model instead (weights and threshold), for
    caches whose answers repeat (keyed answers: the label stands for the answer).

    Rows with an empty label are off-topic traffic: queries only, any hit on them is false.
    Without ``cache_texts``, every labelled row is a query against all the *other* labelled
    rows as the cache (leave-one-out); with ``cache_fraction`` the labelled rows are split per
    label into cache entries and queries. Each labelled query is also asked a second time with
    every row of its label left out of the cache, where any hit is false: traffic also asks
    questions whose answer is not stored yet. ``new_share`` (0 to 1) is the share of your in-domain traffic you expect to be such
    questions (default 0.5): precision and hit rate count each labelled query's first ask with weight
    ``1 - new_share`` and its second ask with weight ``new_share`` (off-topic rows, and queries
    whose label has no other stored row, weigh 1). ``new_share=0`` (or
    ``new_questions=False``) skips the second ask: every question has a stored answer.
    ``result.new_share_estimate`` is a floor the labelled rows themselves set (blind to labels not asked yet). A ``holdout``
    share of the queries (whole labels) is set aside to check the chosen threshold.
    ``vectors=(query_vecs, cache_vecs)`` skips embedding.

    >>> from llm_cost_hooks.cache import calibrate_intents
    >>> from llm_cost_hooks.routing import HashingEmbedder  # offline; use your cache's embedder
    >>> rows = [("How do I reset my PIN?", "pin"), ("How can I reset my PIN?", "pin"),
    ...         ("Where is my card?", "card"), ("Where is my card now?", "card"),
    ...         ("Cancel my order", "cancel"), ("Please cancel my order", "cancel"),
    ...         ("Tell me a joke", "")]                      # empty label: off-topic traffic
    >>> result = calibrate_intents([t for t, _ in rows] * 4, [lab for _, lab in rows] * 4,
    ...                            embedder=HashingEmbedder(), target_precision=0.9,
    ...                            rule="point", new_share=0.25)
    >>> result.new_share, result.n_new_questions, result.new_share_estimate
    (0.25, 24, 0.0)
    """
    share = _resolve_new_share(new_questions, new_share)
    np = _np()
    if len(texts) != len(labels) or not texts:
        raise ConfigurationError("calibrate_intents needs equally long, non-empty texts and labels.")
    labels = [str(x).strip() for x in labels]
    on = [i for i, lab in enumerate(labels) if lab]
    off = [i for i, lab in enumerate(labels) if not lab]
    loo = cache_texts is None and cache_fraction is None
    if cache_texts is not None:
        c_texts, c_labels = list(cache_texts), [str(x).strip() for x in (cache_labels or [])]
        qi = list(range(len(texts)))
    elif cache_fraction is None:  # leave-one-out
        c_texts, c_labels = [texts[i] for i in on], [labels[i] for i in on]
        qi = on + off
    else:
        ci, qon = _split_intents([texts[i] for i in on], [labels[i] for i in on], cache_fraction, seed)
        c_texts, c_labels = [texts[on[i]] for i in ci], [labels[on[i]] for i in ci]
        qi = [on[i] for i in qon] + off
    q_texts, q_labels = [texts[i] for i in qi], [labels[i] for i in qi]
    if not q_texts or not c_texts:
        raise ConfigurationError(
            "calibration needs at least one cache entry and one query; give more rows per label."
        )
    if vectors is None:
        if embedder is None:
            from ..embeddings import default_embedder

            embedder = default_embedder()
        cv = _embed_all(embedder, c_texts)
        if loo:  # the queries are the cached rows, then the off-topic ones: embed each text once
            qv = np.concatenate([cv, _embed_all(embedder, [texts[i] for i in off])]) if off else cv
        else:
            qv = _embed_all(embedder, q_texts)
    else:
        qv, cv = vectors
        if loo:
            qv = np.concatenate([qv[on], qv[off]]) if off else qv[on]
            cv = cv[on]
    held = _holdout_by_group(q_texts, q_labels, holdout, seed)
    n_cache = len(c_texts) - (1 if loo else 0)
    estimate = _estimate_new_share(
        [labels[i] for i in on], q_labels, c_labels if cache_texts is not None else None
    )
    if kind == "combined":
        return _calibrate_combined(
            qv,
            cv,
            q_texts,
            q_labels,
            c_texts,
            c_labels,
            loo,
            len(on),
            held,
            k=k,
            target=target_precision,
            confidence=confidence,
            rule=rule,
            n_cache=n_cache,
            n_off=len(off),
            share=share,
        ).model_copy(update={"new_share_estimate": estimate})
    block_self = np.arange(len(q_texts)) if loo else None
    top, top_sim = _nearest(qv, cv, block_self, n_self=len(on) if loo else 0)
    if verifier is None:
        from ._verifier import PairVerifier

        verifier = PairVerifier.default()
    stored = [c_texts[t] for t in top]
    scores = _verified_scores(q_texts, stored, top_sim, verifier)
    correct = np.array([bool(q) and c_labels[t] == q for q, t in zip(q_labels, top)])
    n_new = 0
    weights = np.ones(len(scores))
    if share > 0:
        # Each labelled query once more, with every row of its label left out of the cache: a
        # question whose answer is not stored yet, in the same domain. Any hit on it is false.
        ask = _asked_again(q_labels, c_labels, loo)
        if len(ask) and len(set(c_labels)) > 1:
            q_codes = [q_labels[i] for i in ask]
            t2, s2 = _nearest_other_label(qv[ask], cv, q_codes, c_labels)
            scores = np.concatenate(
                [scores, _verified_scores([q_texts[i] for i in ask], [c_texts[t] for t in t2], s2, verifier)]
            )
            correct = np.concatenate([correct, np.zeros(len(ask), bool)])
            held = np.concatenate([held, held[ask]])
            weights = _mixed_weights(weights, ask, share)
            n_new = len(ask)
    policy = DecisionPolicy(kind="verified", k=k, threshold=1.0)
    res = _check(
        scores,
        correct,
        held,
        target=target_precision,
        confidence=confidence,
        rule=rule,
        policy=policy,
        n_cache=n_cache,
        n_off=len(off),
        weights=weights if n_new else None,
    )
    return res.model_copy(
        update={"n_new_questions": n_new, "new_share": share, "new_share_estimate": estimate}
    )


#: The share of in-domain questions with no stored answer that calibration assumes by default.
DEFAULT_NEW_SHARE = 0.5


def _resolve_new_share(new_questions: bool, new_share: float | None) -> float:
    if new_share is None:
        return DEFAULT_NEW_SHARE if new_questions else 0.0
    try:
        share = float(new_share)
    except (TypeError, ValueError):
        raise ConfigurationError(f"new_share must be a number from 0 to 1, not {new_share!r}.") from None
    if not 0.0 <= share <= 1.0:  # NaN fails too
        raise ConfigurationError(
            f"new_share must be from 0 to 1 (the share of in-domain questions with no stored answer), not {new_share!r}."
        )
    if not new_questions and share > 0:
        raise ConfigurationError(
            f"new_questions=False (all labels stored) means new_share=0; got new_share={new_share!r}."
        )
    return share


def _mixed_weights(weights: Any, ask: Any, share: float) -> Any:
    """Weights of the first asks (``weights``) and the second asks of the queries ``ask``: a
    query asked twice weighs ``1 - share`` stored and ``share`` left out; the rest weigh 1."""
    np = _np()
    first = weights.copy()
    first[ask] = 1.0 - share
    return np.concatenate([first, np.full(len(ask), share)])


def _estimate_new_share(
    labelled: Sequence[str], q_labels: Sequence[str], cache_labels: Sequence[str] | None
) -> float | None:
    """What the labelled data says the share of in-domain questions with no stored answer is.

    With a separate cache: the share of labelled queries whose label has no cache row. Otherwise
    the share of labelled rows whose label has no other row (the Good-Turing estimate of the
    chance that the next question's label is one not seen yet, for rows sampled from traffic)."""
    if cache_labels is not None:
        stored = set(cache_labels)
        asked = [q for q in q_labels if q]
        return sum(q not in stored for q in asked) / len(asked) if asked else None
    if not labelled:
        return None
    count: dict[str, int] = defaultdict(int)
    for lab in labelled:
        count[lab] += 1
    return sum(1 for n in count.values() if n == 1) / len(labelled)


def _asked_again(q_labels: Sequence[str], c_labels: Sequence[str], loo: bool) -> Any:
    """The labelled queries whose label has another stored row (leave-one-out: besides their own),
    to be asked again with their label left out; for the others the first ask already was."""
    np = _np()
    count: dict[str, int] = defaultdict(int)
    for lab in c_labels:
        count[lab] += 1
    least = 2 if loo else 1
    return np.array([i for i, q in enumerate(q_labels) if q and count[q] >= least], dtype=int)


def _holdout_by_group(texts: Sequence[str], labels: Sequence[str], share: float, seed: int) -> Any:
    """The held-out slice by group: whole labels, and off-topic rows by their text (copies together)."""
    np = _np()
    held = np.zeros(len(texts), bool)
    for labelled in (True, False):
        idx = [i for i, lab in enumerate(labels) if bool(lab) == labelled]
        keys = [labels[i] if labels[i] else _text_key(texts[i]) for i in idx]
        held[idx] = _group_holdout(keys, share, seed)
    return held


def _nearest_other_label(
    qv: Any, cv: Any, q_labels: Sequence[str], c_labels: Sequence[str], block: int = 1024
) -> tuple[Any, Any]:
    """Index and cosine of each query's nearest cache row of another label than its own."""
    np = _np()
    names = {lab: i for i, lab in enumerate(sorted(set(c_labels) | set(q_labels)))}
    cc = np.array([names[lab] for lab in c_labels])
    qc = np.array([names[lab] for lab in q_labels])
    tops, sims = [], []
    for i in range(0, len(qv), block):
        s = qv[i : i + block] @ cv.T
        s[qc[i : i + block, None] == cc[None, :]] = -np.inf
        t = s.argmax(1)
        tops.append(t)
        sims.append(s[np.arange(len(t)), t])
    return np.concatenate(tops), np.concatenate(sims).astype(np.float64)


def _calibrate_combined(
    qv: Any,
    cv: Any,
    q_texts: list[str],
    q_labels: list[str],
    c_texts: list[str],
    c_labels: list[str],
    loo: bool,
    n_on: int,
    held: Any,
    *,
    k: int,
    target: float,
    confidence: float,
    rule: Literal["bound", "point"],
    n_cache: int,
    n_off: int,
    share: float,
) -> CalibrationResult:
    """The neighbourhood model: weights fitted on the fitting slice only, contrast vetoes applied."""
    np = _np()
    from ._contrast import contrast_flags

    if loo:
        X1, t1, _ = knn_features(qv[:n_on], cv, c_labels, k=k, leave_one_out=True)
        parts = [(X1, t1)]
        if len(qv) > n_on:
            parts.append(knn_features(qv[n_on:], cv, c_labels, k=k)[:2])
        X, top = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    else:
        X, top, _ = knn_features(qv, cv, c_labels, k=k)
    correct = np.array([bool(q) and c_labels[t] == q for q, t in zip(q_labels, top)])
    n_new = 0
    mix = np.ones(len(X))
    ask = _asked_again(q_labels, c_labels, loo)
    if share > 0 and len(ask) and len(set(c_labels)) > 1:  # asked again with their label left out
        Xn, tn, _ = knn_features(qv[ask], cv, c_labels, k=k, exclude_keys=[q_labels[i] for i in ask])
        X, top = np.concatenate([X, Xn]), np.concatenate([top, tn])
        correct = np.concatenate([correct, np.zeros(len(ask), bool)])
        held = np.concatenate([held, held[ask]])
        mix = _mixed_weights(mix, ask, share)
        q_texts = q_texts + [q_texts[i] for i in ask]
        n_new = len(ask)
    fit = ~held if held.any() else np.ones(len(X), bool)
    weights = fit_logistic(X[fit], correct[fit].astype(float))
    z = X @ np.asarray(weights[:-1]) + weights[-1]
    scores = 1 / (1 + np.exp(-np.clip(z, -50, 50)))
    # The similarity floor: below the lowest similarity any correct hit had, nothing is served.
    good = correct & fit
    floor = float(max(0.5, X[good, 0].min() - 0.02)) if good.any() else 0.7
    vetoed = np.array([bool(contrast_flags(q, c_texts[t])) for q, t in zip(q_texts, top)])
    scores = np.where((X[:, 0] >= floor) & ~vetoed, scores, 0.0)
    policy = DecisionPolicy(kind="combined", weights=weights, k=k, min_similarity=floor)
    res = _check(
        scores,
        correct,
        held,
        target=target,
        confidence=confidence,
        rule=rule,
        policy=policy,
        n_cache=n_cache,
        n_off=n_off,
        weights=mix if n_new else None,
    )
    return res.model_copy(update={"n_new_questions": n_new, "new_share": share})


def _nearest(qv: Any, cv: Any, block_self: Any, n_self: int, block: int = 1024) -> tuple[Any, Any]:
    """Index and cosine of each query's nearest cache row; query i < n_self may not match row i."""
    np = _np()
    tops, sims = [], []
    for i in range(0, len(qv), block):
        s = qv[i : i + block] @ cv.T
        if block_self is not None:
            rows = np.arange(s.shape[0])
            own = rows + i
            ok = own < n_self
            s[rows[ok], own[ok]] = -np.inf
        t = s.argmax(1)
        tops.append(t)
        sims.append(s[np.arange(len(t)), t])
    return np.concatenate(tops), np.concatenate(sims).astype(np.float64)


def _result(
    policy: DecisionPolicy,
    point: CalibrationPoint | None,
    curve: list[CalibrationPoint],
    target: float,
    confidence: float,
    rule: str,
    n_q: int,
    n_c: int,
    floor: float,
) -> CalibrationResult:
    met = point is not None
    if point is None:  # nothing reaches the target: turn the semantic tier off for this route
        point = CalibrationPoint(threshold=1.01, precision=1.0, precision_lower=0.0, hit_rate=0.0, hits=0)
    update: dict[str, Any] = {
        "threshold": point.threshold,
        "min_similarity": floor,
        "enabled": met,
        "calibration": {
            "target_precision": target,
            "confidence": confidence,
            "rule": rule,
            "precision": point.precision,
            "precision_lower": point.precision_lower,
            "hit_rate": point.hit_rate,
            "n_queries": n_q,
            "n_cache": n_c,
        },
    }
    if policy.kind == "verified":
        # The neighbourhood path was not part of what was measured: it stays off.
        update.update(pair_threshold=point.threshold, threshold=1.0, min_similarity=policy.min_similarity)
    policy = policy.model_copy(update=update)
    return CalibrationResult(
        policy=policy,
        target_precision=target,
        confidence=confidence,
        rule=rule,
        met=met,
        point=point,
        n_queries=n_q,
        n_cache=n_c,
        curve=curve,
    )


def calibrate_pairs(
    text_a: Sequence[str],
    text_b: Sequence[str],
    labels: Sequence[Any],
    *,
    embedder: Embedder | None = None,
    target_precision: float = 0.99,
    confidence: float = 0.95,
    rule: Literal["bound", "point"] = "bound",
    holdout: float = 0.3,
    seed: int = 0,
    verifier: Any = None,
    vectors: tuple[Any, Any] | None = None,
) -> CalibrationResult:
    """Fit the ``verified`` policy's threshold on labelled pairs (label 1/true = same answer):
    ``text_a`` stored, ``text_b`` looked up; checked on a held-out share of the pairs.

    >>> from llm_cost_hooks.cache import calibrate_pairs
    >>> from llm_cost_hooks.routing import HashingEmbedder  # offline; use your cache's embedder
    >>> same = [("How do I reset my PIN?", "How can I reset my PIN?"),
    ...         ("Where is my card?", "Where is my card now?"),
    ...         ("Cancel my order", "Please cancel my order"),
    ...         ("What is the refund policy?", "What's the refund policy?")]
    >>> other = [("How do I reset my PIN?", "How do I change my address?"),
    ...          ("Where is my card?", "Where is the nearest branch?"),
    ...          ("Cancel my order", "Track my order"),
    ...          ("What is the refund policy?", "What is the privacy policy?")]
    >>> pairs, labels = (same + other) * 5, ([1] * 4 + [0] * 4) * 5
    >>> result = calibrate_pairs([a for a, _ in pairs], [b for _, b in pairs], labels,
    ...                          embedder=HashingEmbedder(), target_precision=0.9, rule="point")
    >>> result.met, result.n_queries, result.holdout.n_queries
    (True, 40, 10)
    >>> from llm_cost_hooks.cache import CacheConfig
    >>> config = CacheConfig(default=result.policy)  # serve with what was measured
    """
    np = _np()
    if not (len(text_a) == len(text_b) == len(labels)) or not text_a:
        raise ConfigurationError(
            "calibrate_pairs needs equally long, non-empty text_a, text_b and label columns."
        )
    y = np.array([str(v).strip().lower() in ("1", "true", "yes", "y", "same") for v in labels])
    if vectors is None:
        if embedder is None:
            from ..embeddings import default_embedder

            embedder = default_embedder()
        a, b = _embed_all(embedder, text_a), _embed_all(embedder, text_b)
    else:
        a, b = vectors
    sims = (a * b).sum(1).astype(float)
    if verifier is None:
        from ._verifier import PairVerifier

        verifier = PairVerifier.default()
    scores = _verified_scores(text_b, text_a, sims, verifier)
    # Pairs that share a stored question are held out together.
    held = _group_holdout([_text_key(a) for a in text_a], holdout, seed)
    return _check(
        scores,
        y,
        held,
        target=target_precision,
        confidence=confidence,
        rule=rule,
        policy=DecisionPolicy(kind="verified", threshold=1.0),
        n_cache=len(scores),
        n_off=0,
    )


def load_table(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV/TSV (optionally .gz) or JSONL file, as dicts of strings."""
    p = Path(path)
    if not p.is_file():
        raise ConfigurationError(f"calibration file {str(p)!r} does not exist.")
    if p.suffix == ".gz":
        with gzip.open(p, "rt", encoding="utf-8", newline="") as gz:
            text = gz.read()
    else:
        with p.open(encoding="utf-8", newline="") as fh:
            text = fh.read()
    stem = p.name[:-3] if p.suffix == ".gz" else p.name
    if stem.endswith(".jsonl"):
        import json

        return [
            {k: str(v) for k, v in json.loads(line).items()} for line in text.splitlines() if line.strip()
        ]
    dialect = "excel-tab" if stem.endswith(".tsv") else "excel"
    return [
        {k.strip(): (v or "") for k, v in row.items() if k}
        for row in csv.DictReader(io.StringIO(text), dialect=dialect)
    ]


def calibrate_file(
    path: str | Path,
    *,
    cache_path: str | Path | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> CalibrationResult:
    """Calibrate from a pairs file (``text_a,text_b,label``) or an intents file
    (``text,label``; ``category`` is accepted for ``label``). With ``cache_path`` the
    intents file gives the queries and ``cache_path`` the cache entries."""
    rows = load_table(path)
    if not rows:
        raise ConfigurationError(f"{path}: no rows.")
    cols = set(rows[0])
    if {"text_a", "text_b", "label"} <= cols:
        if progress:
            progress(f"pairs file: {len(rows)} pairs")
        return calibrate_pairs(
            [r["text_a"] for r in rows],
            [r["text_b"] for r in rows],
            [r["label"] for r in rows],
            embedder=embedder,
            **kwargs,
        )
    label_col = "label" if "label" in cols else "category" if "category" in cols else None
    if "text" not in cols or label_col is None:
        raise ConfigurationError(
            f"{path}: columns {sorted(cols)}; expected text_a,text_b,label (pairs) or text,label (intents)."
        )
    texts, labels = [r["text"] for r in rows], [r[label_col] for r in rows]
    extra: dict[str, Any] = {}
    if cache_path is not None:
        crow = load_table(cache_path)
        c_label = "label" if "label" in crow[0] else "category"
        extra = {"cache_texts": [r["text"] for r in crow], "cache_labels": [r[c_label] for r in crow]}
    if progress:
        progress(f"intents file: {len(rows)} rows, {len(set(labels))} labels")
    return calibrate_intents(texts, labels, embedder=embedder, **extra, **kwargs)
