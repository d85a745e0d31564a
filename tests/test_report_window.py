"""`llm-cost report --html` shows what the tables show: the same time window and the same
task failure policy, and says which."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import LedgerReports, SQLiteLedger
from llm_cost_hooks.ledger._base import TaskOutcome

pytest.importorskip("matplotlib", reason="the HTML report's charts need the charts extra")


def _ledger(path: Path) -> None:
    led = SQLiteLedger(path)
    day1 = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    day2 = datetime(2026, 11, 2, 12, tzinfo=timezone.utc)
    # Day 1: three calls of one task, $0.30, one of them served by the cache.
    for i in range(3):
        led.write(
            CostRecord(
                model="gpt-4o",
                tenant="old-tenant",
                task_id="t-day1",
                timestamp=day1,
                cost_usd=0.10,
                saved_usd=0.05 if i == 0 else 0.0,
                cache_status="exact" if i == 0 else "miss",
            )
        )
    # Day 2: one task whose first attempt failed and whose retry succeeded ($0.02 + $0.04).
    led.write(
        CostRecord(
            model="gpt-4o-mini",
            tenant="new-tenant",
            task_id="t-day2",
            timestamp=day2,
            cost_usd=0.02,
            success=False,
            error_type="RateLimitError",
        )
    )
    led.write(
        CostRecord(
            model="gpt-4o-mini",
            tenant="new-tenant",
            task_id="t-day2",
            timestamp=day2,
            cost_usd=0.04,
            attempt=2,
        )
    )
    led.write_task(TaskOutcome(task_id="t-day2", success=True, timestamp=day2))  # the root run ended well
    led.close()


def _section(page: str, title: str) -> str:
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start : end if end != -1 else len(page)]


def _first_row(section: str) -> dict[str, str]:
    heads = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", section)]
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", section)[: len(heads)]]
    return dict(zip(heads, cells))


def test_html_report_covers_the_window_the_tables_cover(tmp_path: Path) -> None:
    db, out = tmp_path / "llm_costs.db", tmp_path / "report.html"
    _ledger(db)
    args = ["report", str(db), "--since", "2026-11-02", "--until", "2026-11-03", "--format", "json"]
    assert main([*args, "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    totals = _first_row(_section(page, "Totals"))
    assert (totals["calls"], totals["cost_usd"]) == ("2", "$0.060000")
    assert "old-tenant" not in page
    # Day 1's cache hit is outside the window: no savings, no waterfall steps beyond the bill.
    assert "<em>no data</em>" in _section(page, "Cache savings")
    assert "2026-11-02" in page and "2026-11-03" in page  # the page names its window


def test_html_report_uses_the_failure_policy_the_tables_use(tmp_path: Path) -> None:
    db, out = tmp_path / "llm_costs.db", tmp_path / "report.html"
    _ledger(db)
    args = ["report", str(db), "--failure-policy", "root_error", "--format", "json"]
    assert main([*args, "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    tasks = _first_row(_section(page, "Tasks: cost per successful task"))
    # root_error: day 2's retry recovered and its root run ended well, so both tasks succeeded.
    assert (tasks["tasks"], tasks["successful_tasks"]) == ("2", "2")
    assert tasks["cost_per_successful_task"] == "$0.180000"
    assert "root_error" in page


def test_html_report_without_a_window_covers_every_record(tmp_path: Path) -> None:
    db, out = tmp_path / "llm_costs.db", tmp_path / "report.html"
    _ledger(db)
    assert main(["report", str(db), "--format", "json", "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    totals = _first_row(_section(page, "Totals"))
    assert (totals["calls"], totals["cost_usd"]) == ("5", "$0.360000")
    assert "Savings waterfall" in page and "exact cache" in page


def test_savings_waterfall_of_a_window_counts_only_its_records() -> None:
    from llm_cost_hooks.ledger import LedgerReports, savings_waterfall

    day1 = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    day2 = datetime(2026, 11, 2, 12, tzinfo=timezone.utc)
    reports = LedgerReports.from_records(
        [
            # Day 1: a provider prompt-cache write (premium $0.01) and a batch answer ($0.02 saved).
            CostRecord(
                model="claude-sonnet-4-5",
                timestamp=day1,
                cost_usd=0.05,
                tags={"prompt_cache.write_premium_usd": "0.01"},
            ),
            CostRecord(
                model="gpt-4o",
                timestamp=day1,
                cost_usd=0.02,
                saved_usd=0.02,
                tags={"batch.saved_usd": "0.02"},
            ),
            # Day 2: a prompt-cache read that saved $0.03 and an exact cache hit that saved $0.04.
            CostRecord(
                model="claude-sonnet-4-5",
                timestamp=day2,
                cost_usd=0.01,
                saved_usd=0.03,
                cache_status="provider_prefix",
            ),
            CostRecord(model="gpt-4o", timestamp=day2, cost_usd=0.0, saved_usd=0.04, cache_status="exact"),
        ]
    )
    steps = {s["step"]: s for s in savings_waterfall(reports, since="2026-11-02")}
    assert set(steps) == {"without levers", "exact cache", "provider prompt cache", "billed"}
    assert steps["provider prompt cache"]["saving_usd"] == pytest.approx(0.03)  # day 1's write premium is out
    assert steps["billed"]["cost_usd"] == pytest.approx(0.01)
    assert steps["without levers"]["cost_usd"] == pytest.approx(0.08)
    whole = {s["step"]: s for s in savings_waterfall(reports)}
    assert whole["provider prompt cache"]["saving_usd"] == pytest.approx(0.02)
    assert whole["batch API"]["saving_usd"] == pytest.approx(0.02)


def test_a_window_bound_in_z_form_reads_as_utc(tmp_path: Path) -> None:
    # Python 3.10's datetime.fromisoformat rejects the "Z" suffix; the window parses it itself.
    from llm_cost_hooks.ledger._reports import _ts

    assert _ts("2026-11-02T00:00:00Z", "since") == _ts("2026-11-02T00:00:00+00:00", "since")
    assert _ts("2026-11-02T01:30:00z", "until") == "2026-11-02T01:30:00+00:00"
    path = tmp_path / "costs.db"
    _ledger(path)
    ledger = SQLiteLedger(path)
    try:
        rows = LedgerReports.from_ledger(ledger).totals(by=["tenant"], since="2026-11-02T00:00:00Z")
    finally:
        ledger.close()
    assert [r["tenant"] for r in rows] == ["new-tenant"]
