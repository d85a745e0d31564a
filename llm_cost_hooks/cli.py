"""The ``llm-cost`` command line: estimate, report, and the capability subcommands."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._errors import ConfigurationError, LLMCostHooksError

__all__ = ["main"]

# A spread of popular models across providers, used when --models is not given.
DEFAULT_ESTIMATE_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o4-mini",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "gemini/gemini-2.5-pro",
    "gemini/gemini-2.5-flash",
    "mistral/mistral-large-latest",
    "deepseek/deepseek-chat",
)

# Capability modules that contribute subcommands: (module, function name).
_PLUGINS = (
    ("llm_cost_hooks.cache._cli", "add_cache_commands"),
    ("llm_cost_hooks.routing._cli", "add_route_commands"),
    ("llm_cost_hooks.prompt_cache._cli", "add_prompt_cache_commands"),
    ("llm_cost_hooks.prompts._cli", "add_prompts_commands"),
    ("llm_cost_hooks.pricing._cli", "add_prices_commands"),
)


def _positive_int(name: str, minimum: int = 0) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{name} must not be negative, got {value}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{name} must be at least {minimum}, got {value}")
        return value

    return parse


_REPORT_TABLES = ("totals", "tasks", "cache", "budget")


def _report_tables(text: str) -> list[str]:
    """``--show``'s list, checked when the arguments are read: before any page is written."""
    kinds = [k.strip() for k in text.split(",") if k.strip()] or ["totals", "tasks"]
    for kind in kinds:
        if kind not in _REPORT_TABLES:
            raise argparse.ArgumentTypeError(f"takes {', '.join(_REPORT_TABLES)}; got {kind!r}")
    return kinds


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value}")
    return value


def estimate_rows(
    *,
    input_tokens: int,
    output_tokens: int,
    requests_per_day: int,
    models: Sequence[str],
    cached_fraction: float = 0.0,
    batch: bool = False,
    days_per_month: int = 30,
    price_book: Any = None,
) -> list[dict[str, Any]]:
    """Cost per request, day and month of a workload on each model, cheapest first."""
    from ._records import TokenUsage
    from .pricing import PriceBook

    book = price_book or PriceBook.default()
    usage = TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=int(input_tokens * cached_fraction),
    )
    rows = []
    for model in models:
        per_request = book.cost(usage, model, batch=batch).total
        rows.append(
            {
                "model": model,
                "per_request_usd": per_request,
                "per_day_usd": per_request * requests_per_day,
                "per_month_usd": per_request * requests_per_day * days_per_month,
            }
        )
    rows.sort(key=lambda r: r["per_month_usd"])
    return rows


