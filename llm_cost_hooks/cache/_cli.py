"""``llm-cost cache calibrate``: the argparse wiring (llm_cost_hooks/cli.py calls add_cache_commands)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_cache_commands", "run_calibrate"]


def add_cache_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cache calibrate`` on an ``argparse`` subparsers object."""
    cache: argparse.ArgumentParser = subparsers.add_parser("cache", help="semantic cache tools")
    sub = cache.add_subparsers(dest="cache_command", required=True)
    cal = sub.add_parser(
        "calibrate",
        help="pick the semantic tier's operating point for a target precision on labelled data",
        description=(
            "FILE is a pairs file (columns text_a,text_b,label; label 1 = same answer) or an intents file "
            "(columns text,label or text,category): by default every labelled row is a query against all the other "
            "labelled rows as the cache (leave-one-out); rows with an EMPTY label are traffic no stored answer fits "
            "(off-topic messages; include them, they are what makes false hits). "
            "Each labelled row is also asked with every row of its label left out of the cache (a question whose answer "
            "is not stored yet: any hit is false); --new-share F weighs the two asks as traffic where a share F of "
            "the in-domain questions has no stored answer. "
            "CSV, TSV or JSONL, optionally .gz. The threshold is chosen on a fitting slice and claimed only if a "
            "held-out slice of whole labels reaches the target too; otherwise it says so, writes the policy "
            "disabled and exits 2."
        ),
    )
    cal.add_argument("file", help="labelled data (pairs or intents)")
    cal.add_argument("--cache-file", help="intents file of cache entries (then FILE holds only the queries)")
    cal.add_argument(
        "--target", type=float, default=0.99, help="target precision of semantic hits (default 0.99)"
    )
    cal.add_argument(
        "--confidence", type=float, default=0.95, help="confidence of the lower bound (default 0.95)"
    )
    cal.add_argument(
        "--rule",
        choices=["bound", "point"],
        default="bound",
        help="'bound': the lower confidence bound must reach the target (default); 'point': the measured precision",
    )
    cal.add_argument(
        "--cache-fraction",
        type=float,
        default=None,
        help="split each label into this share of cache entries and queries (default: leave-one-out, "
        "every row a query against all the others)",
    )
    cal.add_argument(
        "--kind",
        choices=["verified", "combined"],
        default="verified",
        help="intents files: 'verified' (default) fits the pair verifier's threshold, right for free-text "
        "answers; 'combined' fits the neighbourhood model, for caches whose answers repeat (keyed)",
    )
    cal.add_argument(
        "--holdout",
        type=float,
        default=0.3,
        help="share of the queries set aside to check the chosen threshold (default 0.3)",
    )
    cal.add_argument(
        "--new-share",
        type=float,
        default=None,
        metavar="F",
        help="intents files: the share (0 to 1) of your in-domain questions that have no stored answer yet; "
        "each labelled row's ask with its label stored weighs 1-F, its ask with its label left out weighs F "
        "(default 0.5; the output shows the floor your labelled data sets)",
    )
    cal.add_argument(
        "--all-labels-stored",
        action="store_true",
        help="intents files: the same as --new-share 0 (every question your traffic asks already has a stored answer)",
    )
    cal.add_argument("--seed", type=int, default=0)
    cal.add_argument("--route", help="store the policy for this route (default: the default policy)")
    cal.add_argument("--config", help="existing cache config JSON to update")
    cal.add_argument(
        "--out", help="write the resulting cache config JSON here (load with SemanticCache(config=PATH))"
    )
    cal.add_argument("--json", action="store_true", help="print the result as JSON")
    cal.set_defaults(func=run_calibrate)
    return cache


def _new_share(new_share: float | None, all_labels_stored: bool) -> float | None:
    """``--new-share`` and its alias ``--all-labels-stored`` (= 0) as one value; None = the default."""
    from .._errors import ConfigurationError

    if all_labels_stored:
        if new_share not in (None, 0.0):
            raise ConfigurationError(
                f"--all-labels-stored is --new-share 0; it contradicts --new-share {new_share}."
            )
        return 0.0
    if new_share is not None and not 0.0 <= new_share <= 1.0:  # NaN fails too
        raise ConfigurationError(
            f"--new-share must be from 0 to 1 (the share of in-domain questions with no stored answer), not {new_share}."
        )
    return new_share


def run_calibrate(args: argparse.Namespace) -> int:
    from ._calibrate import calibrate_file
    from ._core import CacheConfig

    kwargs: dict[str, Any] = {
        "target_precision": args.target,
        "confidence": args.confidence,
        "rule": args.rule,
        "holdout": args.holdout,
    }
    rows_are_pairs = False
    from ._calibrate import load_table

    first = load_table(args.file)[:1]
    rows_are_pairs = bool(first) and {"text_a", "text_b"} <= set(first[0])
    kwargs.update(seed=args.seed)
    share = _new_share(args.new_share, args.all_labels_stored)
    if not rows_are_pairs:
        kwargs.update(cache_fraction=args.cache_fraction, kind=args.kind, new_share=share)
    elif args.new_share is not None or args.all_labels_stored:
        print("note: --new-share / --all-labels-stored apply to intents files only; ignored", file=sys.stderr)
    result = calibrate_file(
        args.file, cache_path=args.cache_file, progress=lambda m: print(m, file=sys.stderr), **kwargs
    )
    if args.json:
        print(json.dumps(result.model_dump(), indent=2))
    else:
        print(result.summary())
    if args.out:
        try:
            cfg = CacheConfig.load(args.config) if args.config else CacheConfig()
        except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            from .._errors import ConfigurationError

            lines = str(exc).strip().splitlines()
            raise ConfigurationError(
                f"--config {args.config!r} is not a cache config JSON (one `--out` wrote): "
                f"{' '.join(lines[:3])}"
            ) from None
        if args.route:
            cfg = cfg.model_copy(update={"routes": {**cfg.routes, args.route: result.policy}})
        else:
            cfg = cfg.model_copy(update={"default": result.policy})
        try:
            cfg.save(args.out)
        except OSError as exc:
            from .._errors import ConfigurationError

            raise ConfigurationError(f"Cannot write --out {args.out!r}: {exc}") from exc
        print(f"wrote {args.out}", file=sys.stderr)
    return 0 if result.met else 2
