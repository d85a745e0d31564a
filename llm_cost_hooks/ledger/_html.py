"""A self-contained HTML cost report with charts (matplotlib, the ``charts`` extra)."""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections import defaultdict
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from .._errors import MissingExtraError
from ._reports import FailurePolicy, LedgerReports, _printable

__all__ = ["render_html_report", "savings_waterfall"]

_LEVER_LABELS = {
    "deduplicated": "dedup",
    "exact": "exact cache",
    "semantic": "semantic cache",
    "provider_prefix": "provider prompt cache",
    "batch": "batch API",
}


class _Figures:
    """The two pyplot calls we use, on bare ``Figure`` objects: no global backend switch
    (``matplotlib.use("Agg")`` would stop ``plt.show()`` in the user's notebook) and no
    pyplot figure registry to leak into."""

    def __init__(self) -> None:
        from matplotlib.figure import Figure

        self._figure = Figure

    def subplots(self, nrows: int = 1, ncols: int = 1, *, figsize: Any = None, **kwargs: Any) -> Any:
        fig = self._figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, **kwargs)

    def close(self, fig: Any) -> None:
        fig.clear()


def _plt() -> _Figures:
    try:
        return _Figures()
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError("charts", "matplotlib", "The HTML report's charts") from exc


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # A name in a script the default font lacks is drawn as boxes, not an error.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _label(name: str) -> str:
    """A tenant's, feature's or route's name as a chart label, shown as written: matplotlib
    reads ``$...$`` as math (and raises on what does not parse), leaves labels that start
    with ``_`` out of legends, and draws control characters as boxes; long names are cut."""
    text = _printable(name).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def savings_waterfall(
    reports: LedgerReports,
    *,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
) -> list[dict[str, Any]]:
    """Steps from the cost without any lever down to the billed cost (of the records from
    ``since``, inclusive, to ``until``, exclusive, when given).

    Each lever's saving comes from the records it served (``saved_usd`` by cache status);
    the provider prompt cache's is net of what its writes cost above plain input.
    """
    billed = sum(r["cost_usd"] or 0.0 for r in reports.totals(since=since, until=until))
    saved = {
        r["cache_status"]: r["saved_usd"] or 0.0 for r in reports.cache_savings(since=since, until=until)
    }
    # provider prompt caching saves on calls that were billed (cache_status stays on them);
    # its writes, billed above input on calls of any status, are part of the bill it caused
    premiums = reports._write_premiums(since=since, until=until)
    if premiums:
        saved["provider_prefix"] = saved.get("provider_prefix", 0.0) - premiums
    # What batch answers saved by the batch API itself (the cache savings leave it out).
    if batch := reports._batch_savings(since=since, until=until):
        saved["batch"] = batch
    without = billed + sum(saved.values())
    steps = [{"step": "without levers", "cost_usd": without, "saving_usd": 0.0}]
    running = without
    for status, label in _LEVER_LABELS.items():
        if saved.get(status):
            running -= saved[status]
            steps.append({"step": label, "cost_usd": running, "saving_usd": saved[status]})
    steps.append({"step": "billed", "cost_usd": billed, "saving_usd": without - billed})
    return steps