def _cmd_estimate(args: argparse.Namespace) -> int:
    from .ledger import format_rows

    models = (
        [m.strip() for m in args.models.split(",") if m.strip()]
        if args.models is not None
        else list(DEFAULT_ESTIMATE_MODELS)
    )
    if not models:
        raise argparse.ArgumentTypeError(f"--models names no model: {args.models!r}")
    rows = estimate_rows(
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        requests_per_day=args.requests_per_day,
        models=models,
        cached_fraction=args.cached_fraction,
        batch=args.batch,
    )
    print(format_rows(rows, args.format))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .ledger import LedgerReports, format_rows

    if args.failure_policy is None:
        from ._settings import get_settings

        args.failure_policy = get_settings().task_failure_policy
    reports = LedgerReports.open(args.ledger)
    _say_unwritten(args.ledger)
    # Damaged lines of a JSONL ledger: reading it already warned (once, with the line numbers).
    try:
        if args.html:
            from .ledger._html import render_html_report
            from .ledger._postgres import redact

            # The page is made to be shared: no database password in its title.
            title = f"LLM cost report: {redact(args.ledger)}"
            try:
                path = render_html_report(
                    reports,
                    args.html,
                    title=title,
                    since=args.since,
                    until=args.until,
                    failure_policy=args.failure_policy,
                )
            except OSError as exc:
                raise ConfigurationError(f"Cannot write the HTML report to {args.html!r}: {exc}") from exc
            print(f"wrote {path}", file=sys.stderr)
        # Read as the reports read a string: spaces around names and empty items ignored.
        by_keys = [b.strip() for b in args.by.split(",") if b.strip()]
        # Tasks and cache hits have no single cache status or success to group by.
        per_task_by = [b for b in by_keys if b not in ("cache_status", "success")]
        out: dict[str, Any] = {}
        for kind in args.show:
            if kind == "totals":
                out[kind] = reports.totals(by=by_keys, since=args.since, until=args.until)
            elif kind == "tasks":
                out[kind] = reports.tasks(
                    by=per_task_by, since=args.since, until=args.until, failure_policy=args.failure_policy
                )
            elif kind == "cache":
                out[kind] = reports.cache_savings(since=args.since, until=args.until)
                out["cache_precision"] = reports.cache_precision(
                    by=per_task_by, since=args.since, until=args.until
                )
            else:  # budget (_report_tables let no other name through)
                out[kind] = reports.budget_breaches(since=args.since, until=args.until)
        if args.format == "json":
            print(json.dumps(out, indent=2, default=str))
        else:
            if args.format == "table":
                from .pricing._map_source import price_map_version

                print(
                    f"Price map in use: {price_map_version()} (each record keeps the cost it was written with)"
                )
            for kind, rows in out.items():
                if args.format == "table":
                    title = {
                        "totals": "Cost by " + (args.by or "all"),
                        "tasks": "Tasks (cost per successful task)",
                        "cache": "Cache savings",
                        "cache_precision": "Precision of served semantic hits (online verification, 95% interval)",
                        "budget": "Budget breaches",
                    }[kind]
                    print(f"\n{title}\n")
                print(format_rows(rows, args.format))
    finally:
        reports.close()
    return 0


def _say_unwritten(ledger: str) -> None:
    """Count the records of processes killed outright beside a ledger file, and say how
    many were never written (see docs/reliability.md)."""
    from pathlib import Path

    from .ledger._killcount import collect_dead, read_unwritten, unwritten_log_path
    from .ledger._postgres import is_postgres_url, state_dead_letter_path

    if is_postgres_url(ledger):
        # Its counts are in its state directory (see docs/reliability.md).
        in_state = state_dead_letter_path(ledger)
        if in_state is None:
            return
        dead_letter = in_state
    else:
        for prefix in ("sqlite:///", "jsonl:///"):
            if ledger.startswith(prefix):
                ledger = ledger[len(prefix) :]
        dead_letter = Path(ledger + ".dead-letter.jsonl").absolute()
    set_aside = [dead_letter]
    if is_postgres_url(ledger) and Path("llm_costs.dead-letter.jsonl").is_file():
        set_aside.append(Path("llm_costs.dead-letter.jsonl").absolute())  # an earlier version's
    for path in set_aside:
        lines = _count_lines(path)
        if lines:
            print(
                f"{lines} record(s) or task outcome(s) that could not be written are set aside in "
                f"{path}, not in the ledger; load them with "
                f"llm_cost_hooks.ledger.replay_dead_letters({str(path)!r}, ledger).",
                file=sys.stderr,
            )
    collect_dead(dead_letter)
    processes, records = read_unwritten(dead_letter)
    if records:
        print(
            f"{records} record(s) accepted by {processes} process(es) killed outright were never "
            f"written (see {unwritten_log_path(dead_letter)}); the report cannot include them.",
            file=sys.stderr,
        )


