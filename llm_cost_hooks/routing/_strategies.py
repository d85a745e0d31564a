"""Routing strategies: which tier answers a request, and why. Framework-free.

A strategy looks at a :class:`RouteRequest` (the request's text, size and run metadata)
and returns a :class:`RouteDecision`: the tier to call first, the reason, and the tiers
to escalate to if the answer fails a check or the tier errors (a cascade).
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._errors import ConfigurationError, RouterModelError
from .._lazy import require
from .._options import ConfigModel

if TYPE_CHECKING:
    import numpy as np

    from ..embeddings import Embedder  # numpy is imported lazily: RoutedChatModel with rules needs none of it
    from ._data import OutcomeDataset
    from ._model import RouterModel
    from ._scorer import AnswerScorer

logger = logging.getLogger("llm_cost_hooks.routing")

__all__ = [
    "BudgetTarget",
    "Cascade",
    "CascadePoint",
    "FixedTier",
    "OperatingPoint",
    "QualityFloor",
    "QualityTarget",
    "RouteDecision",
    "RouteRequest",
    "RouterCascade",
    "RoutingStrategy",
    "Rule",
    "RuleRouter",
    "TrainedRouter",
    "calibrate_router_cascade",
    "choose_tiers",
    "pick_tiers",
]


@dataclass(frozen=True)
class RouteRequest:
    """What a strategy sees of one request.

    ``text`` is the whole conversation's text (rules measure its length and search it);
    ``query`` is the last user message (the trained router embeds it; default ``text``);
    ``metadata`` is the run metadata (``feature``, ``tenant_id`` ...); ``structured`` is
    True when the caller asked for tools or structured output; ``context`` is the turn
    before the last user message (what a short follow-up refers to).
    """

    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    structured: bool = False
    query: str | None = None
    context: str | None = None

    @property
    def query_text(self) -> str:
        return self.text if self.query is None else self.query

    @property
    def feature(self) -> str | None:
        f = self.metadata.get("feature")
        return None if f is None else str(f)


@dataclass(frozen=True)
class RouteDecision:
    """The tier to call, why, and where to go next if it fails (cheap to strong).

    >>> decision = Cascade().route(RouteRequest("Where is my card?"), ["small", "large"])
    >>> decision.tier, decision.escalation
    ('small', ('large',))
    >>> RouteDecision("small", "rule:default", escalation=("large",)).as_metadata()
    {'tier': 'small', 'reason': 'rule:default', 'escalation': ['large']}
    """

    tier: str
    reason: str
    escalation: tuple[str, ...] = ()
    scores: Mapping[str, float] | None = None

    def as_metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tier": self.tier, "reason": self.reason}
        if self.escalation:
            out["escalation"] = list(self.escalation)
        return out


class RoutingStrategy:
    """Base class: override :meth:`route`. ``tiers`` are ordered cheapest first.

    >>> class ShortToSmall(RoutingStrategy):
    ...     def route(self, request, tiers):
    ...         if len(request.text) < 40:
    ...             return RouteDecision(tiers[0], "short", escalation=tuple(tiers[1:]))
    ...         return RouteDecision(tiers[-1], "long")
    >>> [ShortToSmall().route(RouteRequest(t), ["small", "large"]).tier
    ...  for t in ("2+2?", "Summarise this contract clause by clause, please.")]
    ['small', 'large']
    """

    def route(self, request: RouteRequest, tiers: Sequence[str]) -> RouteDecision:  # pragma: no cover
        raise NotImplementedError

    def check_tiers(self, tiers: Sequence[str]) -> None:
        """Raise :class:`ConfigurationError` if this strategy names a tier not in ``tiers``."""


def _need(tier: str, tiers: Sequence[str], what: str) -> None:
    if tier not in tiers:
        raise ConfigurationError(f"{what} names tier {tier!r}, which is not one of the tiers {list(tiers)}.")


class FixedTier(RoutingStrategy):
    """Always the same tier (a baseline, or the start of a cascade).

    >>> FixedTier("small").route(RouteRequest("hi"), ["small", "large"]).tier
    'small'
    """

    def __init__(self, tier: str) -> None:
        self.tier = tier

    def route(self, request: RouteRequest, tiers: Sequence[str]) -> RouteDecision:
        return RouteDecision(self.tier, f"fixed:{self.tier}")

    def check_tiers(self, tiers: Sequence[str]) -> None:
        _need(self.tier, tiers, "FixedTier")


class Rule(ConfigModel):
    """One rule: when every given condition holds, use ``tier``.

    Conditions: ``feature`` (run metadata ``feature`` is one of these), ``metadata``
    (exact key/value matches), ``keywords`` (any word/phrase, case-insensitive, whole
    words), ``min_chars`` / ``max_chars`` (length of the request text), ``structured``.

    >>> Rule(tier="small", feature=["classification"]).feature
    ['classification']
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: str
    name: str | None = None
    feature: list[str] | None = None
    metadata: dict[str, str] | None = None
    keywords: list[str] | None = None
    min_chars: int | None = Field(default=None, ge=0)
    max_chars: int | None = Field(default=None, ge=0)
    structured: bool | None = None

    @model_validator(mode="after")
    def _some_condition(self) -> Rule:
        if all(
            getattr(self, f) is None
            for f in ("feature", "metadata", "keywords", "min_chars", "max_chars", "structured")
        ):
            raise ValueError(
                f"rule for tier {self.tier!r} has no condition; give feature, keywords, min_chars, ..."
            )
        return self

    def label(self) -> str:
        if self.name:
            return self.name
        parts = []
        if self.feature is not None:
            parts.append(f"feature={'|'.join(self.feature)}")
        if self.metadata:
            parts.extend(f"{k}={v}" for k, v in self.metadata.items())
        if self.keywords:
            parts.append("keyword")
        if self.min_chars is not None:
            parts.append(f"chars>={self.min_chars}")
        if self.max_chars is not None:
            parts.append(f"chars<={self.max_chars}")
        if self.structured is not None:
            parts.append(f"structured={self.structured}")
        return ",".join(parts)


