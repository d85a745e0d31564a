"""Train the router users ship, and score a saved router file on test outcomes.

:func:`train_router` learns what to read of a request (:class:`~._text.TextSelector`),
cross-fits one model per fold (:meth:`~._model.RouterModel.cross_fit`) and calibrates the
operating point on the held-out predictions of exactly those models; the file it saves
routes each request with the model of the request's fold, so the calibration describes
the saved artefact itself. :func:`evaluate_router` replays a test file through a saved
router (or any :class:`~._strategies.TrainedRouter`) beside the baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .._errors import ConfigurationError
from ._data import OutcomeDataset
from ._eval import CurvePoint, EvalReport, _point, evaluate
from ._model import fold_of
from ._select import cross_fit_select
from ._strategies import (
    BudgetTarget,
    OperatingPoint,
    QualityTarget,
    TrainedRouter,
    calibrate_points,
    choose_tiers,
    effective_rows,
    knob_grid,
    pick_tiers,
)
from ._text import TextSelector

if TYPE_CHECKING:
    from ..embeddings import Embedder

__all__ = ["TaskTable", "evaluate_router", "propensity_weights", "train_router"]


def train_router(
    data: OutcomeDataset,
    embedder: Embedder,
    *,
    target: QualityTarget | BudgetTarget | None = None,
    kind: Literal["logistic", "ridge", "ridge_guarded"] = "ridge",
    folds: int = 5,
    selector: TextSelector | None = None,
    template_prior: float | None = 30.0,
    out: str | Path | None = None,
    ipw: bool = True,
    ipw_clip: float | None = None,
    doubly_robust: bool = False,
) -> TrainedRouter:
    """Train, cross-fit and calibrate a router on ``data``; save it to ``out`` if given.

    ``target`` defaults to 95% of the strongest tier's quality at confidence 0.5.
    ``ipw``: when the rows carry the chance each was labelled (``data.extra["propensity"]``,
    as shadow outcomes do), the calibration weighs each row by 1 / that chance, so
    requests the exploration policy labelled rarely count for the traffic they stand for;
    the bound then counts the rows' effective number. Rows without one weigh 1.
    ``ipw_clip``: the most one row may weigh (None: no cap); a cap trades a little bias
    for fewer effective rows lost to a handful of rarely labelled requests.
    ``doubly_robust``: when the rows also carry the requests seen but not labelled
    (``data.extra["unlabelled"]``, a tuple of their texts, and ``"unlabelled_contexts"``,
    as :func:`~._shadow.simulate_shadow` passes them; the ledger keeps labelled requests
    only), a quality target is calibrated over every request seen: each counts with the
    saved router's predicted outcome, and each labelled row corrects its prediction by
    its error times 1 / its propensity (AIPW; see :func:`~._strategies.calibrate_points`).
    The bound then counts the requests seen rather than the labelled rows' effective
    number; on right/wrong outcomes that a router predicts weakly it is not narrower
    (measured in the shadow section of docs/routing-training.md).
    ``template_prior`` (``ridge`` kinds): requests that share a template start from their
    template's mean outcomes, shrunk towards the overall mean by this many pseudo-rows,
    and the question's embedding predicts the rest; None fits the embedding alone.

    >>> from llm_cost_hooks.routing import HashingEmbedder
    >>> rng = np.random.default_rng(0)
    >>> ds = OutcomeDataset(prompts=[f"question {i} " + ("hard" if i % 2 else "easy") for i in range(60)],
    ...     tiers=["small", "large"], quality=np.array([[i % 2 == 0, 1] for i in range(60)], dtype=float),
    ...     cost=np.tile([1e-4, 1e-3], (60, 1)))
    >>> router = train_router(ds, HashingEmbedder(64))
    >>> router.operating_point.met
    True
    """
    if len(data) < 2 * folds:
        raise ConfigurationError(
            f"need at least {2 * folds} outcome rows to train with {folds} folds, got {len(data)}."
        )
    target = target or QualityTarget(share=0.95)
    selector = selector or TextSelector.learn(data.prompts)
    contexts = data.extra.get("contexts")
    x = selector.features(embedder, data.prompts, contexts)
    groups: dict[str, Any] = {}
    if template_prior is not None and kind != "logistic" and selector.buckets:
        groups = {"group_cols": selector.buckets, "group_shrink": float(template_prior)}
    weights = propensity_weights(data, clip=ipw_clip) if ipw else None
    # Candidates (the ridge router, a blend with its template table, the table, fewer tiers)
    # are cross-fitted and calibrated alike; the one saved has the best calibrated point.
    model, q, c, point = cross_fit_select(
        data, embedder, x, target, folds=folds, kind=kind, weights=weights, **groups
    )
    model.set_selector(selector)
    if weights is not None:
        model.info["calibration_rows_effective"] = round(effective_rows(weights), 1)
    seen = data.extra.get("unlabelled")
    if doubly_robust and seen and not data.extra.get("propensity"):
        raise ConfigurationError(
            "doubly robust calibration needs the chance each labelled row was labelled "
            '(extra["propensity"]) beside the unlabelled requests.'
        )
    if doubly_robust and seen and isinstance(target, QualityTarget):
        raw = propensity_weights(data, clip=ipw_clip, keep_equal=True)
        assert raw is not None
        xu = selector.features(embedder, list(seen), data.extra.get("unlabelled_contexts"))
        qu, cu = model.predict(xu, [fold_of(t, model.n_folds) for t in seen] if model.n_folds else None)
        point = calibrate_points(
            data.quality,
            data.cost,
            q,
            c,
            data.tiers,
            target,
            texts=data.prompts,
            weights=raw,
            unlabelled=(qu, cu),
            unlabelled_texts=list(seen),
        )
        model.info["calibration_rows_effective"] = len(data) + len(seen)
        model.info["calibration_estimate"] = "doubly robust (AIPW) over every request seen"
    model.info.update(
        operating_point=point.model_dump(),
        trained_rows=len(data),
        calibration="cross-fitted: held-out predictions of the saved fold models",
        template_lines=len(selector.shared),
    )
    router = TrainedRouter(model, embedder=embedder)
    if out is not None:
        model.save(out)
    return router


def propensity_weights(
    data: OutcomeDataset, *, clip: float | None = None, keep_equal: bool = False
) -> np.ndarray | None:
    """1 / the chance each row was labelled (``data.extra["propensity"]``; a missing one
    counts as 1), at most ``clip`` when given, or None when the rows carry no
    propensities or (unless ``keep_equal``) all weigh the same.

    >>> ds = OutcomeDataset(prompts=["a", "b"], tiers=["s", "l"], quality=np.ones((2, 2)),
    ...     cost=np.ones((2, 2)), extra={"propensity": [1.0, 0.25]})
    >>> propensity_weights(ds).tolist()
    [1.0, 4.0]
    >>> propensity_weights(ds, clip=2.0).tolist()
    [1.0, 2.0]
    """
    props = data.extra.get("propensity")
    if props is None:
        return None
    if len(props) != len(data):
        raise ConfigurationError(f"got {len(props)} propensities for {len(data)} outcome rows.")
    p = np.array([1.0 if v is None else float(v) for v in props], dtype=np.float64)
    if not np.all((p > 0) & (p <= 1)):
        raise ConfigurationError("propensities must be in (0, 1].")
    if clip is not None and clip < 1.0:
        raise ConfigurationError(f"the weight cap must be >= 1, got {clip}.")
    w = 1.0 / p if clip is None else np.minimum(1.0 / p, clip)
    return None if np.all(w == w[0]) and not keep_equal else w


class TaskTable:
    """A baseline: the tier per task name (``features``), from mean outcomes per task.

    Its predictions are each task's mean quality and cost per tier in the training data;
    its operating point is calibrated like a trained router's.
    """

    def __init__(self, train: OutcomeDataset, target: QualityTarget | BudgetTarget) -> None:
        if train.features is None:
            raise ConfigurationError("a task table needs a task/feature column in the outcomes.")
        self.tiers = train.tiers
        keys = [f or "" for f in train.features]
        self.q = {k: train.quality[[i for i, x in enumerate(keys) if x == k]].mean(axis=0) for k in set(keys)}
        self.c = {k: train.cost[[i for i, x in enumerate(keys) if x == k]].mean(axis=0) for k in set(keys)}
        self.q_all, self.c_all = train.tier_quality(), train.tier_cost()
        q, c = self.predict(train)
        self.point = calibrate_points(
            train.quality, train.cost, q, c, train.tiers, target, texts=train.prompts
        )

    def predict(self, data: OutcomeDataset) -> tuple[np.ndarray, np.ndarray]:
        keys = [f or "" for f in (data.features or [None] * len(data))]
        q = np.stack([self.q.get(k, self.q_all) for k in keys])
        c = np.stack([self.c.get(k, self.c_all) for k in keys])
        return q, c

    def pick(self, data: OutcomeDataset) -> np.ndarray:
        q, c = self.predict(data)
        return pick_tiers(q, c, self.point, data.prompts)


def evaluate_router(
    router: TrainedRouter | str | Path,
    test: OutcomeDataset,
    *,
    embedder: Embedder | None = None,
    train: OutcomeDataset | None = None,
    task_table: bool = True,
    cascade: bool = True,
) -> EvalReport:
    """Score a saved router (a directory written by ``llm-cost route train``) on ``test``.

    The router answers each test request exactly as deployed (its own text selection,
    fold and calibrated operating point). The report holds the baselines of
    :func:`~._eval.evaluate`, the router's calibrated point (``saved-router``) and the
    curve of its knob swept on the test rows (hindsight), and with ``train`` and task
    names a per-task lookup table calibrated to the same target on ``train``.
    """
    if not isinstance(router, TrainedRouter):
        router = TrainedRouter.load(str(router), embedder=embedder)
    missing = [t for t in router.model.tiers if t not in test.tiers]
    if missing:
        raise ConfigurationError(f"the test data lacks the router's tiers {missing}; it has {test.tiers}.")
    test = test.select_tiers(router.model.tiers)
    if train is not None:
        train = train.select_tiers(router.model.tiers)
    op = router.operating_point
    if op is None:
        raise ConfigurationError(
            "this router has no calibrated operating point; train it with `llm-cost route train`."
        )
    report = evaluate(test, train=None, cascade=cascade)
    # The saved router is not refitted; the training rows feed only the task-name baseline.
    report.n_train = len(train) if train is not None else 0
    q, c = router.predict_texts(test.prompts, test.extra.get("contexts"))
    strong = report.tiers.index(report.strong)
    pick = pick_tiers(q, c, op, test.prompts)
    res = _result(
        report,
        "saved-router",
        [_point(test, choose_tiers(q, c, float(k)), strong, float(k)) for k in knob_grid(c, "utility")],
    )
    res.calibrated = _point(test, pick, strong, op.knob)
    res.calibration = {
        "knob": round(op.knob, 6),
        "train_quality": round(op.quality, 4),
        "train_cost": round(op.cost, 8),
        "met_on_train": op.met,
        "target": op.target,
    }
    report.results.append(res)
    if task_table and train is not None and train.features is not None and test.features is not None:
        target = _target_of(op, train)
        table = TaskTable(train, target)
        tq, tc = table.predict(test)
        tres = _result(
            report,
            "task-table",
            [
                _point(test, choose_tiers(tq, tc, float(k)), strong, float(k))
                for k in knob_grid(tc, "utility")
            ],
        )
        tres.calibrated = _point(test, table.pick(test), strong, table.point.knob)
        tres.note = "the tier per task name, from the training outcomes' means, same target"
        report.results.append(tres)
    return report


def _target_of(op: OperatingPoint, data: OutcomeDataset) -> QualityTarget | BudgetTarget:
    """The target a saved operating point was calibrated to, parsed from its label."""
    label = op.target
    if label.startswith("cost<="):
        return BudgetTarget(usd_per_request=float(label.split("<=", 1)[1]))
    body = label.split(">=", 1)[1]
    conf, horizon = 0.5, None
    if "@" in body:
        body, tail = body.rsplit("@", 1)
        if "/" in tail:
            tail, h = tail.split("/", 1)
            horizon = int(h)
        conf = float(tail)
    share, of = body.split("x", 1)
    return QualityTarget(
        share=float(share), of=of if of in data.tiers else None, confidence=conf, horizon=horizon
    )


def _result(report: EvalReport, name: str, points: list[CurvePoint]) -> Any:
    from ._eval import StrategyResult
    from ._metrics import aiq, apgr, cpt

    tiers = report.tiers
    two = len(tiers) == 2
    s, w = report.singles[report.strong], report.singles[report.weak]
    if two:
        xq = [(p.strong_share, p.quality) for p in points]
    else:
        xq = [((p.cost - w.cost) / (s.cost - w.cost) if s.cost != w.cost else 0.0, p.quality) for p in points]
    return StrategyResult(
        name,
        points,
        aiq=aiq([(p.cost, p.quality) for p in points], *report.c_range),
        apgr=apgr(xq, w.quality, s.quality),
        cpt50=cpt(xq, w.quality, s.quality, 0.5),
        cpt80=cpt(xq, w.quality, s.quality, 0.8),
    )


def strategy_outcome(test: OutcomeDataset, pick: Sequence[int] | np.ndarray) -> tuple[float, float]:
    """Mean quality and cost of routing each test row to the picked column."""
    pick = np.asarray(pick)
    rows = np.arange(len(test))
    return float(test.quality[rows, pick].mean()), float(test.cost[rows, pick].mean())
