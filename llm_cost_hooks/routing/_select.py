"""Which cross-fitted router to save: the candidate whose calibrated point is best on the
held-out folds.

A ridge model reading the question can rank requests worse than a table of its template's
mean outcomes where the question adds little, and taking the best of eleven noisy per-tier
predictions sends requests to tiers that only looked good. So :func:`cross_fit_select`
cross-fits a few candidates on the same folds and calibrates each on its own held-out
predictions, exactly as the saved file would route:

* ``ridge``: the template prior plus the ridge model of the question (the default model);
* ``ridge-half``: the same with the question's part halved (a blend of the two);
* ``template-table``: each template's mean outcomes alone (shrunk by one pseudo-row);
* each of those restricted to 2, 3 or 4 tiers, grown one tier at a time from the reference
  tier by the same criterion (fewer tiers: fewer noisy predictions to be fooled by).

The first three appear only when the requests have templates (at least two groups);
without them the blend and the table are random mixing, and the router is fitted as
before. The saved candidate is the one whose calibrated point meets the target at the
lowest cost (a budget target: at the highest quality); its name and every candidate's
calibrated point are kept in the file's info.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._data import OutcomeDataset
from ._model import RouterModel, fold_of
from ._strategies import BudgetTarget, OperatingPoint, QualityTarget, calibrate_points

if TYPE_CHECKING:
    from ..embeddings import Embedder

#: The most tiers a restricted candidate routes to.
MAX_SUBSET_TIERS = 4
# The table's prior: each template's mean outcomes, shrunk towards the overall mean by
# this many pseudo-rows (a template seen once is half its row, half the overall mean).
_TABLE_SHRINK = 1.0


@dataclass
class _Candidate:
    name: str
    model: RouterModel
    q: np.ndarray
    c: np.ndarray
    point: OperatingPoint


def _key(point: OperatingPoint, target: QualityTarget | BudgetTarget) -> tuple[bool, float]:
    """Smaller is better: a point that meets the target first, then the cheapest (quality
    target) or the best (budget target)."""
    return (not point.met, point.cost if isinstance(target, QualityTarget) else -point.quality)


def cross_fit_select(
    data: OutcomeDataset,
    embedder: Embedder,
    x: np.ndarray,
    target: QualityTarget | BudgetTarget,
    *,
    folds: int = 5,
    kind: Literal["logistic", "ridge", "ridge_guarded"] = "ridge",
    group_cols: int = 0,
    group_shrink: float = 30.0,
    weights: np.ndarray | None = None,
    max_tiers: int = MAX_SUBSET_TIERS,
) -> tuple[RouterModel, np.ndarray, np.ndarray, OperatingPoint]:
    """Cross-fit the candidates, calibrate each on its held-out predictions and return the
    best: (model, its held-out quality and cost predictions, its calibrated point)."""
    groups: dict[str, Any] = {"group_cols": group_cols, "group_shrink": group_shrink} if group_cols else {}
    base, q, c = RouterModel.cross_fit(data, embedder, x, folds=folds, kind=kind, **groups)

    def calibrate(qp: np.ndarray, cp: np.ndarray) -> OperatingPoint:
        return calibrate_points(
            data.quality, data.cost, qp, cp, data.tiers, target, texts=data.prompts, weights=weights
        )

    cands = [_Candidate("ridge" if kind == "ridge" else kind, base, q, c, calibrate(q, c))]
    templates = bool(group_cols) and len(np.unique(np.round(x[:, -group_cols:], 4), axis=0)) >= 2
    if kind == "ridge" and templates:
        assign = np.array([fold_of(p, base.n_folds) for p in data.prompts])
        half = base.with_question_weight(0.5)
        hq, hc = half.predict(x, assign)
        cands.append(_Candidate("ridge-half", half, hq, hc, calibrate(hq, hc)))
        table, tq, tc = RouterModel.cross_fit(
            data,
            embedder,
            x,
            folds=folds,
            kind=kind,
            group_cols=group_cols,
            group_shrink=_TABLE_SHRINK,
            question_weight=0.0,
        )
        cands.append(_Candidate("template-table", table, tq, tc, calibrate(tq, tc)))
    if len(data.tiers) > 2:
        cands += [s for cand in list(cands) for s in _tier_subsets(cand, data, target, calibrate, max_tiers)]
    best = min(cands, key=lambda cand: _key(cand.point, target))
    model = best.model
    model.info = dict(
        model.info,
        candidate=best.name,
        candidates={
            cand.name: {
                "cost": round(cand.point.cost, 8),
                "quality": round(cand.point.quality, 4),
                "met": cand.point.met,
            }
            for cand in cands
        },
    )
    return model, best.q, best.c, best.point


def _tier_subsets(
    cand: _Candidate,
    data: OutcomeDataset,
    target: QualityTarget | BudgetTarget,
    calibrate: Any,
    max_tiers: int,
) -> list[_Candidate]:
    """``cand`` restricted to 2..``max_tiers`` tiers (fewer than it has), grown greedily from
    the reference tier: each step adds the tier whose calibrated point is best."""
    tiers = data.tiers
    if isinstance(target, QualityTarget) and target.of in tiers:
        ref = tiers.index(target.of)
    else:
        ref = int(np.argmax(data.tier_quality()))
    chosen = [ref]
    out: list[_Candidate] = []
    while len(chosen) < min(max_tiers, len(tiers) - 1):
        best: tuple[tuple[bool, float], int, OperatingPoint, np.ndarray] | None = None
        for t in range(len(tiers)):
            if t in chosen:
                continue
            active = np.isin(np.arange(len(tiers)), [*chosen, t])
            qp = np.where(active[None, :], cand.q, -1.0)
            point = calibrate(qp, cand.c)
            if best is None or _key(point, target) < best[0]:
                best = (_key(point, target), t, point, qp)
        assert best is not None
        chosen.append(best[1])
        names = [tiers[t] for t in sorted(chosen)]
        out.append(
            _Candidate(
                f"{cand.name}/{len(chosen)} tiers", cand.model.with_tiers(names), best[3], cand.c, best[2]
            )
        )
    return out
