"""`llm-cost export-finetune`, `breakeven fine-tune` and `prices update` on wrong files and wrong
numbers: a message naming the file, line or option to fix and exit 2, never a traceback or a
confident wrong answer (a negative break-even volume, "pays back in -6 months")."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_cost_hooks.cli import main


@pytest.fixture
def empty_ledger(tmp_path: Path) -> str:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    return str(path)


@pytest.mark.parametrize(
    "content, fix",
    [
        ("not json at all\n", "line 1"),
        ('{"x": 1}\n', "line 1"),
        ('{"request_id": "r1", "messages": [], "answer": "a"}\n[1, 2]\n', "line 2"),
        (b"\xe9t\xe9\n", "line 1"),
    ],
)
def test_export_finetune_names_the_bad_content_line(
    tmp_path: Path, empty_ledger: str, content: str | bytes, fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "content.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code = main(
        [
            "export-finetune",
            "--ledger",
            empty_ledger,
            "--content",
            str(path),
            "--out",
            str(tmp_path / "ft.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and str(path) in err and fix in err


@pytest.mark.parametrize("where", ["directory", "under_a_file"])
def test_export_finetune_unwritable_out(
    tmp_path: Path, empty_ledger: str, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    content = tmp_path / "content.jsonl"
    content.write_text("")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = str(tmp_path) if where == "directory" else str(blocker / "ft.jsonl")
    code = main(["export-finetune", "--ledger", empty_ledger, "--content", str(content), "--out", out])
    assert code == 2
    assert out in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--prompt-tokens", "-1000"),
        ("--prompt-tokens", "nan"),
        ("--calls-per-month", "-1000"),
        ("--training-tokens", "-100000"),
        ("--other-input-tokens", "-200"),
        ("--output-tokens", "-100"),
        ("--epochs", "0"),
        ("--hosting", "-5"),
        ("--training-price-per-mtok", "-3"),
        ("--prompt-tokens-left", "-1"),
    ],
)
def test_breakeven_fine_tune_refuses_negative_numbers(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = {
        "--model": "gpt-4o-mini",
        "--prompt-tokens": "1000",
        "--training-tokens": "100000",
        "--calls-per-month": "1000",
        "--other-input-tokens": "200",
        "--output-tokens": "100",
    }
    args[flag] = value
    argv = ["breakeven", "fine-tune", *[x for kv in args.items() for x in kv]]
    code = main(argv)
    out = capsys.readouterr()
    assert code == 2, out.out
    assert "Training:" not in out.out
    assert f"{flag} " in out.err  # the option to fix, as typed


def test_prices_update_refuses_a_negative_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["prices", "update", "--timeout", "-1", "--url", "http://127.0.0.1:9/"])
    assert exit_info.value.code == 2
    assert "--timeout" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, value", [("--quality-share", "3"), ("--confidence", "1"), ("--horizon", "-5"), ("--budget", "-1")]
)
def test_route_eval_calibration_target_names_the_option(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import llm_cost_hooks

    data = (
        Path(llm_cost_hooks.__file__).parent
        / "_demo/data/routing/routerbench_train/arc_challenge_train.csv.gz"
    )
    assert main(["route", "eval", str(data), "--embedder", "hashing-256", flag, value]) == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err and "pydantic" not in err


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["audit-prompts", "--threshold", "5"], "--threshold"),
        (["audit-prompts", "--threshold", "nan"], "--threshold"),
        (["audit-prompts", "--calls-per-month", "-5"], "--calls-per-month"),
        (["prefix-report", "--ledger", "x.db", "--ttl", "-5"], "--ttl"),
        (["pr-estimate", "--base", "HEAD", "--fail-above", "nan"], "--fail-above"),
    ],
)
def test_out_of_range_numbers_are_argument_errors(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


def test_audit_prompts_unknown_prompt_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "classify.txt").write_text("Classify the ticket into billing, shipping or other.")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.llm-cost-hooks]\nprompt_files = ["p/*.txt"]\ndefault_model = "gpt-4o-mini"\n')
    assert main(["audit-prompts", "--pyproject", str(pyproject), "--prompt", "clasify"]) == 2
    err = capsys.readouterr().err
    assert "'clasify' matches no prompt" in err and "classify" in err


def test_pr_estimate_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "one"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *cmd],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = str(blocker / "comment.md")
    assert main(["pr-estimate", "--base", "HEAD", "--repo", str(repo), "--output", out]) == 2
    assert f"Cannot write --output {out!r}" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["out", "config"])
def test_cache_calibrate_bad_out_or_config(
    tmp_path: Path, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "intents.csv"
    data.write_text("text,label\nhello,a\nhi,a\nbye,b\nciao,b\n")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    argv = ["cache", "calibrate", str(data), "--out"]
    if which == "out":
        argv += [str(blocker / "c.json")]
    else:
        argv += [str(tmp_path / "c.json"), "--config", str(blocker)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--{which} {str(blocker) if which == 'config' else str(blocker / 'c.json')!r}" in err