def _table(rows: list[dict[str, Any]], limit: int = 50) -> str:
    if not rows:
        return "<p><em>no data</em></p>"
    cols = list(rows[0].keys())

    def cell(v: Any, col: str) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"${v:,.6f}" if ("usd" in col or col.startswith("cost")) else f"{v:,.3f}"
        if isinstance(v, int):
            return f"{v:,}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(r.get(c), c)}</td>" for c in cols) + "</tr>" for r in rows[:limit]
    )
    more = f"<p><em>{len(rows) - limit} more rows not shown</em></p>" if len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _charts(reports: LedgerReports, bucket: str, since: Any, until: Any) -> dict[str, str]:
    plt = _plt()
    charts: dict[str, str] = {}

    series = reports.timeseries(bucket, by="feature", since=since, until=until)  # type: ignore[arg-type]
    if series:
        buckets = sorted({r["bucket"] for r in series})
        per_feature: dict[str, dict[str, float]] = defaultdict(dict)
        for r in series:
            # Added up: two long names can share the label they are cut to.
            values = per_feature[_label(r["feature"]) if r["feature"] else "(none)"]
            values[r["bucket"]] = values.get(r["bucket"], 0.0) + (r["cost_usd"] or 0.0)
        fig, ax = plt.subplots(figsize=(8, 3.6))
        bottom = [0.0] * len(buckets)
        for feature, values in sorted(per_feature.items()):
            heights = [values.get(b, 0.0) for b in buckets]
            ax.bar(range(len(buckets)), heights, bottom=bottom, label=feature)
            bottom = [x + y for x, y in zip(bottom, heights)]
        ax.set_xticks(range(len(buckets)), buckets, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("USD")
        ax.set_title(f"Cost per {bucket} by feature")
        ax.legend(fontsize=8)
        charts["Cost over time by feature"] = _png(fig)

    steps = savings_waterfall(reports, since=since, until=until)
    if len(steps) > 2:
        fig, ax = plt.subplots(figsize=(8, 3.6))
        labels = [s["step"] for s in steps]
        prev = steps[0]["cost_usd"]
        for i, s in enumerate(steps):
            if i == 0 or i == len(steps) - 1:
                ax.bar(i, s["cost_usd"], color="#4c72b0")
            else:
                ax.bar(i, s["saving_usd"], bottom=s["cost_usd"], color="#55a868")
            ax.text(i, s["cost_usd"], f"${s['cost_usd']:.4f}", ha="center", va="bottom", fontsize=8)
            prev = s["cost_usd"]
        del prev
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("USD")
        ax.set_title("Savings waterfall (from the ledger's saved_usd per lever)")
        charts["Savings waterfall"] = _png(fig)

    overall = reports.timeseries(bucket, since=since, until=until)  # type: ignore[arg-type]
    if overall:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        xs = [r["bucket"] for r in overall]
        rates = [(r["cache_hits"] or 0) / r["calls"] if r["calls"] else 0 for r in overall]
        ax.plot(range(len(xs)), rates, marker="o")
        ax.set_xticks(range(len(xs)), xs, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("hit rate")
        ax.set_title(f"Cache hit rate per {bucket}")
        charts["Cache hit rate over time"] = _png(fig)

    routes = reports.totals(by="route", since=since, until=until)
    if routes:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4))
        names = [_label(r["route"]) if r["route"] else "(unrouted)" for r in routes]
        ax1.pie([r["calls"] for r in routes], labels=names, autopct="%1.0f%%", textprops={"fontsize": 8})
        ax1.set_title("Calls by route")
        ax2.pie(
            [max(r["cost_usd"] or 0.0, 0.0) for r in routes]
            if any(r["cost_usd"] for r in routes)
            else [1] * len(routes),
            labels=names,
            autopct="%1.0f%%",
            textprops={"fontsize": 8},
        )
        ax2.set_title("Cost by route")
        charts["Route mix"] = _png(fig)
    return charts


def render_html_report(
    reports: LedgerReports,
    path: str | Path,
    *,
    title: str = "LLM cost report",
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    failure_policy: FailurePolicy = "any_error",
) -> Path:
    """Write a self-contained HTML report (tables + PNG charts inlined) and return its path.

    ``since`` (inclusive), ``until`` (exclusive) and ``failure_policy`` are the tables'
    (``LedgerReports.totals`` / ``tasks``); the page names them.

    >>> from llm_cost_hooks.ledger import LedgerReports
    >>> from llm_cost_hooks import CostRecord
    >>> import tempfile, os
    >>> r = LedgerReports.from_records([CostRecord(model="gpt-4o", cost_usd=0.1, feature="qa")])
    >>> out = render_html_report(r, os.path.join(tempfile.mkdtemp(), "report.html"))
    >>> out.exists()
    True
    """
    from ..pricing._map_source import price_map_version

    w: dict[str, Any] = {"since": since, "until": until}
    span = reports.timeseries("day", **w)
    bucket = "hour" if len(span) <= 2 else "day"
    charts = _charts(reports, bucket, since, until)
    sections = [
        ("Totals", reports.totals(**w)),
        ("Tasks: cost per successful task", reports.tasks(failure_policy=failure_policy, **w)),
        ("By tenant", reports.totals(by="tenant", **w)),
        ("By feature", reports.totals(by="feature", **w)),
        ("By route", reports.totals(by="route", **w)),
        ("By prompt version", reports.totals(by="prompt_version", **w)),
        ("By model", reports.totals(by="model", **w)),
        ("By day", reports.totals(by="day", **w)),
        ("Cache savings", reports.cache_savings(**w)),
        ("Precision of served semantic hits (online verification)", reports.cache_precision(by="route", **w)),
        ("Savings waterfall", savings_waterfall(reports, **w)),
        ("Budget breaches", reports.budget_breaches(**w)),
    ]
    if since and until:
        window = f"records from {since} (inclusive) to {until} (exclusive)"
    elif since or until:
        window = f"records from {since} (inclusive)" if since else f"records before {until}"
    else:
        window = "every record"
    images = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, data in charts.items()
    )
    tables = "".join(f"<h2>{html.escape(name)}</h2>{_table(rows)}" for name, rows in sections)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5rem; font-size: 0.85rem; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, th:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0 1rem 1rem 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1><p>Generated {generated} by llm-cost-hooks; price map in use:
<code class="price-map">{html.escape(price_map_version())}</code> (each record keeps the cost it was written with).
Covers <span class="window">{html.escape(window)}</span>; a task fails by
<code class="failure-policy">{html.escape(failure_policy)}</code>.</p>
<section class="charts">{images}</section>
{tables}
</body></html>"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out
