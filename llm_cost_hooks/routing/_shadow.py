"""Learn the router from your own traffic: shadow mode, its outcome store, and a replay.

With :class:`ShadowMode` on ``RoutedChatModel`` (or the LiteLLM hook), a budgeted share of
requests is also answered by another tier after the chosen one; a judge you pass scores
both answers; the pair is written to an outcome table (:class:`ShadowStore`, a table in
your SQLite ledger file). ``llm-cost route train LEDGER --from-ledger`` then trains and
calibrates a router on those outcomes (:func:`outcomes_from_ledger`). The extra calls run
as their own route (``shadow:<tier>``), so the exploration spend shows apart in reports.

The outcome table holds the request's last user message (the router trains on it): shadow
mode is the opt-in to storing it. Nothing else of the conversation is kept.

:func:`simulate_shadow` replays a recorded outcome set as a stream that starts with no
labels, to see how many requests shadow mode needs before its router is as cheap as one
trained on every label.
"""

from __future__ import annotations

import logging
import math
import random
import sqlite3
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ConfigurationError
from ._data import OutcomeDataError, OutcomeDataset, _long_from_rows

if TYPE_CHECKING:
    from ..embeddings import Embedder

__all__ = ["ShadowMode", "ShadowStore", "outcomes_from_ledger", "simulate_shadow"]

logger = logging.getLogger("llm_cost_hooks.routing")

#: A judge scores each tier's answer to one request: ``judge(request, {tier: answer})``
#: returns ``{tier: quality in [0, 1]}`` (an LLM judge chain, exact match, a scorer).
Judge = Callable[[str, Mapping[str, str]], Mapping[str, float]]