class RuleRouter(RoutingStrategy):
    """First matching rule wins; otherwise ``default``. Microseconds per decision.

    >>> r = RuleRouter([Rule(tier="small", feature=["classification"]),
    ...                 Rule(tier="large", keywords=["prove", "step by step"]),
    ...                 Rule(tier="large", min_chars=4000)], default="small")
    >>> r.route(RouteRequest("Prove that 2 is prime"), ["small", "large"]).reason
    'rule:keyword'
    """

    def __init__(self, rules: Sequence[Rule | Mapping[str, Any]], default: str) -> None:
        self.rules = [r if isinstance(r, Rule) else Rule(**r) for r in rules]
        self.default = default
        self._compiled: list[tuple[Rule, re.Pattern[str] | None, frozenset[str] | None, str]] = []
        for r in self.rules:
            pattern = None
            if r.keywords:
                words = sorted((re.escape(k.strip()) for k in r.keywords if k.strip()), key=len, reverse=True)
                if words:
                    pattern = re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE)
            self._compiled.append(
                (r, pattern, frozenset(r.feature) if r.feature is not None else None, "rule:" + r.label())
            )

    def check_tiers(self, tiers: Sequence[str]) -> None:
        _need(self.default, tiers, "RuleRouter default")
        for r in self.rules:
            _need(r.tier, tiers, f"rule {r.label()!r}")

    def route(self, request: RouteRequest, tiers: Sequence[str]) -> RouteDecision:
        text = request.text
        n = len(text)
        md = request.metadata
        for rule, pattern, features, label in self._compiled:
            if features is not None and md.get("feature") not in features:
                continue
            if rule.metadata and any(str(md.get(k)) != v for k, v in rule.metadata.items()):
                continue
            if rule.min_chars is not None and n < rule.min_chars:
                continue
            if rule.max_chars is not None and n > rule.max_chars:
                continue
            if rule.structured is not None and request.structured != rule.structured:
                continue
            if pattern is not None and pattern.search(text) is None:
                continue
            return RouteDecision(rule.tier, label)
        return RouteDecision(self.default, "rule:default")


# -- trained router --------------------------------------------------------------------------
def choose_tiers(q: np.ndarray, c: np.ndarray, knob: float, mode: str = "utility") -> np.ndarray:
    """Vectorised decision for predictions ``q``/``c`` (n, tiers): column index per row.

    ``utility``: maximise ``q - knob * c`` (``knob`` = quality points one would pay a
    dollar for; 0 = best quality, large = cheapest). ``threshold``: the cheapest tier
    whose predicted quality is at least ``knob`` (else the best predicted).

    >>> import numpy as np
    >>> q = np.array([[0.9, 0.95], [0.3, 0.9]])  # predicted quality: rows x (small, large)
    >>> c = np.array([[1e-4, 1e-3], [1e-4, 1e-3]])  # predicted dollars
    >>> choose_tiers(q, c, knob=100.0).tolist(), choose_tiers(q, c, knob=0.8, mode="threshold").tolist()
    ([0, 1], [0, 1])
    """
    import numpy as np

    if mode == "utility":
        return np.asarray(np.argmax(q - knob * c, axis=1))
    if mode == "threshold":
        order = np.argsort(c, axis=1, kind="stable")
        ok = np.take_along_axis(q, order, axis=1) >= knob
        first = np.argmax(ok, axis=1)
        pick = np.take_along_axis(order, first[:, None], axis=1)[:, 0]
        return np.where(ok.any(axis=1), pick, np.argmax(q, axis=1))
    raise ConfigurationError(f"unknown mode {mode!r}; use 'utility' or 'threshold'.")


def knob_grid(c: np.ndarray, mode: str, n: int = 80) -> np.ndarray:
    """Knob values sweeping from best quality to cheapest for predictions' cost scale."""
    import numpy as np

    if mode == "threshold":
        return np.linspace(1.0, 0.0, n)
    scale = float(np.median(c[c > 0])) if np.any(c > 0) else 1.0
    return np.concatenate([[0.0], np.geomspace(1e-3, 1e4, n - 1) / scale])


class QualityTarget(ConfigModel):
    """Calibrate to reach ``share`` of the quality of tier ``of`` (default: the strongest).

    ``confidence`` above 0.5 asks for a one-sided lower confidence bound: on the
    calibration rows, the per-request gap ``quality(routed) - share x quality(of)`` must
    have a mean whose lower bound (``z(confidence)`` standard errors below it) is at least 0,
    so that new traffic of the same kind reaches the share with that probability. 0.5 aims
    at the share exactly. ``horizon`` is the number of requests the promise is judged on (a
    day's traffic, a test file): the sampling noise of that many requests is added to the
    bound; None judges the long-run mean only.
    """

    model_config = ConfigDict(frozen=True)
    share: float = Field(default=0.95, gt=0, le=1.5)
    of: str | None = None
    confidence: float = Field(default=0.5, ge=0.5, lt=1.0)
    horizon: int | None = Field(default=None, ge=1)

    def label(self, of: str) -> str:
        """How an operating point names this target (parsed back by ``route eval``)."""
        out = f"quality>={self.share:g}x{of}"
        if self.confidence > 0.5:
            out += f"@{self.confidence:g}"
            if self.horizon is not None:
                out += f"/{self.horizon}"
        return out

    def margin(self, sd: float, n: float, horizon_sd: float | None = None) -> float:
        """How far above the share the calibration mean gap must be: ``z`` standard errors
        of the calibration mean (``n`` rows, or their effective number when weighted),
        plus the horizon's sampling noise (per-request spread ``horizon_sd``, default ``sd``)."""
        from statistics import NormalDist

        if self.confidence <= 0.5 or n < 2:
            return 0.0
        hsd = sd if horizon_sd is None else horizon_sd
        var = sd**2 / n + (hsd**2 / self.horizon if self.horizon else 0.0)
        return float(NormalDist().inv_cdf(self.confidence) * math.sqrt(var))


class BudgetTarget(ConfigModel):
    """Calibrate to the best quality whose mean cost is at most ``usd_per_request``."""

    model_config = ConfigDict(frozen=True)
    usd_per_request: float = Field(gt=0)


class OperatingPoint(BaseModel):
    """A chosen knob value and what it achieved on the calibration data.

    With ``knob_b``, the point lies on the convex hull between two knobs (RouterBench's
    hull is reachable by mixing): a request uses ``knob_b`` when a stable hash of its
    text falls below ``mix`` (so the same request always routes the same way), else
    ``knob``.

    :func:`~llm_cost_hooks.routing.train_router` calibrates one (``router.operating_point``):

    >>> point = OperatingPoint(knob=100.0, quality=0.9, cost=0.0005, target="quality>=0.9", met=True)
    >>> point.knob_for("2+2?")
    100.0
    >>> point.model_copy(update={"knob_b": 5.0, "mix": 1.0}).knob_for("2+2?")
    5.0
    """

    knob: float
    mode: Literal["utility", "threshold"] = "utility"
    quality: float
    cost: float
    target: str
    met: bool
    knob_b: float | None = None
    mix: float = Field(default=0.0, ge=0.0, le=1.0)
    #: For a quality target: the lower confidence bound of the mean quality it promises.
    quality_low: float | None = None
    #: For a quality target above confidence 0.5: the quality points taken off the
    #: calibration rows' gap for the optimism of choosing on them (see ``calibrate_points``).
    optimism: float = 0.0

    def knob_for(self, text: str) -> float:
        """The knob this request uses."""
        if self.knob_b is None or self.mix <= 0.0:
            return self.knob
        return self.knob_b if request_hash(text) < self.mix else self.knob


def request_hash(text: str) -> float:
    """A stable number in [0, 1) per request text (for hull mixing)."""
    import zlib

    return zlib.crc32(text.encode("utf-8", "surrogatepass")) / 4294967296.0


