"""``llm-cost`` subcommands of the prompt economy: audit-prompts, prefix-report,
breakeven (self-host / fine-tune) and export-finetune."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from .._errors import ConfigurationError, LedgerError

__all__ = ["add_prompt_cache_commands"]


def _records(path: str | None) -> tuple[list[Any], list[Any]]:
    """(records, task outcomes) of a ledger file; empty without one."""
    if not path:
        return [], []
    from ..ledger import open_ledger

    text = path
    for prefix in ("sqlite:///", "jsonl:///"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if not Path(text).exists():
        raise LedgerError(f"No ledger file at {text!r}.")
    ledger = open_ledger(path) if "://" in path else open_ledger(text)
    try:
        return list(ledger.records()), list(ledger.task_outcomes())
    finally:
        ledger.close()


def _registry(args: argparse.Namespace) -> Any:
    from ..prompts import default_registry, discover_prompts

    # The process-wide registry: register_prompt(...) in the listed modules fills it.
    registry = default_registry()
    discover_prompts(args.pyproject, registry=registry)
    if not len(registry):
        raise ConfigurationError(
            "No prompt templates found: list them in pyproject.toml under [tool.llm-cost-hooks] "
            "(prompt_modules = [...], prompt_files = [...]) or pass --pyproject PATH."
        )
    return registry


def _print(rows: list[dict[str, Any]], fmt: str, title: str | None = None) -> None:
    from ..ledger import format_rows

    if title and fmt == "table":
        print(f"\n{title}\n")
    print(format_rows(rows, fmt))  # type: ignore[arg-type]


def _duplicate_rows(duplicates: list[Any]) -> list[dict[str, Any]]:
    """One row per distinct finding, with how many times it occurs: a sentence repeated 150
    times is one row with a count of 149, not 149 rows. Tokens and dollars are totals."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for d in duplicates:
        key = (d.first, d.second, d.first_section, d.second_section, round(d.similarity, 3))
        row = rows.get(key)
        if row is None:
            rows[key] = {
                "repeats": d.first[:50],
                "copy": d.second[:50],
                "sections": f"{d.first_section}->{d.second_section}",
                "similarity": d.similarity,
                "count": 1,
                "tokens": d.tokens,
                "monthly_usd": d.monthly_usd,
            }
        else:
            row["count"] += 1
            row["tokens"] += d.tokens
            row["monthly_usd"] += d.monthly_usd
    return list(rows.values())