def _count_lines(path: object) -> int:
    try:
        with open(str(path), "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return 0


def _cmd_ledger_migrate(args: argparse.Namespace) -> int:
    from .ledger._postgres import SCHEMA_VERSION, is_postgres_url, migrate_url

    if not is_postgres_url(args.url):
        raise argparse.ArgumentTypeError("ledger migrate takes a postgresql://user@host/db URL")
    before, after = migrate_url(args.url)
    if before == after:
        print(f"schema at version {after} (latest: {SCHEMA_VERSION}); nothing to do")
    else:
        print(f"schema migrated from version {before} to {after}")
    return 0


def _cmd_ledger_copy(args: argparse.Namespace) -> int:
    from .ledger._copy import copy_ledger

    counts = copy_ledger(args.source, args.destination, batch_size=args.batch_size)
    print(
        f"copied {counts['records']:,} records ({counts['records_added']:,} new) and "
        f"{counts['outcomes']:,} task outcomes ({counts['outcomes_added']:,} new)"
    )
    return 0


def _cmd_ledger_prune(args: argparse.Namespace) -> int:
    from .ledger._copy import _open
    from .ledger._postgres import is_postgres_url, redact

    # Checked before the ledger opens: a bad date is told without touching the store.
    from .ledger._prune import cutoff_from

    cutoff = cutoff_from(args.before, args.older_than, names=("--before", "--older-than"))
    ledger = _open(args.ledger, role="source")
    try:
        counts = ledger.prune(cutoff, dry_run=args.dry_run, batch_size=args.batch_size)
    finally:
        ledger.close()
    when = cutoff.isoformat(timespec="seconds")
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {counts['records']:,} records and {counts['outcomes']:,} task outcomes "
        f"older than {when} from {redact(args.ledger)}"
    )
    free = counts.get("free_bytes")
    if free:
        print(
            f"{free / 1e6:,.1f} MB of the file are free pages, which new records reuse; "
            f"to return them to the disk run: sqlite3 {args.ledger.removeprefix('sqlite:///')} 'VACUUM' "
            "(it rewrites the file and locks it while it runs)"
        )
    elif not args.dry_run and counts["records"] and is_postgres_url(args.ledger):
        print(
            "autovacuum makes the space reusable; VACUUM (ANALYZE) cost_records, task_outcomes, "
            "cost_rollup_hour does it now without blocking writers"
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(
        ledger_path=args.ledger,
        data=args.data,
        limit=args.limit,
        chart=args.chart,
        otlp=args.otlp,
        quiet=args.quiet,
    )


# Commands defined in this module: running one needs none of the plugin commands' modules
# (importing them took most of a short `llm-cost report`).
_CORE_COMMANDS = frozenset({"estimate", "report", "ledger", "demo"})


def build_parser(*, plugins: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-cost",
        description="Estimate, attribute and cut the cost of LLM calls.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    est = sub.add_parser("estimate", help="cost of a workload on each model, cheapest first")
    est.add_argument(
        "--input-tokens",
        type=_positive_int("--input-tokens"),
        required=True,
        help="prompt tokens per request",
    )
    est.add_argument(
        "--output-tokens",
        type=_positive_int("--output-tokens"),
        required=True,
        help="completion tokens per request",
    )
    est.add_argument("--requests-per-day", type=_positive_int("--requests-per-day"), required=True)
    est.add_argument("--models", help="comma-separated model names (default: popular models)")
    est.add_argument(
        "--cached-fraction",
        type=_fraction,
        default=0.0,
        help="share of input tokens served from the provider's prompt cache",
    )
    est.add_argument("--batch", action="store_true", help="price at batch-API rates")
    est.add_argument("--format", choices=("table", "csv", "json"), default="table")
    est.set_defaults(func=_cmd_estimate)

    rep = sub.add_parser("report", help="cost tables from a ledger")
    rep.add_argument("ledger", help="ledger file (SQLite .db or .jsonl) or postgresql://user@host/db URL")
    rep.add_argument(
        "--by",
        default="",
        help="comma-separated: tenant,user,feature,route,prompt_version,model,provider,day,month,cache_status,success",
    )
    rep.add_argument("--since", help="ISO date/time, inclusive")
    rep.add_argument("--until", help="ISO date/time, exclusive")
    rep.add_argument(
        "--show", type=_report_tables, default="totals,tasks", help="which tables: totals,tasks,cache,budget"
    )
    rep.add_argument(
        "--html", metavar="OUT.html", help="also write an HTML report with charts (needs the charts extra)"
    )
    rep.add_argument(
        "--failure-policy",
        choices=("any_error", "root_error"),
        default=None,
        help="when a task counts as failed (default: $LLM_COST_HOOKS_TASK_FAILURE_POLICY, else any_error)",
    )
    rep.add_argument("--format", choices=("table", "csv", "json"), default="table")
    rep.set_defaults(func=_cmd_report)

    led = sub.add_parser(
        "ledger", help="manage a ledger: migrate a PostgreSQL schema, copy records, prune old ones"
    )
    led_sub = led.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    mig = led_sub.add_parser("migrate", help="create or upgrade the schema of a PostgreSQL ledger")
    mig.add_argument("url", help="postgresql://user:password@host:5432/db")
    mig.set_defaults(func=_cmd_ledger_migrate)
    cp = led_sub.add_parser(
        "copy",
        help="copy records and task outcomes from one ledger into another; "
        "records already there (same id) are skipped, so it can be rerun",
    )
    cp.add_argument("source", help="ledger to read: SQLite .db, .jsonl or postgresql:// URL")
    cp.add_argument("destination", help="ledger to write: SQLite .db or postgresql:// URL")
    cp.add_argument("--batch-size", type=_positive_int("--batch-size"), default=5000)
    cp.set_defaults(func=_cmd_ledger_copy)
    pr = led_sub.add_parser(
        "prune",
        help="delete records and task outcomes older than a date, in small batches (writers go on meanwhile)",
    )
    pr.add_argument("ledger", help="ledger: SQLite .db, .jsonl or postgresql:// URL")
    when = pr.add_mutually_exclusive_group(required=True)
    when.add_argument("--before", metavar="DATE", help="ISO date or date and time (UTC unless it says)")
    when.add_argument("--older-than", metavar="AGE", help="an age: 90d, 12w or 36h")
    pr.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    pr.add_argument(
        "--batch-size",
        type=_positive_int("--batch-size", minimum=1),
        default=10_000,
        help="rows per transaction (default: 10000)",
    )
    pr.set_defaults(func=_cmd_ledger_prune)

    demo = sub.add_parser(
        "demo",
        help="replay a real workload with each cost lever switched on in turn; print the savings waterfall",
    )
    demo.add_argument(
        "--ledger",
        default="demo_out/llm_costs.db",
        help="SQLite file to write, or the URL of an empty PostgreSQL database",
    )
    demo.add_argument(
        "--data",
        help="data folder with semantic_cache/banking77/{test,train}.csv.gz and "
        "routing/routerbench_train/*.csv.gz (default: the subset shipped in the package)",
    )
    demo.add_argument(
        "--limit",
        # One support ticket and one assistant prompt at least: the table compares both.
        type=_positive_int("--limit", minimum=2),
        default=1000,
        help="distinct requests to replay, half support tickets, half assistant prompts (default: 1000)",
    )
    demo.add_argument(
        "--chart", help="waterfall PNG to write (default: savings_waterfall.png beside the ledger)"
    )
    demo.add_argument(
        "--otlp",
        nargs="?",
        const="",
        default=None,
        metavar="URL",
        help="send traces and metrics over OTLP/HTTP to URL (default: OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    demo.add_argument(
        "--quiet", action="store_true", help="no progress (a bar on a terminal, a line per step otherwise)"
    )
    demo.set_defaults(func=_cmd_demo)

    for module_name, func_name in _PLUGINS if plugins else ():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue  # capability not installed in this build
        getattr(module, func_name)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(plugins=not words or words[0] not in _CORE_COMMANDS)
    args = parser.parse_args(words)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (`llm-cost report ... | head`): stop quietly, like other tools.
        # stdout goes to devnull so the interpreter's final flush does not raise again.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
        except OSError:
            pass
        return 1
    except LLMCostHooksError as exc:
        print(f"llm-cost: error: {exc}", file=sys.stderr)
        return 2
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