def pick_tiers(q: np.ndarray, c: np.ndarray, point: OperatingPoint, texts: Sequence[str]) -> np.ndarray:
    """Column index per row at an operating point (with its hull mixing).

    >>> import numpy as np
    >>> q = np.array([[0.9, 0.95], [0.3, 0.9]])
    >>> c = np.array([[1e-4, 1e-3], [1e-4, 1e-3]])
    >>> point = OperatingPoint(knob=100.0, quality=0.9, cost=0.0005, target="quality>=0.9", met=True)
    >>> pick_tiers(q, c, point, ["2+2?", "prove it"]).tolist()
    [0, 1]
    """
    import numpy as np

    pick = choose_tiers(q, c, point.knob, point.mode)
    if point.knob_b is not None and point.mix > 0.0:
        other = choose_tiers(q, c, point.knob_b, point.mode)
        use_b = np.array([request_hash(t) < point.mix for t in texts], dtype=bool)
        pick = np.where(use_b, other, pick)
    return pick


def calibrate_points(
    q_true: np.ndarray,
    c_true: np.ndarray,
    q_pred: np.ndarray,
    c_pred: np.ndarray,
    tiers: Sequence[str],
    target: QualityTarget | BudgetTarget,
    mode: str = "utility",
    *,
    mix: bool = True,
    texts: Sequence[str] | None = None,
    weights: np.ndarray | Sequence[float] | None = None,
    unlabelled: tuple[np.ndarray, np.ndarray] | None = None,
    unlabelled_texts: Sequence[str] | None = None,
) -> OperatingPoint:
    """Pick the operating point on held-out outcomes (any number of tiers).

    The knob is swept over the predictions; with ``mix`` the target may be met by mixing
    two knobs next to each other on the upper convex hull of the swept (cost, quality)
    points (cheaper than the first single knob that reaches it). For a
    :class:`QualityTarget` every candidate is judged by the lower confidence bound of its
    per-request quality gap (see :class:`QualityTarget`); with ``texts`` (the calibration
    requests) a mixed candidate is replayed with the exact request hashes that split
    traffic between its two knobs at run time, else by its expected per-request outcome.

    ``weights`` (one per row, e.g. 1 / the chance the row was labelled) make the rows a
    sample of the traffic they stand for: every mean is weighted, and the bound counts
    the rows' effective number (Kish: ``sum(w)**2 / sum(w**2)``), so unequal weights widen
    it. None (or equal weights) is the plain calibration.

    ``unlabelled`` (the predicted quality and cost of requests seen but not labelled, with
    their ``unlabelled_texts``) makes a quality target's estimate doubly robust: every
    request seen counts with its predicted outcome, and each labelled row adds its
    prediction's error times its weight (``weights`` must then be 1 / the chance each row
    was labelled). The mean is unbiased when either the weights or the predictions are
    right, and the bound counts every request seen; its spread is that of the weighted
    prediction errors, so it is narrower than the weighted outcomes' only as far as the
    predictions explain the outcomes (little, for right/wrong answers a router predicts
    weakly).
    """
    import numpy as np

    from ._metrics import nondecreasing_hull

    if unlabelled is not None and isinstance(target, QualityTarget):
        return _calibrate_doubly_robust(
            q_true,
            c_true,
            q_pred,
            c_pred,
            tiers,
            target,
            mode,
            mix,
            texts,
            weights,
            unlabelled,
            unlabelled_texts,
        )
    w = _row_weights(weights, len(q_true))
    rows = np.arange(len(q_true))
    knobs = [float(k) for k in knob_grid(c_pred, mode)]
    picks = [choose_tiers(q_pred, c_pred, k, mode) for k in knobs]
    if isinstance(target, QualityTarget):
        return _calibrate_quality(q_true, c_true, picks, knobs, tiers, target, mode, mix, texts, w)
    points = [(k, _wmean(q_true[rows, p], w), _wmean(c_true[rows, p], w)) for k, p in zip(knobs, picks)]
    label = f"cost<={target.usd_per_request:g}"
    ok = [p for p in points if p[2] <= target.usd_per_request]
    single = max(ok, key=lambda p: (p[1], -p[2])) if ok else min(points, key=lambda p: (p[2], -p[1]))
    best = OperatingPoint(
        knob=single[0],
        mode=cast(Literal["utility", "threshold"], mode),
        quality=single[1],
        cost=single[2],
        target=label,
        met=bool(ok),
    )
    if not mix or not ok:
        return best
    knob_at: dict[tuple[float, float], float] = {}
    for k, qq, cc in points:
        knob_at.setdefault((cc, qq), k)
    hull = nondecreasing_hull([(cc, qq) for _, qq, cc in points])
    for (c0, q0), (c1, q1) in itertools.pairwise(hull):
        if not c0 < target.usd_per_request <= c1:
            continue
        share = (target.usd_per_request - c0) / (c1 - c0)
        quality = q0 + share * (q1 - q0)
        if quality > best.quality:
            return best.model_copy(
                update={
                    "knob": knob_at[(c0, q0)],
                    "knob_b": knob_at[(c1, q1)],
                    "mix": float(share),
                    "quality": quality,
                    "cost": c0 + share * (c1 - c0),
                }
            )
        break
    return best


def _calibrate_doubly_robust(
    q_true: np.ndarray,
    c_true: np.ndarray,
    q_pred: np.ndarray,
    c_pred: np.ndarray,
    tiers: Sequence[str],
    target: QualityTarget,
    mode: str,
    mix: bool,
    texts: Sequence[str] | None,
    weights: np.ndarray | Sequence[float] | None,
    unlabelled: tuple[np.ndarray, np.ndarray],
    unlabelled_texts: Sequence[str] | None,
) -> OperatingPoint:
    """:func:`calibrate_points` for a quality target over every request seen (AIPW).

    Each request gets a pseudo-outcome per tier, its prediction plus, when labelled, the
    prediction's error times the row's weight; the candidates are judged on the plain mean
    and spread of those over all requests seen. The spread of the outcomes themselves
    (for the ``horizon`` term) comes from the labelled rows, weighted."""
    import numpy as np

    n = len(q_true)
    qu, cu = (np.asarray(a, dtype=np.float64) for a in unlabelled)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise ConfigurationError(f"got {len(w)} weights for {n} calibration rows.")
    if not np.all(np.isfinite(w)) or np.any(w < 1.0):
        raise ConfigurationError("doubly robust calibration weights are 1 / propensity: finite and >= 1.")
    if qu.shape[1:] != q_pred.shape[1:] or cu.shape != qu.shape:
        raise ConfigurationError("unlabelled predictions must have the labelled rows' tiers.")
    if unlabelled_texts is not None and len(unlabelled_texts) != len(qu):
        raise ConfigurationError(f"got {len(unlabelled_texts)} texts for {len(qu)} unlabelled rows.")
    # The router picks by its own predictions; the pseudo-outcomes start from them, clipped
    # (a pruned tier predicts -1 and is never picked).
    q_all = np.vstack([q_pred, qu])
    c_all = np.vstack([c_pred, cu])
    q_dr = np.clip(q_all, 0.0, 1.0)
    c_dr = c_all.copy()
    q_dr[:n] += w[:, None] * (q_true - q_dr[:n])
    c_dr[:n] += w[:, None] * (c_true - c_dr[:n])
    ref = tiers.index(target.of) if target.of else int(np.argmax(np.average(q_true, axis=0, weights=w)))
    # Outcomes are known on the labelled rows only: weight 0 elsewhere.
    spread = (np.vstack([q_true, np.zeros_like(qu)]), np.concatenate([w, np.zeros(len(qu))]))
    all_texts = None if texts is None or unlabelled_texts is None else [*texts, *unlabelled_texts]
    knobs = [float(k) for k in knob_grid(c_all, mode)]
    picks = [choose_tiers(q_all, c_all, k, mode) for k in knobs]
    return _calibrate_quality(
        q_dr, c_dr, picks, knobs, tiers, target, mode, mix, all_texts, None, spread, ref
    )


