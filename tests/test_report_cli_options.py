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
