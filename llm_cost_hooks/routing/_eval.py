"""The evaluation harness: replay real per-model outcomes through routing strategies.

For each strategy it reports quality, cost and the cost-quality curve, against
always-cheap, always-strong, each single model, random mixing and the oracle, with AIQ
and APGR / CPT(50%) / CPT(80%) (see :mod:`._metrics`). The trained router is fitted on the
training outcomes, its operating point calibrated on out-of-fold predictions of those
same training rows (so the test rows stay unseen), and then measured on the test rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import ConfigurationError
from ._checks import BUILTIN_CHECKS, Answer, _run_checks
from ._data import OutcomeDataset
from ._metrics import aiq, apgr, cpt
from ._model import RouterModel, embed_texts
from ._strategies import (
    BudgetTarget,
    OperatingPoint,
    QualityTarget,
    RouteRequest,
    RuleRouter,
    calibrate_points,
    choose_tiers,
    knob_grid,
    pick_tiers,
)

if TYPE_CHECKING:
    from ..embeddings import Embedder

__all__ = ["CurvePoint", "EvalReport", "StrategyResult", "evaluate", "out_of_fold_predictions"]


@dataclass
class CurvePoint:
    """One operating point: mean quality, mean dollars per request, share of strong-tier calls.

    >>> import numpy as np
    >>> from llm_cost_hooks.routing import HashingEmbedder, OutcomeDataset, evaluate
    >>> ds = OutcomeDataset(prompts=[f"question {i} " + ("hard" if i % 2 else "easy") for i in range(60)],
    ...     tiers=["small", "large"], quality=np.array([[i % 2 == 0, 1] for i in range(60)], dtype=float),
    ...     cost=np.tile([1e-4, 1e-3], (60, 1)))
    >>> train, test = ds.split(0.3)
    >>> report = evaluate(test, train=train, embedder=HashingEmbedder(64))
    >>> report.singles["small"]
    CurvePoint(quality=0.611..., cost=0.0001, strong_share=0.0, knob=None)
    """

    quality: float
    cost: float
    strong_share: float
    knob: float | None = None


@dataclass
class StrategyResult:
    """A strategy's cost-quality curve with its AIQ, APGR, CPT(50%), CPT(80%) and, for a
    trained router, the calibrated operating point measured on the test rows.

    >>> import numpy as np
    >>> from llm_cost_hooks.routing import HashingEmbedder, OutcomeDataset, evaluate
    >>> ds = OutcomeDataset(prompts=[f"question {i} " + ("hard" if i % 2 else "easy") for i in range(60)],
    ...     tiers=["small", "large"], quality=np.array([[i % 2 == 0, 1] for i in range(60)], dtype=float),
    ...     cost=np.tile([1e-4, 1e-3], (60, 1)))
    >>> train, test = ds.split(0.3)
    >>> report = evaluate(test, train=train, embedder=HashingEmbedder(64))
    >>> result = report.result("trained-ridge")
    >>> point = result.calibrated
    >>> round(point.quality, 3), round(point.cost, 6), round(point.strong_share, 3)
    (0.944, 0.0004, 0.333)
    >>> result.cheapest_at(1.0).quality
    1.0
    """

    name: str
    points: list[CurvePoint]
    aiq: float = float("nan")
    apgr: float = float("nan")
    cpt50: float = float("nan")
    cpt80: float = float("nan")
    calibrated: CurvePoint | None = None
    calibration: dict[str, Any] | None = None
    note: str = ""

    def cheapest_at(self, quality: float) -> CurvePoint | None:
        """The cheapest point of the curve whose quality reaches ``quality``."""
        ok = [p for p in self.points if p.quality >= quality - 1e-12]
        return min(ok, key=lambda p: p.cost) if ok else None


@dataclass
class EvalReport:
    """Everything :func:`evaluate` measured; ``format()`` prints the table, ``to_json()`` the data.

    >>> import numpy as np
    >>> from llm_cost_hooks.routing import HashingEmbedder, OutcomeDataset, evaluate
    >>> ds = OutcomeDataset(prompts=[f"question {i} " + ("hard" if i % 2 else "easy") for i in range(60)],
    ...     tiers=["small", "large"], quality=np.array([[i % 2 == 0, 1] for i in range(60)], dtype=float),
    ...     cost=np.tile([1e-4, 1e-3], (60, 1)))
    >>> train, test = ds.split(0.3)
    >>> report = evaluate(test, train=train, embedder=HashingEmbedder(64))
    >>> report.weak, report.strong, report.n_train, report.n_test
    ('small', 'large', 42, 18)
    >>> [r.name for r in report.results]
    ['random(weak,strong)', 'zero-router(single-model hull)', 'oracle', 'trained-ridge']
    >>> print(report.format().splitlines()[0])
    tiers: 2  train rows: 42  test rows: 18
    """

    tiers: list[str]
    n_train: int
    n_test: int
    weak: str
    strong: str
    singles: dict[str, CurvePoint]
    results: list[StrategyResult]
    x_axis: str
    c_range: tuple[float, float]
    target: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def result(self, name: str) -> StrategyResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        def clean(o: Any) -> Any:
            if isinstance(o, float) and not math.isfinite(o):
                return None
            if isinstance(o, dict):
                return {k: clean(v) for k, v in o.items()}
            if isinstance(o, (list, tuple)):
                return [clean(v) for v in o]
            return o

        return clean(asdict(self))  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def format(self) -> str:
        s = self.singles[self.strong]
        lines = [
            f"tiers: {len(self.tiers)}  train rows: {self.n_train}  test rows: {self.n_test}",
            f"weak (cheapest): {self.weak}  strong (best): {self.strong} "
            f"quality {s.quality:.4f} cost ${s.cost:.6f}/request",
            f"APGR/CPT x axis: {self.x_axis}; AIQ cost range ${self.c_range[0]:.6f}..${self.c_range[1]:.6f}",
            "",
            f"{'strategy':34s} {'quality':>8s} {'%strong':>8s} {'cost $/req':>11s} {'%cost':>7s} "
            f"{'AIQ':>7s} {'APGR':>7s} {'CPT50':>7s} {'CPT80':>7s}",
        ]

        def row(name: str, p: CurvePoint | None, r: StrategyResult | None) -> str:
            if p is None:
                q = c = float("nan")
            else:
                q, c = p.quality, p.cost

            def f(v: float, w: int = 7, d: int = 3) -> str:
                return f"{v:>{w}.{d}f}" if v == v else " " * (w - 1) + "-"

            return (
                f"{name[:34]:34s} {f(q, 8, 4)} {f(100 * q / s.quality, 7, 1)}% {f(c, 11, 6)} "
                f"{f(100 * c / s.cost if s.cost else float('nan'), 6, 1)}% "
                f"{f(r.aiq if r else float('nan'))} {f(r.apgr if r else float('nan'))} "
                f"{f(r.cpt50 if r else float('nan'))} {f(r.cpt80 if r else float('nan'))}"
            )

        for t in self.tiers:
            lines.append(row(f"always {t}", self.singles[t], None))
        for r in self.results:
            pt = r.calibrated or (r.points[0] if len(r.points) == 1 else None)
            label = r.name + (" @calibrated" if r.calibrated else (" (curve)" if pt is None else ""))
            lines.append(row(label, pt, r))
        if self.target:
            lines.append("")
            lines.append(f"calibration target: {self.target}")
            for r in self.results:
                if r.calibration:
                    lines.append(f"  {r.name}: calibrated on train {r.calibration}")
        notes = [f"  {r.name}: {r.note}" for r in self.results if r.note]
        if notes:
            lines += ["", "notes:", *notes]
        return "\n".join(lines)


class _Precomputed:
    """The embedder of vectors computed beforehand: it names them; it never embeds."""

    def __init__(self, name: str, dim: int) -> None:
        self.name = name
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("precomputed embeddings: nothing to embed")

    def embed_one(self, text: str) -> np.ndarray:
        raise RuntimeError("precomputed embeddings: nothing to embed")


def out_of_fold_predictions(
    data: OutcomeDataset,
    emb: np.ndarray,
    *,
    kind: Literal["logistic", "ridge", "ridge_guarded"],
    folds: int = 5,
    seed: int = 0,
    **fit_kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for every row of ``data`` from a model that did not see that row."""
    n = len(data)
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, folds)
    q = np.zeros((n, len(data.tiers)))
    c = np.zeros((n, len(data.tiers)))

    for j in range(folds):
        test_idx = np.sort(parts[j])
        train_idx = np.sort(np.concatenate([parts[i] for i in range(folds) if i != j]))
        m = RouterModel.fit(
            data.subset(train_idx),
            _Precomputed("precomputed", int(emb.shape[1])),
            kind=kind,
            embeddings=emb[train_idx],
            **fit_kwargs,
        )
        qq, cc = m.predict(emb[test_idx])
        q[test_idx], c[test_idx] = qq, cc
    return q, c