def _row_weights(weights: np.ndarray | Sequence[float] | None, n: int) -> np.ndarray | None:
    """Validated calibration weights, or None when they are absent or all equal (the
    unweighted arithmetic then runs unchanged)."""
    import numpy as np

    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != n:
        raise ConfigurationError(f"got {len(w)} weights for {n} calibration rows.")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ConfigurationError("calibration weights must be finite and > 0.")
    return None if np.all(w == w[0]) else w


def _wmean(x: np.ndarray, w: np.ndarray | None) -> float:
    return float(x.mean()) if w is None else float((x * w).sum() / w.sum())


def effective_rows(w: np.ndarray) -> float:
    """Kish's effective number of rows of weights ``w``: ``sum(w)**2 / sum(w**2)``."""
    import numpy as np

    return float(w.sum() ** 2 / np.sum(w**2))


def _wstats(x: np.ndarray, w: np.ndarray | None) -> tuple[float, float, float]:
    """(mean, standard deviation, number of rows) of ``x``; weighted: the weighted mean,
    the weighted spread and Kish's effective number of rows, ``sum(w)**2 / sum(w**2)``."""
    import numpy as np

    n = len(x)
    if w is None:
        return float(x.mean()), (float(x.std(ddof=1)) if n > 1 else 0.0), float(n)
    n_eff = effective_rows(w)
    mean = float(np.average(x, weights=w))
    var = float(np.average((x - mean) ** 2, weights=w))
    if n_eff > 1:
        var *= n_eff / (n_eff - 1)
    return mean, math.sqrt(var), n_eff


# Mixing shares tried between two neighbouring hull knobs.
_MIX_GRID = 50


# (mean cost, mean quality, lower bound of the mean gap, knob index, knob_b index, mix share)
_Candidate = tuple[float, float, float, int, int, float]


@dataclass(frozen=True)
class _Outcomes:
    """The labelled outcomes behind pseudo-outcomes: each candidate's quality per row, the
    floor, and row weights (0 where unlabelled), for the spread of real requests."""

    qs: list[np.ndarray]
    floor: np.ndarray
    w: np.ndarray

    def part(self, mask: np.ndarray) -> _Outcomes:
        return _Outcomes([x[mask] for x in self.qs], self.floor[mask], self.w[mask])

    def sd(self, ia: int, ib: int, m: float) -> float:
        """The per-request spread of the gap of a candidate, hash-split noise included."""
        if not self.w.any():
            return 0.0
        gap = (1 - m) * self.qs[ia] + m * self.qs[ib] - self.floor
        _, sd, _ = _wstats(gap, self.w)
        split = m * (1 - m) * _wmean((self.qs[ia] - self.qs[ib]) ** 2, self.w) if m > 0.0 else 0.0
        return math.sqrt(sd**2 + split)


def _calibrate_quality(
    q_true: np.ndarray,
    c_true: np.ndarray,
    picks: list[np.ndarray],
    knobs: list[float],
    tiers: Sequence[str],
    target: QualityTarget,
    mode: str,
    mix: bool,
    texts: Sequence[str] | None,
    w: np.ndarray | None = None,
    spread: tuple[np.ndarray, np.ndarray] | None = None,
    ref: int | None = None,
) -> OperatingPoint:
    """The cheapest candidate (single knob or a mix of two) whose quality gap to
    ``share x reference`` has a lower confidence bound of at least 0.

    A mix is judged by its expected per-request outcome, so the choice does not favour a
    share whose hash split happened to be lucky on these rows; the quality and cost it
    reports are then those of the exact split by request hash (with ``texts``).

    Above confidence 0.5 the bound also pays for the choice itself: the cheapest passing
    candidate is the one whose calibration rows flattered it most, so the optimism of
    choosing (:func:`_choice_optimism`, measured by choosing on part of the rows and
    scoring on the rest) is taken off every candidate's gap first.

    With ``spread`` (outcomes and weights, 0 where unknown) the rows are pseudo-outcomes:
    their mean and its standard error come from them, the per-request spread of the
    horizon term from ``spread``; ``ref`` is then the reference tier's column."""
    import numpy as np

    rows = np.arange(len(q_true))
    if ref is None:
        ref = tiers.index(target.of) if target.of else int(np.argmax(q_true.mean(axis=0)))
    floor = target.share * q_true[:, ref]
    qs = [q_true[rows, p] for p in picks]
    cs = [c_true[rows, p] for p in picks]
    outcomes = None
    if spread is not None:
        outcomes = _Outcomes([spread[0][rows, p] for p in picks], target.share * spread[0][:, ref], spread[1])
    optimism = (
        _choice_optimism(qs, cs, floor, target, mix, texts, w, outcomes) if target.confidence > 0.5 else 0.0
    )
    best, ok = _best_candidate(qs, cs, floor + optimism, target, mix, w, outcomes)
    c, q, low, ia, ib, m = best
    single = ia == ib or m <= 0.0
    if not single and texts is not None:
        use_b = np.array([request_hash(t) < m for t in texts], dtype=bool)
        q = _wmean(np.where(use_b, qs[ib], qs[ia]), w)
        c = _wmean(np.where(use_b, cs[ib], cs[ia]), w)
    return OperatingPoint(
        knob=knobs[ia],
        knob_b=None if single else knobs[ib],
        mix=0.0 if single else m,
        mode=cast(Literal["utility", "threshold"], mode),
        quality=q,
        cost=c,
        target=target.label(tiers[ref]),
        met=ok,
        quality_low=low + _wmean(floor, w),
        optimism=optimism,
    )


