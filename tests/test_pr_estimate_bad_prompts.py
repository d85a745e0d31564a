"""``llm-cost pr-estimate`` on prompt files a real repository can hold: empty, huge, not UTF-8,
naming a model the price book does not know. The errors must name the file or prompt to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pr_estimate import _git, _write

from llm_cost_hooks.cli import main

PYPROJECT = """\
[project]
name = "bad-prompts"
version = "0.0.1"

[tool.llm-cost-hooks]
prompt_files = ["prompts/*.txt", "prompts/*.yaml"]
default_model = "gpt-4o-mini"
"""


def _repo(tmp_path: Path, files: dict[str, bytes]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo / "pyproject.toml", PYPROJECT)
    _write(repo / "prompts" / "support.txt", "You are a support bot.")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    for name, data in files.items():
        (repo / "prompts" / name).write_bytes(data)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "head")
    return repo


def test_empty_and_huge_prompt_files_give_numbers_ci_can_parse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(tmp_path, {"empty.txt": b"", "huge.txt": b"Answer politely. " * 50_000})
    args = ["pr-estimate", "--base", "HEAD~1", "--head", "HEAD", "--repo", str(repo), "--format", "json"]
    assert main([*args, "--calls-per-month", "1000"]) == 0
    out = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in out["prompts"]}
    assert by_name["empty"]["status"] == "added" and by_name["empty"]["tokens_after"] < 20
    assert by_name["huge"]["tokens_after"] > 100_000
    assert out["delta_usd_per_month"] == pytest.approx(
        by_name["empty"]["delta_usd_per_month"] + by_name["huge"]["delta_usd_per_month"]
    )


def test_prompt_file_not_utf8_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _repo(tmp_path, {"latin1.txt": "Réponds poliment.".encode("latin-1")})
    assert main(["pr-estimate", "--base", "HEAD~1", "--head", "HEAD", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "latin1.txt" in err  # which file to re-save as UTF-8


def test_unknown_model_names_the_prompt_that_uses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weird = b"name: triage\nversion: v1\nmodel: in-house-model-7b\nmessages:\n  - [system, Sort the ticket]\n"
    repo = _repo(tmp_path, {"triage.yaml": weird})
    assert main(["pr-estimate", "--base", "HEAD~1", "--head", "HEAD", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "in-house-model-7b" in err
    assert "triage" in err  # which prompt names the model, not only which model