def _point(data: OutcomeDataset, pick: np.ndarray, strong: int, knob: float | None = None) -> CurvePoint:
    rows = np.arange(len(data))
    return CurvePoint(
        float(data.quality[rows, pick].mean()),
        float(data.cost[rows, pick].mean()),
        float(np.mean(pick == strong)),
        knob,
    )


def evaluate(
    test: OutcomeDataset,
    *,
    train: OutcomeDataset | None = None,
    embedder: Embedder | None = None,
    kinds: Sequence[Literal["logistic", "ridge", "ridge_guarded"]] = ("ridge",),
    mode: Literal["utility", "threshold"] = "utility",
    target: QualityTarget | BudgetTarget | None = None,
    rules: RuleRouter | None = None,
    cascade: bool = True,
    train_embeddings: np.ndarray | None = None,
    test_embeddings: np.ndarray | None = None,
    fit_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
) -> EvalReport:
    """Replay ``test`` outcomes through the baselines and strategies.

    With ``train`` (and an ``embedder`` or precomputed embeddings) a trained router of
    each kind in ``kinds`` is fitted on ``train`` and calibrated to ``target`` (default:
    95% of the strongest tier's quality) on out-of-fold predictions of ``train``.
    """
    if train is not None and train.tiers != test.tiers:
        raise ConfigurationError(f"train tiers {train.tiers} differ from test tiers {test.tiers}.")
    if len(test) == 0:
        raise ConfigurationError("the test data is empty.")
    target = target or QualityTarget(share=0.95)
    tiers = test.tiers
    # Reference tiers from the training data when given (a router cannot peek at test).
    ref = train if train is not None else test
    strong = tiers.index(ref.strongest)
    weak = tiers.index(ref.cheapest)
    singles = {t: _point(test, np.full(len(test), j), strong) for j, t in enumerate(tiers)}
    costs = [p.cost for p in singles.values()]
    c_range = (min(costs), max(costs))
    two = len(tiers) == 2
    qw, qs = singles[tiers[weak]].quality, singles[tiers[strong]].quality
    cw, cs = singles[tiers[weak]].cost, singles[tiers[strong]].cost

    def finish(name: str, points: list[CurvePoint], note: str = "") -> StrategyResult:
        pts = [(p.cost, p.quality) for p in points]
        if two:
            xq = [(p.strong_share, p.quality) for p in points]
        else:
            xq = [((p.cost - cw) / (cs - cw) if cs != cw else 0.0, p.quality) for p in points]
        return StrategyResult(
            name,
            points,
            aiq=aiq(pts, *c_range),
            apgr=apgr(xq, qw, qs),
            cpt50=cpt(xq, qw, qs, 0.5),
            cpt80=cpt(xq, qw, qs, 0.8),
            note=note,
        )

    results: list[StrategyResult] = []
    # Random mixing of weak and strong (expected value).
    results.append(
        finish(
            "random(weak,strong)",
            [CurvePoint((1 - p) * qw + p * qs, (1 - p) * cw + p * cs, p, p) for p in np.linspace(0, 1, 21)],
        )
    )
    # Every single model, and their hull (RouterBench's "zero router").
    results.append(
        finish(
            "zero-router(single-model hull)",
            list(singles.values()),
            note="convex hull of the single models (achievable by random mixing)",
        )
    )
    # Oracle: knows every outcome; sweeps the price of quality.
    oq = test.quality - 1e-9 * test.cost / max(float(test.cost.max()), 1e-12)
    opts = [
        _point(test, choose_tiers(oq, test.cost, float(k)), strong, float(k))
        for k in knob_grid(test.cost, "utility", 60)
    ]
    results.append(finish("oracle", opts))

    if rules is not None:
        feats = test.features or [None] * len(test)
        pick = np.array(
            [
                tiers.index(rules.route(RouteRequest(p, {"feature": f} if f else {}), tiers).tier)
                for p, f in zip(test.prompts, feats)
            ]
        )
        results.append(finish("rules", [_point(test, pick, strong)]))

    if (
        cascade
        and test.responses is not None
        and all(t in test.responses for t in (tiers[weak], tiers[strong]))
    ):
        rows = np.arange(len(test))
        accept = np.array(
            [
                _run_checks(
                    Answer(text=test.responses[tiers[weak]][i] or "", tier=tiers[weak], finish_reason="stop"),
                    BUILTIN_CHECKS,
                )
                is None
                for i in rows
            ]
        )
        q = np.where(accept, test.quality[:, weak], test.quality[:, strong])
        c = test.cost[:, weak] + np.where(accept, 0.0, test.cost[:, strong])
        results.append(
            finish(
                "cascade(weak->strong, built-in checks)",
                [CurvePoint(float(q.mean()), float(c.mean()), float(np.mean(~accept)))],
                note=f"built-in checks rejected {int((~accept).sum())} of {len(test)} weak answers; "
                "failed attempts stay in the cost",
            )
        )

    if train is not None:
        fit_kwargs = dict(fit_kwargs or {})
        if train_embeddings is None or test_embeddings is None:
            if embedder is None:
                raise ConfigurationError("a trained router needs an embedder (or precomputed embeddings).")
            train_embeddings = (
                embed_texts(embedder, train.prompts) if train_embeddings is None else train_embeddings
            )
            test_embeddings = (
                embed_texts(embedder, test.prompts) if test_embeddings is None else test_embeddings
            )
        for kind in kinds:
            oof_q, oof_c = out_of_fold_predictions(
                train, train_embeddings, kind=kind, seed=seed, **fit_kwargs
            )
            op: OperatingPoint = calibrate_points(
                train.quality, train.cost, oof_q, oof_c, tiers, target, mode
            )

            named = _Precomputed(getattr(embedder, "name", "precomputed"), int(train_embeddings.shape[1]))
            model = RouterModel.fit(train, named, kind=kind, embeddings=train_embeddings, **fit_kwargs)
            q, c = model.predict(test_embeddings)
            points = [
                _point(test, choose_tiers(q, c, float(k), mode), strong, float(k)) for k in knob_grid(c, mode)
            ]
            res = finish(f"trained-{kind}", points)
            res.calibrated = _point(test, pick_tiers(q, c, op, test.prompts), strong, op.knob)
            res.calibration = {
                "knob": round(op.knob, 6),
                "train_quality": round(op.quality, 4),
                "train_cost": round(op.cost, 8),
                "met_on_train": op.met,
            }
            if op.knob_b is not None:
                res.calibration.update(knob_b=round(op.knob_b, 6), mix=round(op.mix, 4))
            results.append(res)
    return EvalReport(
        tiers=list(tiers),
        n_train=len(train) if train is not None else 0,
        n_test=len(test),
        weak=tiers[weak],
        strong=tiers[strong],
        singles=singles,
        results=results,
        x_axis="share of calls to the strong tier" if two else "normalised cost (weak=0, strong=1)",
        c_range=c_range,
        target=target.model_dump_json(),
    )
