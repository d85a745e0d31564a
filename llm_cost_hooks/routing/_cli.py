"""``llm-cost route eval DATA`` and ``llm-cost route train DATA`` (argparse).

``llm_cost_hooks/cli.py`` calls :func:`add_route_commands` on its
subparsers; every command is also an importable function (:func:`route_eval`,
:func:`route_train`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError

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


def _load(paths: Sequence[str], layout: str, tiers: Sequence[str] | None, drop_contaminated: bool) -> Any:
    from ._data import load_outcomes

    kwargs: dict[str, Any] = {}
    if layout in ("routerbench", "auto") and tiers:
        kwargs["tiers"] = list(tiers)
    if layout in ("routellm", "mtbench"):
        kwargs["drop_contaminated"] = drop_contaminated
    path: Any = paths[0] if len(paths) == 1 else list(paths)
    data = load_outcomes(path, layout=layout, **kwargs)  # type: ignore[arg-type]
    if tiers and layout != "routerbench":
        data = data.select_tiers(tiers)
    return data


def _target(args: argparse.Namespace) -> Any:
    from ._strategies import BudgetTarget, QualityTarget

    if args.budget is not None:
        return BudgetTarget(usd_per_request=args.budget)
    return QualityTarget(share=args.quality_share, of=args.strong, confidence=getattr(args, "confidence", 0.5))


def route_eval(
    data: Sequence[str], *, test: Sequence[str] | None = None, layout: str = "auto", test_fraction: float = 0.3,
    seed: int = 0, tiers: Sequence[str] | None = None, embedder: str = "default", kinds: Sequence[str] = ("ridge", "knn"),
    quality_share: float = 0.95, strong: str | None = None, budget: float | None = None,
    drop_contaminated: bool = True, as_json: bool = False, confidence: float = 0.5,
) -> Any:
    """Evaluate routing strategies on outcome files; returns the :class:`EvalReport`."""
    from ._eval import evaluate

    ns = argparse.Namespace(quality_share=quality_share, strong=strong, budget=budget, confidence=confidence)
    full = _load(data, layout, tiers, drop_contaminated)
    if test:
        train, test_ds = full, _load(test, layout, tiers, drop_contaminated)
    else:
        train, test_ds = full.split(test_fraction, seed=seed)
    emb = _embedder(embedder)
    return evaluate(test_ds, train=train, embedder=emb, kinds=tuple(kinds), target=_target(ns), seed=seed)  # type: ignore[arg-type]


def route_train(
    data: Sequence[str], *, out: str, layout: str = "auto", tiers: Sequence[str] | None = None,
    embedder: str = "default", kind: str = "ridge", quality_share: float = 0.95, strong: str | None = None,
    budget: float | None = None, calibration_fraction: float = 0.3, seed: int = 0, drop_contaminated: bool = True,
    confidence: float = 0.5,
) -> dict[str, Any]:
    """Train a router on outcome files, calibrate it on a held-out part, save it to ``out``."""
    from ._model import RouterModel
    from ._strategies import TrainedRouter

    ns = argparse.Namespace(quality_share=quality_share, strong=strong, budget=budget, confidence=confidence)
    full = _load(data, layout, tiers, drop_contaminated)
    emb = _embedder(embedder)
    fit_part, cal_part = full.split(calibration_fraction, seed=seed)
    router = TrainedRouter(RouterModel.fit(fit_part, emb, kind=kind), embedder=emb)  # type: ignore[arg-type]
    point = router.calibrate(cal_part, _target(ns))
    # Refit on everything with the calibrated knob kept.
    final = RouterModel.fit(full, emb, kind=kind)  # type: ignore[arg-type]
    final.info["operating_point"] = point.model_dump()
    final.save(out)
    return {"out": str(Path(out)), "rows": len(full), "tiers": full.tiers, "operating_point": point.model_dump()}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="+", help="outcome files or directories (RouterBench CSV/JSONL, RouteLLM CSV, "
                   "or a directory with RouteLLM's MT-Bench questions + judgements)")
    p.add_argument("--layout", choices=["auto", "routerbench", "routellm", "mtbench"], default="auto")
    p.add_argument("--tiers", nargs="+", help="models (columns) to route between; default all")
    p.add_argument("--embedder", default="default", help="'default' (MiniLM int8 ONNX with int8 matmuls, offline), 'minilm-fp32' (the semantic "
                   "cache's exact vectors, slower) or 'hashing-256'")
    p.add_argument("--quality-share", type=float, default=0.95, help="calibration target: share of the strong tier's quality")
    p.add_argument("--strong", help="the reference tier for --quality-share (default: the best)")
    p.add_argument("--confidence", type=float, default=0.5,
                   help="aim above --quality-share by this one-sided confidence (0.5: exactly at it)")
    p.add_argument("--budget", type=float, help="calibrate to a budget in USD per request instead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-contaminated", action="store_true", help="RouteLLM layout: keep prompts RouteLLM trained on")


def add_route_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``route eval`` and ``route train`` on an argparse subparsers object."""
    route = subparsers.add_parser("route", help="evaluate and train cost-aware routers on real outcomes")
    sub = route.add_subparsers(dest="route_command", required=True)
    ev = sub.add_parser("eval", help="replay outcomes: quality, cost, AIQ, APGR, CPT per strategy")
    _add_common(ev)
    ev.add_argument("--test", nargs="+", help="separate test files (default: a random split of DATA)")
    ev.add_argument("--test-fraction", type=float, default=0.3)
    ev.add_argument("--kinds", nargs="+", default=["ridge", "knn"], choices=["ridge", "ridge_guarded", "knn", "logistic"])
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    ev.set_defaults(func=_run_eval)
    tr = sub.add_parser("train", help="train + calibrate a router; saves router.npz + router.json")
    _add_common(tr)
    tr.add_argument("--out", required=True, help="directory to write the router to")
    tr.add_argument("--kind", default="ridge", choices=["ridge", "ridge_guarded", "knn", "logistic"])
    tr.add_argument("--calibration-fraction", type=float, default=0.3)
    tr.set_defaults(func=_run_train)
    return route


def _run_eval(args: argparse.Namespace) -> int:
    report = route_eval(
        args.data, test=args.test, layout=args.layout, test_fraction=args.test_fraction, seed=args.seed,
        tiers=args.tiers, embedder=args.embedder, kinds=args.kinds, quality_share=args.quality_share,
        strong=args.strong, budget=args.budget, drop_contaminated=not args.keep_contaminated,
        confidence=args.confidence,
    )
    print(report.to_json() if args.json else report.format())
    return 0


def _run_train(args: argparse.Namespace) -> int:
    result = route_train(
        args.data, out=args.out, layout=args.layout, tiers=args.tiers, embedder=args.embedder, kind=args.kind,
        quality_share=args.quality_share, strong=args.strong, budget=args.budget,
        calibration_fraction=args.calibration_fraction, seed=args.seed, drop_contaminated=not args.keep_contaminated,
        confidence=args.confidence,
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
