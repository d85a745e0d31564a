"""``llm-cost pr-estimate``: what a branch's prompt changes cost per month, as a PR comment."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError, LedgerError

__all__ = ["add_prompts_commands"]


def _calls(values: list[str]) -> tuple[dict[str, float], float | None]:
    """``NAME=N`` pairs and at most one bare ``N`` (the default for the others)."""
    named: dict[str, float] = {}
    default: float | None = None
    for value in values:
        name, sep, number = value.rpartition("=")
        try:
            calls = float(number)
        except ValueError:
            raise ConfigurationError(f"--calls-per-month takes NAME=N or N, got {value!r}.") from None
        if calls < 0:
            raise ConfigurationError(f"--calls-per-month must not be negative, got {value!r}.")
        if sep:
            named[name] = calls
        else:
            default = calls
    return named, default


def _ledger_records(path: str | None) -> list[Any]:
    if not path:
        return []
    from ..ledger import open_ledger

    plain = path.split(":///", 1)[-1]
    if not Path(plain).exists():
        raise LedgerError(f"No ledger file at {plain!r}; pass the SQLite/JSONL ledger your app writes.")
    ledger = open_ledger(path)
    try:
        return list(ledger.records())
    finally:
        ledger.close()


def _usd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # NaN never compares above: the gate would never fail
        raise argparse.ArgumentTypeError(f"--fail-above must be a number of dollars, got {text!r}")
    return value


def _cmd_pr_estimate(args: argparse.Namespace) -> int:
    from ._pr_estimate import estimate_pr_cost, format_usd

    named, default = _calls(args.calls_per_month or [])
    est = estimate_pr_cost(
        args.base,
        args.head,
        repo=args.repo,
        pyproject=args.pyproject,
        records=_ledger_records(args.ledger),
        calls_per_month=named,
        default_calls_per_month=default or 0.0,
        default_model=args.model,
    )
    text = json.dumps(est.to_json(), indent=2) if args.format == "json" else est.markdown()
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"Cannot write --output {args.output!r}: {exc}") from exc
    print(text, end="" if text.endswith("\n") else "\n")
    if args.fail_above is not None and est.delta_usd_per_month > args.fail_above:
        print(
            f"llm-cost: prompt changes add {format_usd(est.delta_usd_per_month)} per month, "
            f"above --fail-above {format_usd(args.fail_above)}",
            file=sys.stderr,
        )
        return 1
    return 0


def add_prompts_commands(subparsers: Any) -> None:
    """Register ``pr-estimate``."""
    pr = subparsers.add_parser(
        "pr-estimate",
        help="tokens and dollars per month of the project's prompts at two git revisions (markdown for a PR)",
    )
    pr.add_argument("--base", required=True, help="base revision, e.g. origin/main")
    pr.add_argument("--head", default="HEAD", help="head revision (default HEAD)")
    pr.add_argument("--repo", default=".", help="path inside the git repository (default .)")
    pr.add_argument(
        "--pyproject",
        default="pyproject.toml",
        help="pyproject.toml listing the prompts, relative to the repository root",
    )
    pr.add_argument("--ledger", help="ledger file (SQLite .db or .jsonl): calls per month per prompt version")
    pr.add_argument(
        "--calls-per-month",
        action="append",
        metavar="NAME=N|N",
        help="traffic of one prompt (NAME=N, repeatable) or, bare, of prompts without ledger traffic",
    )
    pr.add_argument(
        "--model",
        help="model of prompts that name none (default: [tool.llm-cost-hooks] default_model, else gpt-4o)",
    )
    pr.add_argument(
        "--fail-above",
        type=_usd,
        metavar="USD",
        help="exit 1 when the change adds more than this many dollars per month",
    )
    pr.add_argument("--output", metavar="FILE", help="also write the comment to FILE")
    pr.add_argument("--format", choices=("markdown", "json"), default="markdown")
    pr.set_defaults(func=_cmd_pr_estimate)