_TABLE = "routing_outcomes"
_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
    request_id TEXT NOT NULL, ts TEXT NOT NULL, prompt TEXT NOT NULL, context TEXT,
    tier TEXT NOT NULL, model TEXT, quality REAL NOT NULL, cost_usd REAL NOT NULL, shadow INTEGER NOT NULL,
    propensity REAL, PRIMARY KEY (request_id, tier))"""
_COLUMNS = "request_id, ts, prompt, context, tier, model, quality, cost_usd, shadow, propensity"


class ShadowStore:
    """The outcome table in a SQLite file (use your ledger's file). Thread-safe.

    >>> import tempfile, os
    >>> store = ShadowStore(os.path.join(tempfile.mkdtemp(), "ledger.db"))
    >>> store.write("2+2?", None, {"small": (1.0, 1e-4, "gpt-4o-mini"), "large": (1.0, 1e-3, "gpt-4o")}, "large")
    True
    >>> store.count()
    2
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.failed = 0
        #: outcomes that could not be written (kept, newest 1000, and counted in ``failed``)
        self.set_aside: deque[dict[str, Any]] = deque(maxlen=1000)
        try:
            conn = self._connect()
            try:
                with conn:
                    conn.execute(_SCHEMA)
                    # Tables written before propensities were recorded gain the column; their
                    # rows keep NULL, which training reads as 1 (unweighted).
                    cols = {r[1] for r in conn.execute(f"PRAGMA table_info({_TABLE})")}
                    if "propensity" not in cols:
                        conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN propensity REAL")
            finally:
                conn.close()
        except sqlite3.Error as exc:  # SQLite's message does not say which file
            raise ConfigurationError(
                f"shadow outcome store {self.path} cannot be opened ({exc}); give a writable path "
                "in an existing directory."
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5.0)

    def write(
        self,
        prompt: str,
        context: str | None,
        outcomes: Mapping[str, tuple[float, float, str | None]],
        explored: str,
        propensity: float | None = None,
    ) -> bool:
        """Write one request's outcomes ``{tier: (quality, cost_usd, model)}``; ``explored``
        is the tier called only to learn; ``propensity`` the chance this request was to be
        shadowed (None: unknown, trained on as 1). False (logged, set aside) when the write
        failed."""
        rid = uuid.uuid4().hex
        ts = datetime.now(timezone.utc).isoformat()
        prop = None if propensity is None else float(propensity)
        rows = [
            (rid, ts, prompt, context, tier, model, float(q), float(c), int(tier == explored), prop)
            for tier, (q, c, model) in outcomes.items()
        ]
        try:
            with self._lock, self._connect() as conn:
                conn.executemany(f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES ({', '.join('?' * 10)})", rows)
            return True
        except sqlite3.Error as exc:
            self.failed += 1
            self.set_aside.append(
                {
                    "prompt": prompt,
                    "context": context,
                    "outcomes": dict(outcomes),
                    "explored": explored,
                    "propensity": prop,
                }
            )
            logger.warning(
                "llm-cost-hooks routing: shadow outcome not written to %s (%r); %d set aside so far",
                self.path,
                exc,
                self.failed,
            )
            return False

    def count(self) -> int:
        with self._lock, self._connect() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {_TABLE}").fetchone()[0])


@dataclass(frozen=True)
class _Exploration:
    """The chance one request is shadowed, by direction and labels recorded so far."""

    share: float
    cheap_share: float
    decay_after: int | None
    min_share: float

    def rate(self, upward: bool, labels: int) -> float:
        base = self.share if upward else self.cheap_share
        if self.decay_after is not None and labels > self.decay_after:
            # Labels past the warm-up are worth less each (the router's error falls as
            # about 1/sqrt(n)), so the share falls the same way, down to the floor.
            base *= math.sqrt(self.decay_after / labels)
        return max(base, min(self.min_share, self.share if upward else self.cheap_share))


#: The default exploration policy, measured on a stream of real outcomes (see the shadow
#: section of docs/routing-training.md): a request the cheap tier answered is checked
#: with the strong tier at ``DEFAULT_SHARE``, one the strong tier answered with the cheap
#: tier at ``DEFAULT_CHEAP_SHARE``. Cheap checks cost little, so they are taken more
#: often; the rarer dear checks then weigh less each, which keeps more effective rows
#: for the calibration at less spend than checking every strong answer.
DEFAULT_SHARE = 0.06
DEFAULT_CHEAP_SHARE = 0.3


def _shares(share: float | None, cheap_share: float | None) -> tuple[float, float]:
    """(share, cheap_share): the default policy when neither is given; a given ``share``
    alone applies in both directions."""
    if share is None:
        return DEFAULT_SHARE, _check_share(
            "cheap_share", DEFAULT_CHEAP_SHARE if cheap_share is None else cheap_share
        )
    share = _check_share("share", share)
    return share, share if cheap_share is None else _check_share("cheap_share", cheap_share)


def _check_share(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{name} must be between 0 and 1, got {value}.")
    return float(value)


class ShadowMode:
    """Ask a second tier for a budgeted share of requests and record the judged pair.

    ``share``: the chance a request is shadowed by a dearer tier than the one that
    answered; ``cheap_share``: the chance when the shadow tier is cheaper than the one
    that answered (a strong-tier request checked against a cheap tier costs the cheap
    call only; default: ``share`` when ``share`` is given). With neither given, the
    measured default policy applies: :data:`DEFAULT_SHARE` upward,
    :data:`DEFAULT_CHEAP_SHARE` downward. ``decay_after``: once this many outcomes are
    recorded, both shares fall as ``sqrt(decay_after / outcomes)`` (None: they stay);
    ``min_share``: the floor they fall to; ``budget_usd``: stop exploring once the
    shadow calls have cost this much (None: no cap); ``tier``: the tier to ask (default:
    the strongest tier when the chosen one is not it, else the cheapest); ``store``: a
    :class:`ShadowStore` or the path of your ledger file. A failing shadow call, judge or
    write never fails the user's request: it is logged and counted in :attr:`stats`.

    Each outcome is stored with its propensity, the chance its request was shadowed under
    the policy at that moment; training weighs it by the inverse, so the requests a rare
    share labels count for all those it did not.

    >>> import tempfile, os
    >>> shadow = ShadowMode(lambda q, answers: {t: float("4" in a) for t, a in answers.items()},
    ...                     share=1.0, store=os.path.join(tempfile.mkdtemp(), "ledger.db"))
    >>> shadow.pick("small", ["small", "large"])
    'large'
    """

    def __init__(
        self,
        judge: Judge,
        *,
        share: float | None = None,
        budget_usd: float | None = None,
        tier: str | None = None,
        store: ShadowStore | str | Path | None = None,
        seed: int | None = None,
        cheap_share: float | None = None,
        decay_after: int | None = None,
        min_share: float = 0.0,
    ) -> None:
        if not callable(judge):
            raise ConfigurationError(
                "ShadowMode needs a judge: judge(request, {tier: answer}) -> {tier: quality}."
            )
        share, cheap_share = _shares(share, cheap_share)
        min_share = _check_share("min_share", min_share)
        if decay_after is not None and decay_after < 1:
            raise ConfigurationError(f"decay_after must be >= 1 (or None), got {decay_after}.")
        if budget_usd is not None and budget_usd < 0:
            raise ConfigurationError(f"budget_usd must be >= 0, got {budget_usd}.")
        if store is None:
            raise ConfigurationError(
                "ShadowMode needs store=ShadowStore(path) or the path of your ledger file."
            )
        self.judge = judge
        self.share = share
        self.cheap_share = cheap_share
        self.decay_after = decay_after
        self.min_share = min_share
        self._policy = _Exploration(share, cheap_share, decay_after, min_share)
        self.budget_usd = budget_usd
        self.tier = tier
        self.store = store if isinstance(store, ShadowStore) else ShadowStore(store)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._order: tuple[str, ...] | None = None
        self.stats = {
            "shadowed": 0,
            "spent_usd": 0.0,
            "call_errors": 0,
            "judge_errors": 0,
            "written": 0,
            "write_errors": 0,
            "skipped_budget": 0,
        }

    def pick(self, chosen: str, order: Sequence[str]) -> str | None:
        """The tier to also ask for this request, or None (not sampled, or over budget).
        ``order`` lists the tiers from the cheapest to the strongest."""
        other = self.tier if self.tier is not None else (order[-1] if chosen != order[-1] else order[0])
        known = other in order and other != chosen
        upward = not (known and chosen in order and order.index(other) < order.index(chosen))
        with self._lock:
            self._order = tuple(order)
            rate = self._policy.rate(upward, int(self.stats["written"]))
        if rate <= 0.0 or self._rng.random() >= rate:
            return None
        with self._lock:
            if self.budget_usd is not None and self.stats["spent_usd"] >= self.budget_usd:
                self.stats["skipped_budget"] += 1
                return None
        return other if known else None

    def record(
        self,
        request: str,
        context: str | None,
        answers: Mapping[str, str],
        costs: Mapping[str, float],
        models: Mapping[str, str | None],
        explored: str,
        propensity: float | None = None,
        spent_usd: float | None = None,
    ) -> bool:
        """Judge the answers and write the outcomes; never raises. ``propensity``: the
        chance this request was shadowed (default: the policy's rate for this direction,
        tiers ordered as :meth:`pick` last saw them). ``spent_usd``: what the shadow call
        was billed, charged to ``budget_usd`` (default: its cost in ``costs``); a call a
        cache answered was billed nothing, while ``costs`` keeps what the tier costs on this
        request, which is what the router learns from."""
        spent = float(costs.get(explored, 0.0)) if spent_usd is None else float(spent_usd)
        with self._lock:
            self.stats["shadowed"] += 1
            self.stats["spent_usd"] += spent
        try:
            scores = self.judge(request, dict(answers))
            qualities = {t: float(scores[t]) for t in answers}
            if not all(0.0 <= q <= 1.0 for q in qualities.values()):
                raise ValueError(f"judge scores must be in [0, 1], got {qualities}")
        except Exception as exc:
            with self._lock:
                self.stats["judge_errors"] += 1
            # The type only: a judge's message may quote the request or the answers.
            logger.warning(
                "llm-cost-hooks routing: shadow judge failed (%s); outcome not recorded", type(exc).__name__
            )
            return False
        if propensity is None:
            propensity = self._propensity(answers, explored)
        ok = self.store.write(
            request,
            context,
            {t: (qualities[t], float(costs.get(t, 0.0)), models.get(t)) for t in answers},
            explored,
            propensity,
        )
        with self._lock:
            self.stats["written" if ok else "write_errors"] += 1
        return ok

    def _propensity(self, answers: Mapping[str, str], explored: str) -> float | None:
        """The policy's chance of shadowing a request answered by the other tier of
        ``answers`` with ``explored`` (None when the tiers' order is not known)."""
        with self._lock:
            order = self._order
            labels = int(self.stats["written"])
        served = [t for t in answers if t != explored]
        if order is None or len(served) != 1 or served[0] not in order or explored not in order:
            return None
        upward = order.index(explored) > order.index(served[0])
        rate = self._policy.rate(upward, labels)
        return rate if rate > 0.0 else None

    def call_failed(self, tier: str, error: BaseException) -> None:
        with self._lock:
            self.stats["call_errors"] += 1
        logger.warning(
            "llm-cost-hooks routing: shadow call to tier %r failed (%r); the user's answer is unaffected",
            tier,
            error,
        )


def outcomes_from_ledger(path: str | Path, *, tiers: Sequence[str] | None = None) -> OutcomeDataset:
    """The shadow outcomes recorded in a ledger file, as an :class:`OutcomeDataset`
    (requests with an outcome of every tier; others are dropped and counted). Each
    request's recorded propensity is in ``extra["propensity"]`` (None where the table
    predates it)."""
    p = Path(path)
    if not p.is_file():
        raise OutcomeDataError(f"{p}: no such ledger file.")
    try:
        with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            rows = [
                dict(r)
                for r in conn.execute(
                    "SELECT request_id AS prompt_id, prompt, context, tier AS model, quality, "
                    f"cost_usd AS cost, {_propensity_column(conn)} AS propensity FROM {_TABLE} ORDER BY ts"
                )
            ]
    except sqlite3.OperationalError as exc:
        raise OutcomeDataError(
            f"{p}: no shadow outcomes here ({exc}); run RoutedChatModel with "
            "shadow=ShadowMode(judge, store=THIS_FILE) first."
        ) from None
    except sqlite3.DatabaseError as exc:  # a CSV or another file given as the ledger
        raise OutcomeDataError(
            f"{p} is not a ledger file ({exc}); --from-ledger reads the SQLite file of "
            "ShadowMode(store=...). An outcome file (CSV, JSONL) is read without --from-ledger."
        ) from None
    if tiers:
        rows = [r for r in rows if r["model"] in set(tiers)]
    if not rows:
        raise OutcomeDataError(f"{p}: the shadow outcome table is empty.")
    props = {r["prompt_id"]: r.pop("propensity") for r in rows}
    data = _long_from_rows([(str(p), ["prompt_id", "prompt", "model", "quality", "cost", "context"], rows)])
    data.extra["propensity"] = [props.get(i) for i in data.ids or []]
    return data


def _propensity_column(conn: sqlite3.Connection) -> str:
    """The propensity column, or NULL for a table written before it existed (opened
    read-only, so it is not migrated here)."""
    cols = {r[1] for r in conn.execute(f"PRAGMA table_info({_TABLE})")}
    return "propensity" if "propensity" in cols else "NULL"


def _hull_cost_at(points: Sequence[tuple[float, float]], quality: float) -> float | None:
    """The least cost reaching ``quality`` on the lower convex hull of ``(quality, cost)``
    points: two operating points mixed by request (as a calibrated router mixes its two
    knobs), so one lucky or unlucky knob of a step curve does not decide the figure.

    >>> _hull_cost_at([(0.8, 0.1), (1.0, 1.0), (0.9, 0.9)], 0.9)
    0.55
    """
    best: float | None = None
    for qa, ca in points:
        if qa >= quality - 1e-12:
            best = ca if best is None else min(best, ca)
            continue
        for qb, cb in points:
            if qb >= quality - 1e-12 and qb > qa:
                c = ca + (cb - ca) * (quality - qa) / (qb - qa)
                best = c if best is None else min(best, c)
    return best


def simulate_shadow(
    data: OutcomeDataset,
    embedder: Embedder,
    *,
    seed: int = 0,
    share: float | None = None,
    target: Any = None,
    checkpoints: Sequence[int] = (100, 200, 400, 800),
    test_fraction: float = 0.3,
    kind: str = "ridge",
    cheap_share: float | None = None,
    decay_after: int | None = None,
    min_share: float = 0.0,
    retrain: Sequence[int] | None = None,
    ipw: bool = True,
    ipw_clip: float | None = None,
    doubly_robust: bool = False,
) -> dict[str, Any]:
    """Replay ``data`` (two or more tiers) as a stream that starts with no labels.

    The held-out ``test_fraction`` measures routers; the rest arrives in a random order.
    Until a router exists every request goes to the reference tier (``target.of``, default
    the best); requests are shadowed by :class:`ShadowMode`'s rule with the same
    ``share``, ``cheap_share``, ``decay_after`` and ``min_share`` (the same defaults), and the recorded
    outcomes of both tiers play the judge. The deployed router is retrained on the pairs
    seen so far at each of ``retrain`` (default: the checkpoints), as ``route train
    --from-ledger`` would: with ``ipw``, each pair weighs 1 / the chance its request was
    shadowed (see :func:`~._train.train_router`). At each checkpoint the current pairs'
    router is scored on the test rows: at its calibrated operating point (``quality_share``,
    ``router_cost_share``) and at the cheapest point of its curve that reaches the
    target quality (``curve_cost_share``, its knob swept on the test rows: what its
    ranking of requests is worth, apart from calibration), and the same on the curve's
    convex hull (``hull_cost_share``: two of those points mixed by request).
    ``exploration_share`` is the shadow calls' dollars per request seen, as a share of the
    reference tier's cost; ``total_share`` and ``curve_total_share`` add it.
    ``labels_below_1`` counts the pairs recorded with a propensity below 1 (they weigh more
    than one). ``served_share`` is what the stream's answers themselves cost so far (the
    deployed router's picks), per request, as a share of the reference tier's cost.
    ``full`` is the router trained on every stream row (every propensity 1), scored both ways.
    ``doubly_robust``: calibrate each stream router over every request seen so far, the
    unlabelled ones by their predicted outcomes (see :func:`~._train.train_router`); off
    by default, as ``route train --from-ledger`` (the ledger keeps the labelled requests
    only).

    >>> from llm_cost_hooks.routing import HashingEmbedder, OutcomeDataset
    >>> ds = OutcomeDataset(prompts=[f"question {i} " + ("hard" if i % 2 else "easy") for i in range(60)],
    ...     tiers=["small", "large"], quality=np.array([[i % 2 == 0, 1] for i in range(60)], dtype=float),
    ...     cost=np.tile([1e-4, 1e-3], (60, 1)))
    >>> run = simulate_shadow(ds, HashingEmbedder(64), checkpoints=(10, 20), share=0.5)
    >>> run["stream"], run["test_rows"], [p["requests"] for p in run["points"]]
    (42, 18, [10, 20])
    >>> round(run["full"]["quality_share"], 3), round(run["full"]["cost_share"], 3)
    (0.944, 0.4)
    """
    from ._strategies import QualityTarget, pick_tiers
    from ._train import evaluate_router, train_router

    target = target or QualityTarget(share=0.95)
    policy = _Exploration(
        *_shares(share, cheap_share),
        decay_after,
        _check_share("min_share", min_share),
    )
    stream_ds, test = data.split(test_fraction, seed=seed)
    ref = stream_ds.index(target.of) if getattr(target, "of", None) else stream_ds.index(stream_ds.strongest)
    order = [stream_ds.tiers[i] for i in np.argsort(stream_ds.tier_cost(), kind="stable")]
    rng = np.random.default_rng(seed)
    stream = rng.permutation(len(stream_ds))
    ref_test = test.index(stream_ds.tiers[ref])
    s_cost = float(test.cost[:, ref_test].mean())
    s_quality = float(test.quality[:, ref_test].mean())
    ref_stream_cost = float(stream_ds.cost[:, ref].mean())
    goal = float(getattr(target, "share", 0.95))

    def score(router: Any) -> tuple[float, float, float, float]:
        rep = evaluate_router(router, test, task_table=False, cascade=False)
        res = rep.result("saved-router")
        p = res.calibrated
        if p is None:
            raise OutcomeDataError("the saved router has no calibrated point on the test rows.")
        at = res.cheapest_at(goal * s_quality)
        hull = _hull_cost_at([(x.quality, x.cost) for x in res.points], goal * s_quality)
        return (
            p.quality / s_quality,
            p.cost / s_cost,
            (at.cost / s_cost if at else 1.0),
            (hull / s_cost if hull is not None else 1.0),
        )

    labelled: list[int] = []
    propensity: list[float] = []
    spent = served = 0.0
    pick: np.ndarray | None = None
    points = []
    marks = sorted(c for c in checkpoints if c <= len(stream))
    retrain_at = set(marks if retrain is None else retrain)
    for t, i in enumerate(stream, start=1):
        chosen = stream_ds.tiers[ref] if pick is None else stream_ds.tiers[int(pick[i])]
        other = order[-1] if chosen != order[-1] else order[0]
        upward = order.index(other) > order.index(chosen)
        served += float(stream_ds.cost[i, stream_ds.index(chosen)])
        rate = policy.rate(upward, len(labelled))
        if rng.random() < rate and other != chosen:
            spent += float(stream_ds.cost[i, stream_ds.index(other)])
            labelled.append(int(i))
            propensity.append(rate)
        if t not in marks and t not in retrain_at:
            continue
        router = None
        if len(labelled) >= 20:
            seen = stream_ds.subset(labelled)
            seen.extra["propensity"] = list(propensity)
            if doubly_robust:
                _add_unlabelled(seen, stream_ds, stream[:t], labelled)
            router = train_router(
                seen,
                embedder,
                target=target,
                kind=kind,  # type: ignore[arg-type]
                ipw=ipw,
                ipw_clip=ipw_clip,
                doubly_robust=doubly_robust,
            )
            if t in retrain_at:
                q, c = router.predict_texts(stream_ds.prompts)
                assert router.operating_point is not None
                pick = pick_tiers(q, c, router.operating_point, stream_ds.prompts)
        if t in marks:
            entry: dict[str, Any] = {
                "requests": t,
                "labels": len(labelled),
                "labels_below_1": sum(p < 1.0 for p in propensity),
            }
            got = score(router) if router is not None else (1.0, 1.0, 1.0, 1.0)  # else: the reference alone
            entry["quality_share"], entry["router_cost_share"], entry["curve_cost_share"] = got[:3]
            entry["hull_cost_share"] = got[3]
            entry["exploration_share"] = spent / t / ref_stream_cost
            entry["served_share"] = served / t / ref_stream_cost
            entry["total_share"] = entry["router_cost_share"] + entry["exploration_share"]
            entry["curve_total_share"] = entry["curve_cost_share"] + entry["exploration_share"]
            entry["hull_total_share"] = entry["hull_cost_share"] + entry["exploration_share"]
            if router is not None:
                op = router.operating_point
                entry["calibration_rows_effective"] = router.model.info.get(
                    "calibration_rows_effective", float(len(labelled))
                )
                entry["optimism"] = op.optimism if op is not None else 0.0
            points.append(entry)
    full_router = train_router(stream_ds, embedder, target=target, kind=kind)  # type: ignore[arg-type]
    fq, fc, fcurve, fhull = score(full_router)
    return {
        "points": points,
        "full": {"quality_share": fq, "cost_share": fc, "curve_cost_share": fcurve, "hull_cost_share": fhull},
        "stream": len(stream),
        "test_rows": len(test),
        "share": policy.share,
        "policy": {
            "share": policy.share,
            "cheap_share": policy.cheap_share,
            "decay_after": policy.decay_after,
            "min_share": policy.min_share,
        },
        "labels": len(labelled),
        "ipw": ipw,
        "ipw_clip": ipw_clip,
        "doubly_robust": doubly_robust,
    }


def _add_unlabelled(
    labelled_ds: OutcomeDataset, stream_ds: OutcomeDataset, arrived: np.ndarray, labelled: Sequence[int]
) -> None:
    """Give the labelled rows the requests that arrived without a label (their texts and
    contexts), for the doubly robust calibration of :func:`~._train.train_router`."""
    done = set(labelled)
    rest = [int(i) for i in arrived if int(i) not in done]
    labelled_ds.extra["unlabelled"] = tuple(stream_ds.prompts[i] for i in rest)
    contexts = stream_ds.extra.get("contexts")
    if contexts is not None:
        labelled_ds.extra["unlabelled_contexts"] = tuple(contexts[i] for i in rest)
