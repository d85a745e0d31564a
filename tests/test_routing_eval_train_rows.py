"""`llm-cost route eval DATA --router DIR --train FILES` says how many training rows its
task-name baseline was fitted on (it used to print "train rows: 0")."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from llm_cost_hooks.routing._cli import add_route_commands


def _write(path: Path, n: int, first_id: int) -> Path:
    rows: list[list[object]] = [
        ["prompt_id", "prompt", "model", "quality", "input_tokens", "output_tokens", "task"]
    ]
    for i in range(n):
        if i % 2:
            prompt, small, task = f"Prove the conjecture about prime gaps number {i * 7 + 3}.", 0.2, "proof"
        else:
            prompt, small, task = f"What is {i} plus {i * 3 + 1}?", 1.0, "math"
        rows.append([first_id + i, prompt, "gpt-4o-mini", small, 15, 40, task])
        rows.append([first_id + i, prompt, "gpt-4o", 1.0, 15, 60, task])
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_eval_of_a_saved_router_reports_its_training_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, test = _write(tmp_path / "train.csv", 60, 0), _write(tmp_path / "test.csv", 20, 1000)
    parser = argparse.ArgumentParser(prog="llm-cost")
    add_route_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["route", "train", str(train), "--embedder", "hashing-64", "--out", str(tmp_path / "r")]
    )
    assert args.func(args) == 0
    json.loads(capsys.readouterr().out)
    args = parser.parse_args(
        ["route", "eval", str(test), "--router", str(tmp_path / "r"), "--train", str(train)]
    )
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "train rows: 60  test rows: 20" in text
    args = parser.parse_args(["route", "eval", str(test), "--router", str(tmp_path / "r")])
    assert args.func(args) == 0
    assert "train rows: 0  test rows: 20" in capsys.readouterr().out
