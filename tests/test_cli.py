"""The llm-cost command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_cost_hooks.cli import estimate_rows, main
from llm_cost_hooks.pricing import PriceBook


def test_estimate_table_sorted_and_correct(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "estimate",
                "--input-tokens",
                "1500",
                "--output-tokens",
                "300",
                "--requests-per-day",
                "10000",
                "--models",
                "gpt-4o,gpt-4o-mini,claude-haiku-4-5",
                "--format",
                "json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == sorted(
        (r["model"] for r in rows), key=lambda m: next(x["per_month_usd"] for x in rows if x["model"] == m)
    )
    gpt4o = next(r for r in rows if r["model"] == "gpt-4o")
    p = PriceBook.default().lookup("gpt-4o")
    per_request = 1500 * p.input_per_token + 300 * p.output_per_token
    assert gpt4o["per_request_usd"] == pytest.approx(per_request)
    assert gpt4o["per_month_usd"] == pytest.approx(per_request * 10000 * 30)
    assert rows[0]["model"] == "gpt-4o-mini"


def test_estimate_with_cache_and_batch_is_cheaper() -> None:
    plain = estimate_rows(input_tokens=2000, output_tokens=200, requests_per_day=100, models=["gpt-4o"])[0]
    cached = estimate_rows(
        input_tokens=2000, output_tokens=200, requests_per_day=100, models=["gpt-4o"], cached_fraction=0.8
    )[0]
    batch = estimate_rows(
        input_tokens=2000, output_tokens=200, requests_per_day=100, models=["gpt-4o"], batch=True
    )[0]
    assert cached["per_request_usd"] < plain["per_request_usd"]
    assert batch["per_request_usd"] == pytest.approx(plain["per_request_usd"] / 2)


def test_estimate_default_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["estimate", "--input-tokens", "1000", "--output-tokens", "100", "--requests-per-day", "50"])
        == 0
    )
    out = capsys.readouterr().out
    assert "per_month_usd" in out and "gpt-4o-mini" in out and "claude" in out


def test_bad_arguments_say_what_to_fix(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["estimate", "--input-tokens", "-5", "--output-tokens", "1", "--requests-per-day", "1"])
    assert exc.value.code == 2
    assert "--input-tokens must not be negative" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["estimate", "--input-tokens", "1.5", "--output-tokens", "1", "--requests-per-day", "1"])
    assert "whole number" in capsys.readouterr().err
    assert (
        main(
            [
                "estimate",
                "--input-tokens",
                "1",
                "--output-tokens",
                "1",
                "--requests-per-day",
                "1",
                "--models",
                "gpt-4o-minii",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "No price for model 'gpt-4o-minii'" in err and "gpt-4o-mini" in err


def test_report_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing.db")]) == 2
    assert "No ledger file" in capsys.readouterr().err


def test_console_script_installed() -> None:
    exe = Path(sys.executable).parent / "llm-cost"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "estimate" in out.stdout and "report" in out.stdout


def test_report_of_a_torn_jsonl_ledger_says_the_damaged_line_once(tmp_path: Path) -> None:
    # Before: said twice, once logged by the reader and once printed by the command.
    from llm_cost_hooks import CostRecord
    from llm_cost_hooks.ledger import JSONLLedger

    path = tmp_path / "costs.jsonl"
    ledger = JSONLLedger(path)
    for i in range(3):
        ledger.write(CostRecord(model="gpt-4o-mini", input_tokens=100, output_tokens=10, request_id=f"r{i}"))
    ledger.close()
    path.write_bytes(path.read_bytes()[:-40])  # the last line cut short, as by a crash
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "llm_cost_hooks.cli", "report", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("not whole records") == 1, out.stderr
    assert "line 3" in out.stderr
    assert json.loads(out.stdout)["totals"][0]["calls"] == 2  # the whole records are reported
