"""Reports read by people, fed what real ledgers hold: tenant and feature names with terminal,
HTML, CSV and chart specials, a ledger another process holds locked, output into a closed pipe."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import LedgerReports, SQLiteLedger, format_rows
from llm_cost_hooks.ledger._reports import DIMENSIONS

HOSTILE = [
    "<script>document.documentElement.setAttribute('data-pwned','script')</script>",
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">",
    'acme "quoted", with comma',
    "line1\nline2",
    "pipe|name",
    "\x1b[31mRED\x1b[0m",
    "Ünïcödé 日本語 🎉",
    "x" * 300,
    "$x_$",  # matplotlib reads $...$ as mathtext; this one does not parse
    r"$\frac{$",
    "_hidden",  # matplotlib leaves labels starting with _ out of legends
    "=cmd|' /C calc'!A0",
]


def _records() -> list[CostRecord]:
    out = []
    for i, name in enumerate(HOSTILE * 3):
        out.append(
            CostRecord(
                model=("gpt-4o", "gpt-4o-mini")[i % 2],
                tenant=name,
                feature=HOSTILE[(i * 5 + 1) % len(HOSTILE)],
                route=HOSTILE[(i * 7 + 2) % len(HOSTILE)],
                prompt_version=name,
                task_id=f"t{i // 2}",
                input_tokens=1000 + i,
                output_tokens=50,
                cost_usd=0.001 * (i + 1),
                saved_usd=0.0005 if i % 4 == 0 else 0.0,
                cache_status="exact" if i % 4 == 0 else "miss",
                success=i % 5 != 0,
                attempt=2 if i % 6 == 0 else 1,
            )
        )
    return out


def test_groups_add_up_to_the_total_whatever_the_names() -> None:
    reports = LedgerReports.from_records(_records())
    total = reports.totals()[0]
    tasks = reports.tasks()[0]
    for by in [*DIMENSIONS, "tenant,feature,route"]:
        rows = reports.totals(by=by)
        assert sum(r["calls"] for r in rows) == total["calls"], by
        assert math.isclose(sum(r["cost_usd"] for r in rows), total["cost_usd"], abs_tol=1e-9), by
        assert math.isclose(sum(r["saved_usd"] for r in rows), total["saved_usd"], abs_tol=1e-9), by
    for by in ["tenant", "feature", "route", "prompt_version", "model"]:
        rows = reports.tasks(by=by)
        assert sum(r["tasks"] for r in rows) == tasks["tasks"], by
        assert sum(r["successful_tasks"] for r in rows) == tasks["successful_tasks"], by
    assert math.isclose(
        tasks["cost_per_successful_task"], tasks["cost_usd"] / tasks["successful_tasks"], rel_tol=1e-6
    )
    saved = sum(r["saved_usd"] for r in reports.cache_savings())
    assert math.isclose(saved, total["saved_usd"], abs_tol=1e-12)


def _columns(line: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


def test_table_shows_control_characters_escaped_and_long_names_cut() -> None:
    rows = LedgerReports.from_records(_records()).totals(by="tenant")
    text = format_rows(rows)
    # No raw escape sequence reaches the terminal, no name breaks a row over two lines.
    assert "\x1b" not in text and "\\x1b[31mRED\\x1b[0m" in text
    assert "line1\\nline2" in text
    assert len(text.splitlines()) == 2 + len(rows)
    assert "x" * 300 not in text and "x" * 60 + "…" in text
    # Columns line up on a terminal: wide (CJK, emoji) characters count two columns.
    wide = next(line for line in text.splitlines() if "日本語" in line)
    narrow = next(line for line in text.splitlines() if line.startswith("pipe|name"))
    assert wide.index("  ") > 0 and _columns(wide) == _columns(narrow)
    # JSON keeps every name exactly; CSV too, but a name a spreadsheet would run as a formula
    # is shown as text (a leading apostrophe), and numbers stay numbers.
    parsed = list(csv.DictReader(io.StringIO(format_rows(rows, "csv"))))
    formula = "=cmd|' /C calc'!A0"
    assert {r["tenant"] for r in parsed} == (set(HOSTILE) - {formula}) | {"'" + formula}
    assert not any(v.startswith(("=", "+", "@")) for r in parsed for v in r.values())
    assert {float(r["cost_usd"]) for r in parsed} == {r["cost_usd"] for r in rows}
    assert {r["tenant"] for r in json.loads(format_rows(rows, "json"))} == set(HOSTILE)


def test_csv_cells_a_spreadsheet_would_run_are_shown_as_text() -> None:
    rows = [
        {"tenant": t, "cost_usd": -0.5, "calls": 3}
        for t in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "plain", "a=b")
    ]
    rows.append({"tenant": "\t=1", "cost_usd": 1.0, "calls": -1})
    parsed = list(csv.DictReader(io.StringIO(format_rows(rows, "csv"))))
    assert [r["tenant"] for r in parsed] == [
        "'=1+1",
        "'+SUM(A1)",
        "'-2+3",
        "'@cmd",
        "'\tx",
        "plain",
        "a=b",
        "'\t=1",
    ]
    assert [r["cost_usd"] for r in parsed] == ["-0.5"] * 7 + ["1.0"]
    assert parsed[-1]["calls"] == "-1"


def test_html_report_renders_names_chart_labels_cannot_parse(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the HTML report's charts need the charts extra")
    from llm_cost_hooks.ledger._html import render_html_report

    out = render_html_report(LedgerReports.from_records(_records()), tmp_path / "r.html")
    page = out.read_text(encoding="utf-8")
    assert page.count("<img") >= 3  # the charts were drawn
    assert "<script>" not in page and "&lt;script&gt;" in page
    from llm_cost_hooks.ledger._html import _label

    # Chart labels: literal dollars, legend-visible underscores, escaped controls, cut length.
    assert _label("$x_$") == r"\$x_\$"
    assert not _label("_hidden").startswith("_")
    assert "\x1b" not in _label("\x1b[31mRED")
    assert len(_label("x" * 300)) <= 61


def _ledger(path: Path) -> None:
    led = SQLiteLedger(path)
    for r in _records():
        led.write(r)
    led.close()


def test_html_report_with_hostile_names_runs_no_script_in_chromium(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the HTML report's charts need the charts extra")
    from test_report_browser import _chromium

    browser = _chromium()
    db = tmp_path / "llm_costs.db"
    _ledger(db)
    html = tmp_path / "report.html"
    assert main(["report", str(db), "--html", str(html), "--format", "json"]) == 0
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
         "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert "data-pwned" in dom  # the names are on the page, as text
    assert 'data-pwned="' not in dom.split("<body", 1)[0]  # and none of them ran
    assert "&lt;img src=x onerror=" in dom


def test_locked_ledger_says_it_is_locked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "llm_costs.db"
    _ledger(db)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        release.wait(30)
        conn.execute("ROLLBACK")
        conn.close()

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        assert main(["report", str(db)]) == 2
    finally:
        release.set()
        t.join()
    err = capsys.readouterr().err
    assert "locked" in err and "not an llm-cost-hooks" not in err


class _ClosedPipe(io.TextIOBase):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_report_into_a_closed_pipe_exits_quietly(tmp_path: Path, monkeypatch: Any) -> None:
    # `llm-cost report ... | head -3`: head closes the pipe; no traceback.
    db = tmp_path / "llm_costs.db"
    _ledger(db)
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["report", str(db), "--by", "tenant"]) == 1


def test_estimate_without_models_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["estimate", "--input-tokens", "10", "--output-tokens", "1", "--requests-per-day", "1"]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--models", " , ,"])
    assert exc.value.code == 2
    assert "--models" in capsys.readouterr().err


@pytest.mark.parametrize(
    "tail", [b'{"request_id": "cut sh', b"\xff\xfe not utf-8\n", b'{"model": 5, "cost_usd": "x"}\n']
)
def test_damaged_jsonl_ledger_line_is_set_aside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tail: bytes
) -> None:
    # The other lines are whole records: the report counts them and says, once, that a line
    # was skipped (the reader's warning, which the command line shows on stderr).
    path = tmp_path / "llm_costs.jsonl"
    path.write_bytes(b"".join(r.model_dump_json().encode() + b"\n" for r in _records()[:3]) + tail)
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks.ledger"):
        assert main(["report", str(path)]) == 0
    err = capsys.readouterr().err
    said = [r.getMessage() for r in caplog.records if "not whole records" in r.getMessage()]
    assert len(said) == 1 and "1 line(s)" in said[0] and "line 4" in said[0]
    assert "not whole records" not in err and "Traceback" not in err
    path.write_bytes(tail)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is not a readable llm-cost-hooks JSONL ledger" in err and "Traceback" not in err


def test_waterfall_nets_cache_write_premiums() -> None:
    # Anthropic bills cache writes at 1.25x input: the prompt cache saves reads x 0.9 input
    # but costs writes x 0.25 input. The waterfall's "without levers" is what the same calls
    # cost with no cache at all, and its prompt-cache step is the net saving.
    from llm_cost_hooks._records import TokenUsage
    from llm_cost_hooks.ledger import MemoryLedger
    from llm_cost_hooks.ledger._html import savings_waterfall
    from llm_cost_hooks.pricing import PriceBook
    from llm_cost_hooks.tracking import CostTracker

    book = PriceBook.default()
    ledger = MemoryLedger()
    tracker = CostTracker(ledger=ledger, price_book=book)
    calls = [
        TokenUsage(input_tokens=10_000, output_tokens=100, cache_write_tokens=8_000),
        TokenUsage(input_tokens=10_000, output_tokens=100, cache_read_tokens=8_000),
        TokenUsage(input_tokens=10_000, output_tokens=100, cache_write_tokens=8_000),
        TokenUsage(input_tokens=500, output_tokens=50),
    ]
    for i, usage in enumerate(calls):
        tracker.start_llm(f"r{i}", None, model="claude-sonnet-4-5", provider="anthropic")
        tracker.end_llm(f"r{i}", usage, model="claude-sonnet-4-5")
    tracker.flush()
    records = ledger.records()
    billed = sum(r.cost_usd for r in records)
    uncached = sum(
        book.cost(
            TokenUsage(input_tokens=u.input_tokens, output_tokens=u.output_tokens), "claude-sonnet-4-5"
        ).total
        for u in calls
    )
    steps = {s["step"]: s for s in savings_waterfall(LedgerReports.from_records(records))}
    assert steps["billed"]["cost_usd"] == pytest.approx(billed)
    assert steps["without levers"]["cost_usd"] == pytest.approx(uncached)
    # one read of 8,000 saves 8,000 x $2.70/M; two writes cost 16,000 x $0.75/M more
    net = 8_000 * 2.70e-6 - 16_000 * 0.75e-6
    assert steps["provider prompt cache"]["saving_usd"] == pytest.approx(net)


def test_postgresql_reports_the_hostile_names_as_sqlite_does(postgres_server: Any, tmp_path: Path) -> None:
    import uuid

    from llm_cost_hooks.ledger import open_ledger
    from llm_cost_hooks.ledger._html import savings_waterfall

    if not postgres_server.running:
        postgres_server.start()
    url = postgres_server.create_database("t_" + uuid.uuid4().hex[:12])
    records = _records()
    records[1] = records[1].model_copy(update={"tags": {"prompt_cache.write_premium_usd": "0.00125"}})
    records += [r.model_copy(update={"tenant": HOSTILE[2]}) for r in _budget_records()]
    stores = [SQLiteLedger(tmp_path / "same.db"), open_ledger(url)]
    for led in stores:
        for r in records:
            led.write(r)
        assert led.flush(timeout=60)
    sqlite, postgres = (led.reports() for led in stores)
    try:
        for by in ("tenant", "feature,route", "prompt_version"):
            # Same numbers, same order (the test server's collation is C, like SQLite's).
            assert postgres.totals(by=by) == sqlite.totals(by=by), by
            assert postgres.tasks(by=by) == sqlite.tasks(by=by), by
        assert {r["tenant"] for r in postgres.totals(by="tenant")} == set(HOSTILE)
        for p, s in zip(savings_waterfall(postgres), savings_waterfall(sqlite), strict=True):
            assert p["step"] == s["step"] and p["cost_usd"] == pytest.approx(s["cost_usd"])
        assert postgres._write_premiums() == pytest.approx(0.00125)
        assert postgres.budget_breaches() == sqlite.budget_breaches()
        assert [(r["calls"], r["refused"]) for r in postgres.budget_breaches()] == [(2, 1)]
    finally:
        sqlite.close()
        postgres.close()
        for led in stores:
            led.close()


@pytest.mark.parametrize("where", ["a-directory", "under-a-file/report.html"])
def test_html_report_that_cannot_be_written_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    pytest.importorskip("matplotlib", reason="the HTML report's charts need the charts extra")
    db = tmp_path / "llm_costs.db"
    _ledger(db)
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "under-a-file").write_text("")
    assert main(["report", str(db), "--html", str(tmp_path / where)]) == 2
    assert "Cannot write the HTML report to" in capsys.readouterr().err


def _budget_records() -> list[CostRecord]:
    return [
        CostRecord(model="gpt-4o", tenant="acme", feature="qa", tags={"team": "budget.ops"}),
        CostRecord(model="gpt-4o", tenant="acme", feature="qa", tags={"note": 'x", "budget.y": "1'}),
        CostRecord(model="gpt-4o", tenant="acme", feature="qa", tags={"budget.trimmed.history": "120"}),
        CostRecord(model="gpt-4o", tenant="acme", feature="qa", success=False, error_type="BudgetExceeded"),
    ]


def test_budget_breaches_read_tag_keys_not_values() -> None:
    # A team's own tag whose value starts with "budget." is no budget action.
    (row,) = LedgerReports.from_records(_budget_records()).budget_breaches()
    assert (row["calls"], row["refused"]) == (2, 1)


def test_html_report_of_a_postgresql_url_does_not_show_its_password(
    postgres_server: Any, tmp_path: Path
) -> None:
    # The page is made to be shared; the ledger URL in its title must not carry the password.
    pytest.importorskip("matplotlib", reason="the HTML report's charts need the charts extra")
    import uuid

    from llm_cost_hooks.ledger import open_ledger

    if not postgres_server.running:
        postgres_server.start()
    url = postgres_server.create_database("t_" + uuid.uuid4().hex[:12])
    secret = url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@")
    led = open_ledger(url)
    for r in _records()[:4]:
        led.write(r)
    led.close()
    html = tmp_path / "report.html"
    assert main(["report", secret, "--html", str(html), "--format", "json"]) == 0
    page = html.read_text(encoding="utf-8")
    assert "s3cret-pw" not in page and "postgres:***@" in page