def _best_candidate(
    qs: list[np.ndarray],
    cs: list[np.ndarray],
    floor: np.ndarray,
    target: QualityTarget,
    mix: bool,
    w: np.ndarray | None = None,
    outcomes: _Outcomes | None = None,
) -> tuple[_Candidate, bool]:
    """The cheapest candidate whose gap to ``floor`` has a lower bound of at least 0
    (else the one with the highest bound), and whether any does (``w``: row weights)."""
    import numpy as np

    from ._metrics import nondecreasing_hull

    cands: list[_Candidate] = []

    def add(ia: int, ib: int, m: float, keep: bool = True) -> float:
        q, c = (1 - m) * qs[ia] + m * qs[ib], (1 - m) * cs[ia] + m * cs[ib]
        mean, sd, n = _wstats(q - floor, w)
        # At run time a mix sends each request to one knob by its hash: the requests a
        # promise is judged on carry that coin's noise as well as the rows' own spread.
        if outcomes is not None:
            hsd = outcomes.sd(ia, ib, m)
        else:
            split = m * (1 - m) * _wmean((qs[ia] - qs[ib]) ** 2, w) if m > 0.0 else 0.0
            hsd = math.sqrt(sd**2 + split)
        low = mean - target.margin(sd, n if w is not None else int(n), hsd)
        if keep:
            cands.append((_wmean(c, w), _wmean(q, w), low, ia, ib, m))
        return low

    for i in range(len(qs)):
        add(i, i, 0.0)
    if mix:
        first: dict[tuple[float, float], int] = {}
        for i, (c, q, *_rest) in enumerate(list(cands)):
            first.setdefault((c, q), i)
        hull = nondecreasing_hull([(c, q) for c, q, *_rest in cands])
        for a, b in itertools.pairwise(hull):
            ia, ib = first[a], first[b]
            lo = 0.0
            for m in np.arange(1, _MIX_GRID) / _MIX_GRID:
                if add(ia, ib, float(m)) >= 0.0:
                    # The smallest feasible share (cost rises with it), to float precision.
                    hi = float(m)
                    for _ in range(40):
                        mid = (lo + hi) / 2
                        lo, hi = (lo, mid) if add(ia, ib, mid, keep=False) >= 0.0 else (mid, hi)
                    add(ia, ib, hi)
                    break
                lo = float(m)
    ok = [s for s in cands if s[2] >= -1e-12]
    best = min(ok, key=lambda s: (s[0], -s[1])) if ok else max(cands, key=lambda s: (s[2], -s[0]))
    return best, bool(ok)


# Parts the calibration rows are split into to measure the optimism of the choice.
_OPTIMISM_PARTS = 5


def _choice_optimism(
    qs: list[np.ndarray],
    cs: list[np.ndarray],
    floor: np.ndarray,
    target: QualityTarget,
    mix: bool,
    texts: Sequence[str] | None,
    w: np.ndarray | None = None,
    outcomes: _Outcomes | None = None,
) -> float:
    """How much the chosen candidate's mean gap flatters it, in quality points: per part
    of the rows, the candidate chosen on the other parts, its mean gap there minus on the
    part it did not see, averaged (floored at 0). Choosing on fewer rows flatters a little
    more, so this errs on the safe side. 0 with too few rows to split."""
    import numpy as np

    from ._model import fold_of

    n, k = len(floor), _OPTIMISM_PARTS
    if n < 4 * k:
        return 0.0
    part = np.array([fold_of(t, k) for t in texts]) if texts is not None else np.arange(n) % k
    seen = []
    for j in range(k):
        a, b = part != j, part == j
        if int(a.sum()) < 2 or not b.any():
            continue
        (_, _, _, ia, ib, m), _ok = _best_candidate(
            [x[a] for x in qs],
            [x[a] for x in cs],
            floor[a],
            target,
            mix,
            None if w is None else w[a],
            None if outcomes is None else outcomes.part(a),
        )
        gap = (1 - m) * qs[ia] + m * qs[ib] - floor
        seen.append(_wmean(gap[a], None if w is None else w[a]) - _wmean(gap[b], None if w is None else w[b]))
    return max(float(np.mean(seen)), 0.0) if seen else 0.0


def _router_embedder(trained_with: str) -> Any:
    """The shipped embedder a router was trained with (by its saved name), else the
    router's default: MiniLM with int8 matmuls (0.66x the time of the cache's fp32 one)."""
    from ..embeddings import default_embedder
    from ..embeddings._onnx import embedder_named

    if trained_with.startswith("hashing-") and trained_with[8:].isdigit():
        from ._model import HashingEmbedder

        return HashingEmbedder(int(trained_with[8:]))
    if not trained_with:
        return default_embedder(int8_matmul=True)
    found = embedder_named(trained_with)
    if found is None:
        # Another embedder's vectors would be another policy: never swap one in silently.
        raise RouterModelError(
            f"the router was trained with embedder {trained_with!r}, which this version does not "
            "ship; pass it as TrainedRouter.load(directory, embedder=...), or retrain."
        )
    return found


#: The reason of a trained router's decision when it could not read the request.
FALLBACK_REASON = "trained:fallback"


