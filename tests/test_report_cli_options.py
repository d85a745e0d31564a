"""`llm-cost report --by` reads its list the same way for every table it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import SQLiteLedger


@pytest.mark.parametrize("by", ["tenant, feature", "tenant,feature,", " tenant ,feature"])
def test_by_with_spaces_or_a_trailing_comma_groups_every_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], by: str
) -> None:
    db = tmp_path / "llm_costs.db"
    led = SQLiteLedger(db)
    led.write(CostRecord(model="gpt-4o", tenant="acme", feature="qa", task_id="t1", cost_usd=0.1))
    led.write(CostRecord(model="gpt-4o", tenant="acme", feature="chat", task_id="t2", cost_usd=0.2))
    led.close()
    assert main(["report", str(db), "--by", by, "--show", "totals,tasks,cache", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {(r["tenant"], r["feature"]) for r in out["totals"]} == {("acme", "qa"), ("acme", "chat")}
    assert {(r["tenant"], r["feature"], r["tasks"]) for r in out["tasks"]} == {
        ("acme", "qa", 1),
        ("acme", "chat", 1),
    }
    assert out["cache"] == [] and out["cache_precision"] == []


def test_unknown_show_table_fails_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, page = tmp_path / "llm_costs.db", tmp_path / "report.html"
    SQLiteLedger(db).close()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(db), "--show", "totals,bogus", "--html", str(page)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert not page.exists() and captured.out == ""
    assert (
        "llm-cost report: error: argument --show: takes totals, tasks, cache, budget; got 'bogus'"
        in captured.err
    )


def test_a_window_whose_start_is_not_before_its_end_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "costs.db"
    ledger = SQLiteLedger(str(db))
    ledger.write(CostRecord(model="gpt-4o-mini", cost_usd=0.01))
    ledger.close()
    rc = main(["report", str(db), "--since", "2026-12-02", "--until", "2026-12-01"])
    err = capsys.readouterr().err
    assert rc == 2 and "since" in err and "before until" in err


def test_help_of_by_names_every_dimension_a_report_accepts() -> None:
    from llm_cost_hooks.cli import build_parser
    from llm_cost_hooks.ledger._reports import DIMENSIONS

    report = build_parser(plugins=False)._subparsers._group_actions[0].choices["report"]  # type: ignore[union-attr]
    by = next(a for a in report._actions if "--by" in a.option_strings)
    assert set(by.help.split(": ", 1)[1].split(",")) == set(DIMENSIONS)  # type: ignore[union-attr]
