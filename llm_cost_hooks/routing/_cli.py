"""``llm-cost route eval DATA`` and ``llm-cost route train DATA`` (argparse).

``llm_cost_hooks/cli.py`` calls :func:`add_route_commands` on its
subparsers; every command is also an importable function (:func:`route_eval`,
:func:`route_train`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError
from .._lazy import require

__all__ = ["add_route_commands", "route_eval", "route_train"]


def _embedder(name: str) -> Any:
    if name in ("default", "minilm-fp32"):
        from ..embeddings import default_embedder

        # The router's default runs MiniLM's matmuls in int8 (faster per request);
        # minilm-fp32 gives the semantic cache's exact vectors.
        return default_embedder(int8_matmul=name == "default")
    if name.startswith("hashing"):
        from ._model import HashingEmbedder

        dim = int(name.split("-", 1)[1]) if "-" in name else 256
        return HashingEmbedder(dim)
    raise ConfigurationError(
        f"unknown embedder {name!r}; use 'default' (MiniLM, int8 matmuls, offline), 'minilm-fp32' "
        "(the semantic cache's vectors) or 'hashing-256'."
    )


def _parse_pairs(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        model, sep, value = item.rpartition("=")
        if not sep or not model or not value:
            raise ConfigurationError(f"{what} {item!r}: expected MODEL=VALUE.")
        out[model] = value
    return out


def _prices(items: Sequence[str] | None) -> dict[str, tuple[float, float]]:
    """``MODEL=IN,OUT`` in dollars per million tokens -> dollars per token."""
    out = {}
    for model, value in _parse_pairs(items, "--price").items():
        try:
            pin, pout = (float(v) for v in value.split(","))
        except ValueError:
            raise ConfigurationError(
                f"--price {model}={value}: expected MODEL=INPUT,OUTPUT in dollars per million "
                "tokens, e.g. 'my-llama=0.2,0.6'."
            ) from None
        if pin < 0 or pout < 0:
            raise ConfigurationError(f"--price {model}={value}: prices must be non-negative.")
        out[model] = (pin / 1e6, pout / 1e6)
    return out


def _load(
    paths: Sequence[str],
    layout: str,
    tiers: Sequence[str] | None,
    drop_contaminated: bool,
    prices: Sequence[str] | None = None,
    price_models: Sequence[str] | None = None,
) -> Any:
    from ._data import load_outcomes

    kwargs: dict[str, Any] = {}
    if layout in ("routerbench", "auto") and tiers:
        kwargs["tiers"] = list(tiers)
    if layout in ("routellm", "mtbench"):
        kwargs["drop_contaminated"] = drop_contaminated
    if prices or price_models:
        if layout == "routerbench":
            raise ConfigurationError(
                "--price applies to files without recorded dollars (long form with tokens, "
                "RouteLLM, MT-Bench); RouterBench files carry each call's cost."
            )
        kwargs["prices"] = _prices(prices)
        kwargs["price_models"] = _parse_pairs(price_models, "--price-model")
    path: Any = paths[0] if len(paths) == 1 else list(paths)
    try:
        data = load_outcomes(path, layout=layout, **kwargs)  # type: ignore[arg-type]
    except TypeError as exc:  # an option the detected layout does not take
        raise ConfigurationError(f"{exc}; pass --layout to say which layout the files have.") from None
    if tiers and (layout != "routerbench" or "tiers" not in kwargs):
        data = data.select_tiers(tiers)
    return data


_TARGET_FLAGS = {
    "usd_per_request": "--budget",
    "share": "--quality-share",
    "confidence": "--confidence",
    "horizon": "--horizon",
}


def _target(args: argparse.Namespace) -> Any:
    from ._strategies import BudgetTarget, QualityTarget

    try:
        if args.budget is not None:
            return BudgetTarget(usd_per_request=args.budget)
        return QualityTarget(
            share=args.quality_share,
            of=args.strong,
            confidence=getattr(args, "confidence", 0.5),
            horizon=getattr(args, "horizon", None),
        )
    except ConfigurationError as exc:
        # The option as typed, not the model's field ("invalid QualityTarget: share: ...").
        problems = str(exc).split(": ", 1)[-1]
        for name, flag in _TARGET_FLAGS.items():
            problems = re.sub(rf"(^|; ){name}: ", rf"\g<1>{flag}: ", problems)
        raise ConfigurationError(f"Calibration target: {problems}") from None


def route_eval(
    data: Sequence[str],
    *,
    test: Sequence[str] | None = None,
    layout: str = "auto",
    test_fraction: float = 0.3,
    seed: int = 0,
    tiers: Sequence[str] | None = None,
    embedder: str = "default",
    kinds: Sequence[str] = ("ridge",),
    quality_share: float = 0.95,
    strong: str | None = None,
    budget: float | None = None,
    drop_contaminated: bool = True,
    as_json: bool = False,
    confidence: float = 0.5,
    horizon: int | None = None,
    router: str | None = None,
    train: Sequence[str] | None = None,
    prices: Sequence[str] | None = None,
    price_models: Sequence[str] | None = None,
) -> Any:
    """Evaluate on outcome files; returns the :class:`EvalReport`.

    With ``router`` (a directory saved by :func:`route_train`), ``data`` is the test file
    and the saved router is scored exactly as deployed (``train``: the files it was trained
    on, for the task-name baseline). Without it, strategies are fitted on a split of ``data``.
    """
    from ._eval import evaluate

    if router is not None:
        from ._train import evaluate_router

        test_ds = _load(data, layout, tiers, drop_contaminated, prices, price_models)
        train_ds = _load(train, layout, tiers, drop_contaminated, prices, price_models) if train else None
        emb = _embedder(embedder) if embedder != "default" else None
        return evaluate_router(router, test_ds, embedder=emb, train=train_ds)
    ns = argparse.Namespace(
        quality_share=quality_share, strong=strong, budget=budget, confidence=confidence, horizon=horizon
    )
    full = _load(data, layout, tiers, drop_contaminated, prices, price_models)
    if test:
        train_ds, test_ds = full, _load(test, layout, tiers, drop_contaminated, prices, price_models)
    else:
        train_ds, test_ds = full.split(test_fraction, seed=seed)
    emb = _embedder(embedder)
    return evaluate(test_ds, train=train_ds, embedder=emb, kinds=tuple(kinds), target=_target(ns), seed=seed)  # type: ignore[arg-type]


def route_train(
    data: Sequence[str],
    *,
    out: str,
    layout: str = "auto",
    tiers: Sequence[str] | None = None,
    embedder: str = "default",
    kind: str = "ridge",
    quality_share: float = 0.95,
    strong: str | None = None,
    budget: float | None = None,
    folds: int = 5,
    seed: int = 0,
    drop_contaminated: bool = True,
    confidence: float = 0.5,
    horizon: int | None = None,
    prices: Sequence[str] | None = None,
    price_models: Sequence[str] | None = None,
    from_ledger: bool = False,
    template_prior: float | None = 30.0,
    ipw: bool = True,
) -> dict[str, Any]:
    """Train a router on outcome files (or, with ``from_ledger``, on the shadow outcomes in
    the ledger file ``data[0]``), calibrate it on its own cross-fitted held-out predictions
    and save it to ``out``. ``template_prior``: the pseudo-rows that shrink each template's
    prior towards the overall mean (None: no template prior). ``ipw``: weigh each shadow
    outcome by 1 / its recorded propensity in the calibration (False: every row weighs 1)."""
    from ._train import train_router

    ns = argparse.Namespace(
        quality_share=quality_share, strong=strong, budget=budget, confidence=confidence, horizon=horizon
    )
    if from_ledger:
        from ._shadow import outcomes_from_ledger

        if len(data) != 1:
            raise ConfigurationError("--from-ledger takes one ledger file.")
        full = outcomes_from_ledger(data[0])
        if tiers:
            full = full.select_tiers(tiers)
    else:
        full = _load(data, layout, tiers, drop_contaminated, prices, price_models)
    emb = _embedder(embedder)
    if template_prior is not None and not (template_prior > 0 and math.isfinite(template_prior)):
        raise ConfigurationError(
            f"--template-prior must be a number above 0 (or --no-template-prior), got {template_prior}."
        )
    router = train_router(
        full,
        emb,
        target=_target(ns),
        kind=kind,  # type: ignore[arg-type]
        folds=folds,
        template_prior=template_prior,
        out=out,
        ipw=ipw,
    )
    point = router.operating_point
    return {
        "out": str(Path(out)),
        "rows": len(full),
        "dropped_rows": full.dropped_rows,
        "tiers": full.tiers,
        "template_lines": router.model.info.get("template_lines"),
        "folds": folds,
        "template_prior": template_prior,
        "calibration_rows_effective": router.model.info.get("calibration_rows_effective"),
        "operating_point": point.model_dump() if point else None,
    }


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data",
        nargs="+",
        help="outcome files or directories: the long form (prompt_id, prompt, model, "
        "quality, cost or tokens), RouterBench CSV/JSONL, RouteLLM CSV, or a directory with RouteLLM's "
        "MT-Bench questions + judgements",
    )
    p.add_argument("--layout", choices=["auto", "long", "routerbench", "routellm", "mtbench"], default="auto")
    p.add_argument("--tiers", nargs="+", help="models (columns) to route between; default all")
    p.add_argument(
        "--embedder",
        default="default",
        help="'default' (MiniLM int8 ONNX with int8 matmuls, offline), 'minilm-fp32' (the semantic "
        "cache's exact vectors, slower) or 'hashing-256'",
    )
    p.add_argument(
        "--quality-share",
        type=float,
        default=0.95,
        help="calibration target: share of the strong tier's quality",
    )
    p.add_argument("--strong", help="the reference tier for --quality-share (default: the best)")
    p.add_argument(
        "--confidence",
        type=float,
        default=0.5,
        help="reach --quality-share with this one-sided confidence: a lower confidence bound on the "
        "calibration rows (0.5: aim exactly at it)",
    )
    p.add_argument(
        "--horizon",
        type=int,
        help="with --confidence: the number of requests the promise is judged on (default: the long run)",
    )
    p.add_argument("--budget", type=float, help="calibrate to a budget in USD per request instead")
    p.add_argument(
        "--price",
        action="append",
        metavar="MODEL=IN,OUT",
        help="price of a model the price book does not know, dollars per million input,output tokens "
        "(files without recorded dollars); repeatable",
    )
    p.add_argument(
        "--price-model",
        action="append",
        metavar="MODEL=NAME",
        help="price MODEL as the price book's NAME; repeatable",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--keep-contaminated", action="store_true", help="RouteLLM layout: keep prompts RouteLLM trained on"
    )


def add_route_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``route eval`` and ``route train`` on an argparse subparsers object."""
    route: argparse.ArgumentParser = subparsers.add_parser(
        "route", help="evaluate and train cost-aware routers on real outcomes"
    )
    sub = route.add_subparsers(dest="route_command", required=True)
    ev = sub.add_parser(
        "eval",
        help="score a saved router on test outcomes (--router), or replay strategies "
        "fitted on a split: quality, cost, AIQ, APGR, CPT",
    )
    _add_common(ev)
    ev.add_argument("--router", help="a directory written by `route train`: DATA is then its test file(s)")
    ev.add_argument(
        "--train", nargs="+", help="with --router: the training files (adds a task-name lookup baseline)"
    )
    ev.add_argument(
        "--test", nargs="+", help="without --router: separate test files (default: a random split of DATA)"
    )
    ev.add_argument("--test-fraction", type=float, default=0.3)
    ev.add_argument("--kinds", nargs="+", default=["ridge"], choices=["ridge", "ridge_guarded", "logistic"])
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(func=_run_eval)
    tr = sub.add_parser("train", help="train + calibrate a router; saves router.npz + router.json")
    _add_common(tr)
    tr.add_argument("--out", required=True, help="directory to write the router to")
    tr.add_argument("--kind", default="ridge", choices=["ridge", "ridge_guarded", "logistic"])
    tr.add_argument(
        "--folds", type=int, default=5, help="cross-fitting folds (the saved router holds one model each)"
    )
    tr.add_argument(
        "--from-ledger",
        action="store_true",
        help="DATA is a ledger file: train on the shadow outcomes recorded in it",
    )
    tr.add_argument(
        "--no-propensity-weights",
        dest="ipw",
        action="store_false",
        help="with --from-ledger: calibrate on the shadow outcomes as recorded (by default each "
        "weighs 1 / the chance its request was shadowed, so rarely explored requests count for "
        "all those like them)",
    )
    prior = tr.add_mutually_exclusive_group()
    prior.add_argument(
        "--template-prior",
        type=float,
        default=30.0,
        metavar="SHRINK",
        help="requests that share a template start from their template's mean outcomes, shrunk "
        "towards the overall mean by SHRINK pseudo-rows (default: 30; more trusts each template less)",
    )
    prior.add_argument(
        "--no-template-prior",
        dest="template_prior",
        action="store_const",
        const=None,
        help="no per-template prior: the question's embedding alone",
    )
    tr.set_defaults(func=_run_train)
    return route