def _number(flag: str, *, low: float = 0.0, high: float = math.inf, low_open: bool = False) -> Any:
    """An argparse type: a finite number in [low, high] (or (low, high]) naming ``flag``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value > low if low_open else value >= low) and value <= high):
            span = f"{'above' if low_open else 'at least'} {low:g}" + (
                f" and at most {high:g}" if high < math.inf else ""
            )
            raise argparse.ArgumentTypeError(f"{flag} must be a number {span}, got {text!r}")
        return value

    return parse


def _cmd_audit(args: argparse.Namespace) -> int:
    from ..prompts._registry import _without_attribute_copies
    from ._audit import audit_prompts

    records, _ = _records(args.ledger)
    audits = audit_prompts(
        records,
        _without_attribute_copies(_registry(args)),
        threshold=args.threshold,
        calls_per_month=args.calls_per_month,
    )
    if args.prompt:
        names = sorted({a.prompt for a in audits})
        audits = [a for a in audits if a.prompt == args.prompt or a.prompt.split("@")[0] == args.prompt]
        if not audits:
            raise ConfigurationError(f"--prompt {args.prompt!r} matches no prompt; prompts are {names}.")
    if args.format == "json":
        print(json.dumps([a.model_dump() for a in audits], indent=2, default=str))
        return 0
    for a in audits:
        print(
            f"\n== {a.prompt} on {a.model}: {a.total_tokens:,} tokens, {a.calls_per_month:,.0f} calls/month "
            f"({a.traffic_source}), ${a.monthly_usd:,.2f}/month; similarity: {a.embedder}"
        )
        _print(
            [
                {
                    "section": s.index,
                    "role": s.role,
                    "tokens": s.tokens,
                    "share": s.share,
                    "monthly_usd": s.monthly_usd,
                    "preview": s.preview,
                }
                for s in a.sections
            ],
            args.format,
            "Tokens per section",
        )
        if a.duplicates:
            _print(
                _duplicate_rows(a.duplicates),
                args.format,
                "Repeated or near-duplicate instructions (count: times found; tokens and "
                "monthly_usd: all copies)",
            )
        if a.examples:
            _print(
                [
                    {
                        "example": e.index,
                        "sections": ",".join(map(str, e.sections)),
                        "tokens": e.tokens,
                        "monthly_usd": e.monthly_usd,
                        "preview": e.preview,
                    }
                    for e in a.examples
                ],
                args.format,
                "Few-shot examples (test removing them; each costs this much)",
            )
    return 0


def _cmd_prefix(args: argparse.Namespace) -> int:
    from ._savings import breakpoint_economics
    from ._stability import prefix_report

    records, _ = _records(args.ledger)
    rows = prefix_report(records, _registry(args), ttl_seconds=args.ttl)
    econ = breakpoint_economics(records)
    if args.format == "json":
        print(
            json.dumps(
                {"prefix": [r.model_dump() for r in rows], "breakpoints": [e.model_dump() for e in econ]},
                indent=2,
                default=str,
            )
        )
        return 0
    _print([r.model_dump() for r in rows], args.format, "Prefix stability per prompt version")
    _print(
        [
            {
                "prompt_version": e.prompt_version,
                "model": e.model,
                "calls": e.calls,
                "writes": e.calls_writing,
                "reads": e.calls_reading,
                "read_savings_usd": e.read_savings_usd,
                "write_premium_usd": e.write_premium_usd,
                "net_usd": e.net_usd,
                "verdict": "LOSES MONEY" if e.loses_money else "pays",
            }
            for e in econ
        ],
        args.format,
        "Cache breakpoints: read savings vs write premiums",
    )
    return 0


# The functions' argument names, as the command's options: an error names the option to fix.
_FLAGS = {
    "tokens_per_month": "--tokens-per-month",
    "api_cost_per_month": "--api-cost-per-month",
    "gpu_hourly_usd": "--gpu-hourly",
    "throughput_tokens_per_s": "--throughput",
    "gpus_per_replica": "--gpus",
    "hours_per_month": "--hours",
    "infra_monthly_usd": "--infra",
    "engineering_hours_per_month": "--eng-hours",
    "engineer_hourly_usd": "--eng-rate",
    "min_utilisation": "--min-utilisation",
    "calls_per_month": "--calls-per-month",
    "prompt_tokens_removed": "--prompt-tokens",
    "other_input_tokens": "--other-input-tokens",
    "output_tokens": "--output-tokens",
    "training_tokens": "--training-tokens",
    "epochs": "--epochs",
    "cached_share": "--cached-share",
    "prompt_tokens_left": "--prompt-tokens-left",
    "ft_hosting_monthly_usd": "--hosting",
    "horizon_months": "--horizon",
}


def _with_flag(exc: ConfigurationError) -> ConfigurationError:
    name, _, rest = str(exc).partition(" ")
    flag = _FLAGS.get(name)
    return ConfigurationError(f"{flag} ({name}) {rest}") if flag else exc


def _cmd_selfhost(args: argparse.Namespace) -> int:
    from ._breakeven import self_host_breakeven, traffic_from_records

    tokens, api_cost = args.tokens_per_month, args.api_cost_per_month
    if args.ledger:
        records, _ = _records(args.ledger)
        traffic = traffic_from_records(records, model=args.model, route=args.route, feature=args.feature)
        tokens = tokens or traffic.tokens_per_month
        api_cost = api_cost or traffic.cost_per_month_usd
    if not tokens or not api_cost:
        raise ConfigurationError(
            "Give --ledger (the real volume) or both --tokens-per-month and --api-cost-per-month."
        )
    try:
        r = self_host_breakeven(
            tokens_per_month=tokens,
            api_cost_per_month=api_cost,
            gpu_hourly_usd=args.gpu_hourly,
            throughput_tokens_per_s=args.throughput,
            gpus_per_replica=args.gpus,
            hours_per_month=args.hours,
            infra_monthly_usd=args.infra,
            engineering_hours_per_month=args.eng_hours,
            engineer_hourly_usd=args.eng_rate,
            min_utilisation=args.min_utilisation,
        )
    except ConfigurationError as exc:
        raise _with_flag(exc) from exc
    if args.format == "json":
        print(json.dumps(r.model_dump(), indent=2, default=str))
        return 0
    _print([row.model_dump() for row in r.table], args.format, "Self-hosting versus the API, per month")
    be = f"{r.breakeven_tokens_per_month:,.0f} tokens/month" if r.breakeven_tokens_per_month else "never"
    print(
        f"\nBreak-even volume: {be}; today: {tokens:,.0f} tokens/month at ${api_cost:,.2f}.\n{r.recommendation}"
    )
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from ..pricing import PriceBook
    from ._breakeven import fine_tune_breakeven, traffic_from_records, training_price

    book = PriceBook.default()
    base = book.lookup(args.model)
    ft = book.lookup(args.ft_model or f"ft:{args.model}")
    calls, other, output, cached = (
        args.calls_per_month,
        args.other_input_tokens,
        args.output_tokens,
        args.cached_share,
    )
    if args.ledger:
        records, _ = _records(args.ledger)
        traffic = traffic_from_records(
            records,
            model=args.ledger_model or args.model,
            route=args.route,
            feature=args.feature,
            prompt_version=args.prompt_version,
        )
        calls = calls or traffic.calls_per_month
        output = output if output is not None else traffic.output_tokens_per_call
        other = other if other is not None else max(traffic.input_tokens_per_call - args.prompt_tokens, 0)
        cached = (
            cached
            if cached is not None
            else min(traffic.cached_share * traffic.input_tokens_per_call / max(args.prompt_tokens, 1), 1.0)
        )
    if not calls or output is None or other is None:
        raise ConfigurationError(
            "Give --ledger or --calls-per-month, --other-input-tokens and --output-tokens."
        )
    if args.training_price_per_mtok is not None and not args.training_price_per_mtok >= 0:
        raise ConfigurationError(
            f"--training-price-per-mtok must be a non-negative number, got {args.training_price_per_mtok!r}."
        )
    train_rate = (
        args.training_price_per_mtok / 1e6
        if args.training_price_per_mtok is not None
        else training_price(args.ft_model or args.model)
    )
    if train_rate is None:
        raise ConfigurationError(
            f"No known training price for {args.model!r}; pass --training-price-per-mtok."
        )
    try:
        r = fine_tune_breakeven(
            calls_per_month=calls,
            prompt_tokens_removed=args.prompt_tokens,
            other_input_tokens=other,
            output_tokens=output,
            input_rate=base.input_per_token,
            output_rate=base.output_per_token,
            cache_read_rate=base.cache_read_per_token,
            cached_share=cached or 0.0,
            ft_input_rate=ft.input_per_token,
            ft_output_rate=ft.output_per_token,
            training_tokens=args.training_tokens,
            training_usd_per_token=train_rate,
            epochs=args.epochs,
            prompt_tokens_left=args.prompt_tokens_left,
            ft_hosting_monthly_usd=args.hosting,
            horizon_months=args.horizon,
        )
    except ConfigurationError as exc:
        raise _with_flag(exc) from exc
    if args.format == "json":
        print(json.dumps(r.model_dump(), indent=2, default=str))
        return 0
    _print(
        [row.model_dump() for row in r.table], args.format, "Long prompt versus fine-tuned model, per month"
    )
    be = f"{r.breakeven_calls_per_month:,.0f} calls/month" if r.breakeven_calls_per_month else "never"
    print(
        f"\nTraining: ${r.training_usd:,.2f}; per call ${r.long_prompt_usd_per_call:.6f} -> ${r.fine_tuned_usd_per_call:.6f}; "
        f"break-even volume: {be}.\n{r.recommendation}"
    )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from ._finetune import export_finetune

    records, outcomes = _records(args.ledger)
    failed = {o.task_id for o in outcomes if not o.success}
    summary = export_finetune(
        records,
        args.content,
        args.out,
        route=args.route,
        model=args.model,
        feature=args.feature,
        failed_tasks=failed,
    )
    print(json.dumps(summary.model_dump(), indent=2))
    return 0


def add_prompt_cache_commands(subparsers: Any) -> None:
    """Register ``audit-prompts``, ``prefix-report``, ``breakeven`` and ``export-finetune``."""
    fmt = {"choices": ("table", "csv", "json"), "default": "table"}

    audit = subparsers.add_parser(
        "audit-prompts",
        help="tokens and dollars per prompt section, duplicate instructions, few-shot examples",
    )
    audit.add_argument(
        "--ledger", help="ledger file: traffic per prompt version (default: none, list prices)"
    )
    audit.add_argument("--pyproject", help="pyproject.toml listing the prompts (default: ./pyproject.toml)")
    audit.add_argument("--prompt", help="audit only this prompt (name or name@version)")
    audit.add_argument(
        "--threshold",
        type=_number("--threshold", high=1.0, low_open=True),
        help="similarity above which two instructions are duplicates",
    )
    audit.add_argument(
        "--calls-per-month",
        type=_number("--calls-per-month"),
        help="traffic to price at, instead of the ledger's",
    )
    audit.add_argument("--format", **fmt)
    audit.set_defaults(func=_cmd_audit)

    prefix = subparsers.add_parser(
        "prefix-report",
        help="prompt versions whose variable parts defeat prefix caching, and losing breakpoints",
    )
    prefix.add_argument("--ledger", required=True, help="ledger file (SQLite .db or .jsonl)")
    prefix.add_argument("--pyproject", help="pyproject.toml listing the prompts")
    prefix.add_argument(
        "--ttl",
        type=_number("--ttl", low_open=True),
        default=300.0,
        help="provider cache lifetime in seconds (default 300)",
    )
    prefix.add_argument("--format", **fmt)
    prefix.set_defaults(func=_cmd_prefix)

    be = subparsers.add_parser("breakeven", help="self-hosting vs API, fine-tuning vs long prompt")
    kinds = be.add_subparsers(dest="breakeven_kind", required=True, metavar="KIND")
    sh = kinds.add_parser("self-host", help="GPU hours + infra + engineering vs the API bill")
    sh.add_argument("--ledger", help="ledger file for the real volume and bill")
    sh.add_argument("--model")
    sh.add_argument("--route")
    sh.add_argument("--feature")
    sh.add_argument(
        "--tokens-per-month", type=float, help="input + output tokens per month (instead of --ledger)"
    )
    sh.add_argument("--api-cost-per-month", type=float, help="API dollars per month (instead of --ledger)")
    sh.add_argument("--gpu-hourly", type=float, required=True, help="USD per GPU hour")
    sh.add_argument("--gpus", type=int, default=1, help="GPUs per serving replica")
    sh.add_argument(
        "--throughput", type=float, required=True, help="tokens/s one replica processes (input + output)"
    )
    sh.add_argument(
        "--hours", type=float, default=730.0, help="hours per month the GPUs are paid (730 = always on)"
    )
    sh.add_argument("--infra", type=float, default=0.0, help="other infrastructure USD per month")
    sh.add_argument("--eng-hours", type=float, default=0.0, help="engineering/ops hours per month")
    sh.add_argument("--eng-rate", type=float, default=0.0, help="USD per engineering hour")
    sh.add_argument("--min-utilisation", type=float, default=0.6)
    sh.add_argument("--format", **fmt)
    sh.set_defaults(func=_cmd_selfhost)

    ft = kinds.add_parser(
        "fine-tune", help="training + fine-tuned per-token price vs the long prompt's tokens"
    )
    ft.add_argument(
        "--model", required=True, help="base model used with the long prompt, e.g. gpt-4o-mini-2024-07-18"
    )
    ft.add_argument("--ft-model", help="price-map name of the fine-tuned model (default ft:<model>)")
    ft.add_argument(
        "--prompt-tokens", type=float, required=True, help="prompt tokens the fine-tune makes unnecessary"
    )
    ft.add_argument(
        "--prompt-tokens-left", type=float, default=0.0, help="prompt tokens kept after fine-tuning"
    )
    ft.add_argument("--training-tokens", type=float, required=True, help="tokens in the training file")
    ft.add_argument("--epochs", type=int, default=3)
    ft.add_argument(
        "--training-price-per-mtok",
        type=float,
        help="USD per million training tokens (default: published OpenAI price)",
    )
    ft.add_argument("--hosting", type=float, default=0.0, help="USD per month to host the fine-tuned model")
    ft.add_argument("--horizon", type=float, default=12.0, help="months to amortise the training over")
    ft.add_argument("--ledger", help="ledger file for the real volume")
    ft.add_argument("--ledger-model", help="model name in the ledger (default --model)")
    ft.add_argument("--route")
    ft.add_argument("--feature")
    ft.add_argument("--prompt-version")
    ft.add_argument("--calls-per-month", type=float)
    ft.add_argument("--other-input-tokens", type=float, help="other input tokens per call")
    ft.add_argument("--output-tokens", type=float, help="output tokens per call")
    ft.add_argument(
        "--cached-share", type=float, help="share of the long prompt read from the prompt cache today"
    )
    ft.add_argument("--format", **fmt)
    ft.set_defaults(func=_cmd_finetune)

    ex = subparsers.add_parser(
        "export-finetune", help="chat fine-tuning JSONL from a route's successful answers"
    )
    ex.add_argument("--ledger", required=True)
    ex.add_argument("--content", required=True, help="JSONL written by ContentCapture")
    ex.add_argument("--out", required=True)
    ex.add_argument("--route")
    ex.add_argument("--model")
    ex.add_argument("--feature")
    ex.set_defaults(func=_cmd_export)