class TrainedRouter(RoutingStrategy):
    """Embeds the request and asks a :class:`RouterModel` which tier is worth its price.

    ``tier_map`` maps your tier names to the router's (training data's) model names when
    they differ. The knob comes from :meth:`calibrate` (or ``knob=``). Only the tiers
    the chat model has are considered.

    >>> import numpy as np
    >>> from llm_cost_hooks.routing import OutcomeDataset, HashingEmbedder, RouterModel
    >>> ds = OutcomeDataset(prompts=["2+2?", "prove fermat"], tiers=["small", "large"],
    ...     quality=np.array([[1, 1], [0, 1.0]]), cost=np.array([[1e-4, 1e-3], [1e-4, 1e-3]]))
    >>> emb = HashingEmbedder(64)
    >>> router = TrainedRouter(RouterModel.fit(ds, emb), embedder=emb, knob=1000.0)
    >>> router.route(RouteRequest("2+2?"), ["small", "large"]).tier
    'small'
    """

    def __init__(
        self,
        model: RouterModel,
        *,
        embedder: Embedder | None = None,
        knob: float | None = None,
        mode: Literal["utility", "threshold"] = "utility",
        tier_map: Mapping[str, str] | None = None,
        max_chars: int = 2000,
    ) -> None:
        if embedder is None:
            embedder = _router_embedder(model.embedder_name)
        if model.embedder_name and embedder.name != model.embedder_name:
            raise ConfigurationError(
                f"router was trained with embedder {model.embedder_name!r}, got {embedder.name!r}."
            )
        self.model = model
        self.embedder = embedder
        self.mode = mode
        self.tier_map = dict(tier_map or {})
        self.max_chars = max_chars
        cal = model.info.get("operating_point")
        if knob is None and cal and cal.get("mode", "utility") == mode:
            knob = float(cal["knob"])
        self.knob = 0.0 if knob is None and mode == "utility" else (0.5 if knob is None else float(knob))
        self.operating_point: OperatingPoint | None = OperatingPoint(**cal) if cal else None

    @classmethod
    def load(cls, directory: str, *, embedder: Embedder | None = None, **kwargs: Any) -> TrainedRouter:
        require("numpy", "embed", "The trained router")
        from ._model import RouterModel

        model = RouterModel.load(directory, embedder=embedder)
        router = cls(
            model,
            embedder=embedder if embedder is not None else _router_embedder(model.embedder_name),
            **kwargs,
        )
        cal = model.info.get("operating_point")
        if kwargs.get("knob") is None and (cal is None or cal.get("mode", "utility") != router.mode):
            # Not the policy the file was calibrated to: say so rather than route quietly.
            logger.warning(
                "llm-cost-hooks routing: the router in %s has no calibrated operating point for mode %r; "
                "it routes with knob %s. Calibrate it (route train does) or pass knob=.",
                directory,
                router.mode,
                router.knob,
            )
        return router

    def _columns(self, tiers: Sequence[str]) -> tuple[list[str], list[int]]:
        names, cols = [], []
        for t in tiers:
            m = self.tier_map.get(t, t)
            if m in self.model.tiers:
                names.append(t)
                cols.append(self.model.tiers.index(m))
        return names, cols

    def check_tiers(self, tiers: Sequence[str]) -> None:
        names, _ = self._columns(tiers)
        if not names:
            raise ConfigurationError(
                f"none of the tiers {list(tiers)} is known to the router (it knows {self.model.tiers}); "
                "pass tier_map={your_tier: router_model_name}."
            )
        unknown = [t for t in tiers if t not in names]
        if unknown:
            logger.warning(
                "llm-cost-hooks routing: the trained router knows %s, so tiers %s are never chosen; "
                "pass tier_map={your_tier: router_model_name} or retrain with their outcomes.",
                self.model.tiers,
                unknown,
            )

    def features(self, texts: Sequence[str], contexts: Sequence[str | None] | None = None) -> np.ndarray:
        """The router's inputs for these request texts (the selected text's embedding and
        the template feature; the raw text's embedding for routers saved without one)."""
        from ._model import embed_texts

        selector = self.model.selector
        if selector is not None:
            return selector.features(self.embedder, texts, contexts)
        return embed_texts(self.embedder, texts, max_chars=self.max_chars)

    def predict_texts(
        self, texts: Sequence[str], contexts: Sequence[str | None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted quality and cost per tier of these requests, as :meth:`route` sees them."""
        from ._model import fold_of

        x = self.features(texts, contexts)
        folds = [fold_of(t, self.model.n_folds) for t in texts] if self.model.n_folds else None
        return self.model.predict(x, folds)

    def route(self, request: RouteRequest, tiers: Sequence[str]) -> RouteDecision:
        names, cols = self._columns(tiers)
        if not names:
            self.check_tiers(tiers)
        try:
            return self._route(request, names, cols)
        except ConfigurationError:
            raise
        except Exception as exc:
            # The router's own failure (its embedder, a request it cannot read) must not fail
            # the user's call: the dearest tier it knows answers, as without a router.
            logger.warning(
                "llm-cost-hooks routing: the trained router could not route a request (%s); "
                "it goes to tier %r",
                type(exc).__name__,
                names[-1],
            )
            return RouteDecision(names[-1], f"{FALLBACK_REASON}:{type(exc).__name__}")

    def _route(self, request: RouteRequest, names: list[str], cols: list[int]) -> RouteDecision:
        from ._model import fold_of

        text = request.query_text
        selector = self.model.selector
        if selector is not None:
            x = selector.feature_one(self.embedder, text, request.context)
        else:
            from ._text import embeddable

            x = self.embedder.embed_one(embeddable(text[: self.max_chars]))
        folds = [fold_of(text, self.model.n_folds)] if self.model.n_folds else None
        q, c = self.model.predict(x, folds)
        q, c = q[:, cols], c[:, cols]
        knob = self.knob
        op = self.operating_point
        if op is not None and op.knob_b is not None and op.mode == self.mode and op.knob == self.knob:
            knob = op.knob_for(text if selector is not None else text[: self.max_chars])
        j = int(choose_tiers(q, c, knob, self.mode)[0])
        scores = {n: round(float(v), 4) for n, v in zip(names, q[0])}
        return RouteDecision(names[j], f"trained:p={q[0, j]:.2f},knob={knob:.4g}", scores=scores)

    def calibrate(
        self,
        data: OutcomeDataset,
        target: QualityTarget | BudgetTarget,
        *,
        embeddings: np.ndarray | None = None,
        weights: np.ndarray | Sequence[float] | None = None,
    ) -> OperatingPoint:
        """Set the knob from held-out outcomes so the target is met at least cost
        (``weights``: one per row, see :func:`calibrate_points`)."""
        from ._model import fold_of

        cols = [self.model.tiers.index(t) for t in data.tiers if t in self.model.tiers]
        if len(cols) != len(data.tiers):
            raise ConfigurationError(
                f"calibration tiers {data.tiers} must all be router tiers {self.model.tiers}."
            )
        if embeddings is None:
            q, c = self.predict_texts(data.prompts)
        else:
            folds = [fold_of(t, self.model.n_folds) for t in data.prompts] if self.model.n_folds else None
            q, c = self.model.predict(embeddings, folds)
        point = calibrate_points(
            data.quality, data.cost, q[:, cols], c[:, cols], data.tiers, target, self.mode, weights=weights
        )
        self.knob = point.knob
        self.operating_point = point
        self.model.info["operating_point"] = point.model_dump()
        return point


# -- cascade and floor -------------------------------------------------------------------------
class Cascade(RoutingStrategy):
    """Start cheap (or where ``start`` says), escalate to the next tier on a failed check.

    ``start`` is a strategy or tier name (default: the cheapest tier); ``max_tiers``
    bounds how many tiers are tried. The checks themselves run in the chat model.

    >>> Cascade().route(RouteRequest("hi"), ["small", "mid", "large"]).escalation
    ('mid', 'large')
    """

    def __init__(
        self,
        start: RoutingStrategy | str | None = None,
        *,
        max_tiers: int | None = None,
        checks: Sequence[Any] = (),
    ) -> None:
        self.start = FixedTier(start) if isinstance(start, str) else start
        if max_tiers is not None and max_tiers < 1:
            raise ConfigurationError(f"max_tiers must be at least 1, got {max_tiers}.")
        self.max_tiers = max_tiers
        self.checks = list(checks)

    def check_tiers(self, tiers: Sequence[str]) -> None:
        if self.start is not None:
            self.start.check_tiers(tiers)

    def route(self, request: RouteRequest, tiers: Sequence[str]) -> RouteDecision:
        first = (
            self.start.route(request, tiers)
            if self.start is not None
            else RouteDecision(tiers[0], "cheapest")
        )
        i = list(tiers).index(first.tier)
        rest = tuple(tiers[i + 1 :])
        if self.max_tiers is not None:
            rest = rest[: self.max_tiers - 1]
        return RouteDecision(first.tier, f"cascade:{first.reason}", escalation=rest, scores=first.scores)


class QualityFloor:
    """Per feature, the cheapest tier allowed: requests are never routed below it.

    Give it directly (``QualityFloor({"legal": "large"})``) or compute it from
    outcomes with :meth:`from_outcomes`: the cheapest tier whose mean quality on that
    feature's rows reaches the floor.

    >>> f = QualityFloor({"legal": "large"})
    >>> f.apply(RouteDecision("small", "rule:default"), RouteRequest("x", {"feature": "legal"}), ["small", "large"]).tier
    'large'
    """

    def __init__(self, min_tier: Mapping[str, str] | None = None) -> None:
        self.min_tier = dict(min_tier or {})
        self.evidence: dict[str, dict[str, float]] = {}

    @classmethod
    def from_outcomes(
        cls, data: OutcomeDataset, floors: Mapping[str, float], *, tier_order: Sequence[str] | None = None
    ) -> QualityFloor:
        """``floors[feature]`` = minimum mean quality; ``tier_order`` cheapest first
        (default: by mean cost). A feature no tier satisfies gets the best tier."""
        import numpy as np

        if data.features is None:
            raise ConfigurationError("the calibration data has no feature column (eval_name/feature).")
        order = (
            list(tier_order)
            if tier_order
            else [data.tiers[i] for i in np.argsort(data.tier_cost(), kind="stable")]
        )
        feats = np.array([f if f is not None else "" for f in data.features], dtype=object)
        out = cls()
        for feature, floor in floors.items():
            mask = feats == feature
            if not mask.any():
                raise ConfigurationError(f"no calibration rows for feature {feature!r}.")
            qs = {t: float(data.quality[mask, data.index(t)].mean()) for t in order}
            chosen = next((t for t in order if qs[t] >= floor), max(order, key=lambda t: qs[t]))
            out.min_tier[feature] = chosen
            out.evidence[feature] = qs
        return out

    def check_tiers(self, tiers: Sequence[str]) -> None:
        for feature, tier in self.min_tier.items():
            _need(tier, tiers, f"quality floor for feature {feature!r}")

    def apply(self, decision: RouteDecision, request: RouteRequest, tiers: Sequence[str]) -> RouteDecision:
        floor = self.min_tier.get(request.feature or "") if request.feature is not None else None
        if floor is None:
            return decision
        order = list(tiers)
        if order.index(decision.tier) >= order.index(floor):
            return decision
        i = order.index(floor)
        esc = tuple(t for t in decision.escalation if order.index(t) > i)
        return RouteDecision(
            floor, f"{decision.reason}+floor:{request.feature}", escalation=esc, scores=decision.scores
        )


# -- router + cascade ----------------------------------------------------------------------------
class CascadePoint(BaseModel):
    """The two knobs of a :class:`RouterCascade` and what they achieved on the calibration data.

    A request whose router score (predicted chance the cheap tier answers it right) is
    below ``direct_below`` goes straight to the strong tier; the others start on the cheap
    tier, whose answer is kept when the answer check's score reaches ``accept_at`` and
    escalated otherwise. ``strong_share`` is the share of requests that call the strong
    tier (directly or escalated), ``direct_share`` those sent to it directly.

    >>> point = calibrate_router_cascade([1, 0, 1, 0], [1, 1, 1, 1], [0.1] * 4, [1.0] * 4,
    ...     [0.9, 0.1, 0.8, 0.85], [0.9, 0.1, 0.9, 0.2], QualityTarget(share=1.0))
    >>> point.met, point.quality, point.strong_share
    (True, 1.0, 0.5)
    """

    direct_below: float
    accept_at: float
    quality: float
    cost: float
    strong_share: float
    direct_share: float
    target: str
    met: bool


def _quality_goal(reference: np.ndarray, target: QualityTarget) -> float:
    """The quality to reach: ``share`` of the reference tier's mean, raised by the target's
    confidence margin on the spread of the reference's quality."""
    return target.share * float(reference.mean()) + target.margin(float(reference.std()), len(reference))


def _cuts(scores: np.ndarray, n: int) -> np.ndarray:
    """Candidate thresholds: ``n`` quantiles of the scores, plus one below and one above all."""
    import numpy as np

    lo, hi = float(scores.min()), float(scores.max())
    inner = np.quantile(scores, np.linspace(0.0, 1.0, n)) if len(scores) else np.zeros(0)
    return np.unique(np.concatenate([[lo - 1.0], inner, [hi + 1.0]]))


def replay_router_cascade(
    qw: np.ndarray,
    qs: np.ndarray,
    cw: np.ndarray,
    cs: np.ndarray,
    router_score: np.ndarray,
    answer_score: np.ndarray,
    direct_cuts: Sequence[float] | np.ndarray,
    accept_cuts: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Replay every (``direct_below``, ``accept_at``) pair on recorded outcomes: rows of
    ``(direct_below, accept_at, quality, cost, strong_share, direct_share)`` (means per request)."""
    import numpy as np

    n = len(qw)
    accept_cuts = np.asarray(accept_cuts, dtype=np.float64)
    # Sorted by the answer score, the escalated rows for any accept threshold are a prefix:
    # one cumulative sum per direct threshold replays every accept threshold at once.
    order = np.argsort(answer_score, kind="stable")
    k = np.searchsorted(answer_score[order], accept_cuts, side="left")
    qw, qs, cw, cs, rs = qw[order], qs[order], cw[order], cs[order], router_score[order]
    out = []
    for a in np.asarray(direct_cuts, dtype=np.float64):
        direct = rs < a
        keep_q, keep_c = np.where(direct, qs, qw), np.where(direct, cs, cw)
        gain_q = np.where(direct, 0.0, qs - qw)  # escalating a non-direct row: the strong answer,
        gain_c = np.where(direct, 0.0, cs)  # and the strong call on top of the cheap one
        gain_n = (~direct).astype(np.float64)
        cq, cc, cn = (np.concatenate([[0.0], np.cumsum(g)]) for g in (gain_q, gain_c, gain_n))
        block = np.empty((len(accept_cuts), 6))
        block[:, 0], block[:, 1] = a, accept_cuts
        block[:, 2] = (keep_q.sum() + cq[k]) / n
        block[:, 3] = (keep_c.sum() + cc[k]) / n
        block[:, 4] = (direct.sum() + cn[k]) / n
        block[:, 5] = direct.mean()
        out.append(block)
    return np.concatenate(out)


def calibrate_router_cascade(
    q_weak: Sequence[float] | np.ndarray,
    q_strong: Sequence[float] | np.ndarray,
    c_weak: Sequence[float] | np.ndarray,
    c_strong: Sequence[float] | np.ndarray,
    router_score: Sequence[float] | np.ndarray,
    answer_score: Sequence[float] | np.ndarray,
    target: QualityTarget | BudgetTarget,
    *,
    router_grid: int = 41,
    answer_grid: int = 101,
) -> CascadePoint:
    """Choose :class:`RouterCascade`'s two knobs jointly on held-out outcomes.

    Per calibration request: the recorded quality and cost of the cheap (``weak``) and the
    strong tier, the router's score (out-of-fold: from a router that did not see the row)
    and the answer check's score of the cheap tier's recorded answer (also out-of-fold).
    Every pair of thresholds on a grid of the scores' quantiles is replayed (a direct
    request costs the strong call; an escalated one both calls; the cheap call is paid
    whenever it is made). For a :class:`QualityTarget` (a share of the strong tier's
    quality; its ``of`` is not used) the cheapest pair that reaches it is chosen; for a :class:`BudgetTarget`
    the best quality within the budget. No target reachable: the best-quality point
    (or, for a budget, the cheapest), with ``met=False``.

    >>> p = calibrate_router_cascade([1, 0, 1, 0], [1, 1, 1, 1], [0.1] * 4, [1.0] * 4,
    ...     [0.9, 0.1, 0.8, 0.85], [0.9, 0.1, 0.9, 0.2], QualityTarget(share=1.0))
    >>> p.quality, p.strong_share, p.direct_share, p.met
    (1.0, 0.5, 0.25, True)
    """
    import numpy as np

    arrays = [
        np.asarray(a, dtype=np.float64)
        for a in (q_weak, q_strong, c_weak, c_strong, router_score, answer_score)
    ]
    n = len(arrays[0])
    if n == 0 or any(a.shape != (n,) for a in arrays):
        raise ConfigurationError(
            "calibrate_router_cascade needs six 1-d arrays of the same non-zero length, got "
            f"shapes {[a.shape for a in arrays]}."
        )
    if not all(np.isfinite(a).all() for a in arrays):
        raise ConfigurationError("calibrate_router_cascade: NaN or infinite values in the inputs.")
    qw, qs, cw, cs, rs, ans = arrays
    grid = replay_router_cascade(qw, qs, cw, cs, rs, ans, _cuts(rs, router_grid), _cuts(ans, answer_grid))
    rows = [tuple(float(v) for v in r) for r in grid]
    if isinstance(target, QualityTarget):
        goal = _quality_goal(qs, target)
        label = target.label("strong")
        ok = [r for r in rows if r[2] >= goal - 1e-12]
        best = min(ok, key=lambda r: (r[3], -r[2])) if ok else max(rows, key=lambda r: (r[2], -r[3]))
    else:
        label = f"cost<={target.usd_per_request:g}"
        ok = [r for r in rows if r[3] <= target.usd_per_request]
        best = max(ok, key=lambda r: (r[2], -r[3])) if ok else min(rows, key=lambda r: (r[3], -r[2]))
    return CascadePoint(
        direct_below=best[0],
        accept_at=best[1],
        quality=best[2],
        cost=best[3],
        strong_share=best[4],
        direct_share=best[5],
        target=label,
        met=bool(ok),
    )


class RouterCascade(RoutingStrategy):
    """A pre-call router and a cascade in one: requests the router is confident the cheap
    tier would get wrong go straight to the strong tier (no cheap call paid); the others
    start on the cheap tier and escalate when its answer fails the learned answer check.

    ``router`` is any strategy whose decisions carry per-tier ``scores`` (a
    :class:`TrainedRouter`: predicted chance of a good answer); its score for ``weak``
    below ``direct_below`` sends the request to ``strong``. The answer check is
    :attr:`checks` (pass it to ``RoutedChatModel(checks=...)``): ``scorer.check(accept_at)``
    judging only the ``weak`` tier's answers. Both knobs come from
    :func:`calibrate_router_cascade` (:meth:`from_point`).

    >>> class Scores(RoutingStrategy):
    ...     def route(self, request, tiers):
    ...         return RouteDecision(tiers[0], "x", scores={"small": 0.2 if "prove" in request.text else 0.9})
    >>> rc = RouterCascade(Scores(), weak="small", strong="large", direct_below=0.5)
    >>> [rc.route(RouteRequest(t), ["small", "large"]).tier for t in ("2+2?", "prove it")]
    ['small', 'large']
    """

    def __init__(
        self,
        router: RoutingStrategy,
        scorer: AnswerScorer | None = None,
        *,
        weak: str,
        strong: str,
        direct_below: float,
        accept_at: float | None = None,
    ) -> None:
        if weak == strong:
            raise ConfigurationError(f"weak and strong must be different tiers, got {weak!r} twice.")
        self.router = router
        self.scorer = scorer
        self.weak, self.strong = weak, strong
        self.direct_below = float(direct_below)
        self.accept_at = accept_at if accept_at is None else float(accept_at)

    @classmethod
    def from_point(
        cls,
        router: RoutingStrategy,
        scorer: AnswerScorer | None,
        point: CascadePoint,
        *,
        weak: str,
        strong: str,
    ) -> RouterCascade:
        """The strategy at a calibrated :class:`CascadePoint`."""
        return cls(
            router,
            scorer,
            weak=weak,
            strong=strong,
            direct_below=point.direct_below,
            accept_at=point.accept_at,
        )

    @property
    def checks(self) -> list[Any]:
        """The learned answer check on the cheap tier's answers (empty without a scorer)."""
        if self.scorer is None:
            return []
        return [self.scorer.check(self.accept_at, tiers=[self.weak])]

    def check_tiers(self, tiers: Sequence[str]) -> None:
        _need(self.weak, tiers, "RouterCascade weak")
        _need(self.strong, tiers, "RouterCascade strong")
        if list(tiers).index(self.weak) >= list(tiers).index(self.strong):
            raise ConfigurationError(
                f"RouterCascade: weak tier {self.weak!r} must be cheaper than {self.strong!r}."
            )
        self.router.check_tiers(tiers)
        # Said now, not on every request: without the weak tier's score no call can be routed.
        if isinstance(self.router, TrainedRouter) and self.weak not in self.router._columns(tiers)[0]:
            raise ConfigurationError(
                f"RouterCascade: the trained router has no prediction for weak tier {self.weak!r} "
                f"(it knows {self.router.model.tiers}); pass tier_map={{your_tier: router_model_name}}."
            )

    def route(self, request: RouteRequest, tiers: Sequence[str]) -> RouteDecision:
        d = self.router.route(request, tiers)
        p = (d.scores or {}).get(self.weak)
        if p is None and d.reason.startswith(FALLBACK_REASON):
            return RouteDecision(self.strong, f"router-cascade:{d.reason}")
        if p is None:
            raise ConfigurationError(
                f"RouterCascade: the router's decision has no score for tier {self.weak!r} "
                f"(scores: {d.scores}); use a TrainedRouter (tier_map=...)."
            )
        if p < self.direct_below:
            return RouteDecision(
                self.strong, f"router-cascade:direct,p={p:.2f}<{self.direct_below:.2f}", scores=d.scores
            )
        return RouteDecision(
            self.weak, f"router-cascade:cheap-first,p={p:.2f}", escalation=(self.strong,), scores=d.scores
        )