def _run_eval(args: argparse.Namespace) -> int:
    require("numpy", "embed", "Training and evaluating routers")  # not on the core install
    report = route_eval(
        args.data,
        test=args.test,
        layout=args.layout,
        test_fraction=args.test_fraction,
        seed=args.seed,
        tiers=args.tiers,
        embedder=args.embedder,
        kinds=args.kinds,
        quality_share=args.quality_share,
        strong=args.strong,
        budget=args.budget,
        drop_contaminated=not args.keep_contaminated,
        confidence=args.confidence,
        horizon=args.horizon,
        router=args.router,
        train=args.train,
        prices=args.price,
        price_models=args.price_model,
    )
    print(report.to_json() if args.json else report.format())
    return 0


def _run_train(args: argparse.Namespace) -> int:
    require("numpy", "embed", "Training and evaluating routers")  # not on the core install
    result = route_train(
        args.data,
        out=args.out,
        layout=args.layout,
        tiers=args.tiers,
        embedder=args.embedder,
        kind=args.kind,
        quality_share=args.quality_share,
        strong=args.strong,
        budget=args.budget,
        folds=args.folds,
        seed=args.seed,
        drop_contaminated=not args.keep_contaminated,
        confidence=args.confidence,
        horizon=args.horizon,
        prices=args.price,
        price_models=args.price_model,
        from_ledger=args.from_ledger,
        template_prior=args.template_prior,
        ipw=args.ipw,
    )
    print(json.dumps(result, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - standalone entry point
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_route_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
