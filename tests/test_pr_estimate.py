"""``llm-cost pr-estimate`` on a fixture git repository with two revisions."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import SQLiteLedger
from llm_cost_hooks.pricing import PriceBook
from llm_cost_hooks.prompts import estimate_pr_cost
from llm_cost_hooks.prompts._pr_estimate import format_usd
from llm_cost_hooks.tokens import count_message_tokens

PYPROJECT = """\
[project]
name = "fixture-app"
version = "0.0.1"

[tool.llm-cost-hooks]
prompt_modules = ["pr_fixture_app.prompts"]
prompt_files = ["prompts/*.txt"]
default_model = "gpt-4o-mini"
"""

SUPPORT_V1 = "You are ACME's support bot. Answer in two sentences."
SUPPORT_V2 = (
    "You are ACME's support bot. Answer in two sentences. Always greet the customer by name, "
    "cite the relevant policy section, and never reveal card numbers or internal ticket ids."
)
CLASSIFY = "Classify the message into one of: billing, card, transfer, other. Reply with the label only."
OLD_FAQ = "Answer from the FAQ below.\n\nQ: Opening hours? A: 9-17."
REFUND = "You handle refund requests. Check the purchase date and the refund policy before answering."

MODULE = """\
from langchain_core.prompts import ChatPromptTemplate
from llm_cost_hooks.prompts import register_prompt

SUPPORT = ChatPromptTemplate.from_messages([("system", {system!r}), ("human", "{{question}}")])
register_prompt("support", SUPPORT, model="gpt-4o", version={version!r})

CLASSIFY = ChatPromptTemplate.from_messages([("system", {classify!r}), ("human", "{{message}}")])
"""

CALLS_SUPPORT, DAYS_SUPPORT = 60, 2.0
CALLS_CLASSIFY, DAYS_CLASSIFY = 45, 3.0


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def fixture_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    _git(repo, "init", "-q", "-b", "main")
    _write(repo / "pyproject.toml", PYPROJECT)
    _write(repo / "pr_fixture_app" / "__init__.py", "")
    _write(
        repo / "pr_fixture_app" / "prompts.py",
        MODULE.format(system=SUPPORT_V1, version="v1", classify=CLASSIFY),
    )
    _write(repo / "prompts" / "old_faq.txt", OLD_FAQ)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "tag", "base")
    _write(
        repo / "pr_fixture_app" / "prompts.py",
        MODULE.format(system=SUPPORT_V2, version="v2", classify=CLASSIFY),
    )
    (repo / "prompts" / "old_faq.txt").unlink()
    _write(repo / "prompts" / "refund.txt", REFUND)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "head")
    return repo


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ledger") / "costs.db"
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    ledger = SQLiteLedger(path)
    for i in range(CALLS_SUPPORT):
        ledger.write(
            CostRecord(
                model="gpt-4o",
                prompt_version="support@v1",
                input_tokens=100,
                output_tokens=20,
                timestamp=start + timedelta(days=DAYS_SUPPORT) * i / (CALLS_SUPPORT - 1),
            )
        )
    for i in range(CALLS_CLASSIFY):
        ledger.write(
            CostRecord(
                model="gpt-4o-mini",
                prompt_version="pr_fixture_app.prompts:CLASSIFY",
                input_tokens=50,
                output_tokens=2,
                timestamp=start + timedelta(days=DAYS_CLASSIFY) * i / (CALLS_CLASSIFY - 1),
            )
        )
    ledger.write(
        CostRecord(
            model="gpt-4o", prompt_version="unrelated@v9", input_tokens=10, output_tokens=1, timestamp=start
        )
    )
    ledger.close()
    return path


def _tokens(system: str, model: str, *, user_turn: bool = True) -> int:
    # Independent of the registry: the messages as the model receives them, the variable empty.
    # A text-file prompt is one system message; the module's templates add a human turn.
    messages = [{"role": "system", "content": system}] + (
        [{"role": "user", "content": ""}] if user_turn else []
    )
    return count_message_tokens(messages, model)


def _price(model: str) -> float:
    return PriceBook.default().lookup(model).input_per_token


def _rows(markdown: str) -> dict[str, list[str]]:
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


def test_markdown_numbers_are_token_counts_times_prices(
    fixture_repo: Path, ledger_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "pr-estimate",
            "--base",
            "base",
            "--head",
            "HEAD",
            "--repo",
            str(fixture_repo),
            "--ledger",
            str(ledger_path),
            "--calls-per-month",
            "refund=1000",
            "--calls-per-month",
            "500",
            "--fail-above",
            "1000000",
        ]
    )  # under the gate: exit 0
    assert code == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert set(rows) == {"support@v1` → `support@v2", "refund", "old_faq", "pr_fixture_app.prompts:CLASSIFY"}

    support = rows["support@v1` → `support@v2"]
    calls = CALLS_SUPPORT * 30 / DAYS_SUPPORT
    t1, t2 = _tokens(SUPPORT_V1, "gpt-4o"), _tokens(SUPPORT_V2, "gpt-4o")
    assert t2 > t1
    assert support[1:4] == [
        "changed",
        "gpt-4o",
        f"{calls:,.0f} (ledger: {CALLS_SUPPORT} calls in {DAYS_SUPPORT:.1f} days)",
    ]
    assert support[4:7] == [f"{t1:,}", f"{t2:,}", f"{t2 - t1:+,d}"]
    before, after = t1 * calls * _price("gpt-4o"), t2 * calls * _price("gpt-4o")
    assert support[7:10] == [format_usd(before), format_usd(after), format_usd(after - before, signed=True)]

    refund = rows["refund"]  # added text file: its given traffic, the config's default model
    t_refund = _tokens(REFUND, "gpt-4o-mini", user_turn=False)
    assert refund[1:5] == ["added", "gpt-4o-mini", "1,000 (given)", "0"]
    assert refund[5] == f"{t_refund:,}"
    assert refund[8] == format_usd(t_refund * 1000 * _price("gpt-4o-mini"))

    old = rows["old_faq"]  # removed; no ledger traffic, so the bare default applies
    t_old = _tokens(OLD_FAQ, "gpt-4o-mini", user_turn=False)
    assert old[1:7] == ["removed", "gpt-4o-mini", "500 (default)", f"{t_old:,}", "0", f"{-t_old:+,d}"]
    assert old[7] == format_usd(t_old * 500 * _price("gpt-4o-mini"))

    classify = rows["pr_fixture_app.prompts:CLASSIFY"]  # module-level template, unchanged
    calls_c = CALLS_CLASSIFY * 30 / DAYS_CLASSIFY
    t_c = _tokens(CLASSIFY, "gpt-4o-mini")
    assert classify[1:7] == [
        "unchanged",
        "gpt-4o-mini",
        f"{calls_c:,.0f} (ledger: {CALLS_CLASSIFY} calls in {DAYS_CLASSIFY:.1f} days)",
        f"{t_c:,}",
        f"{t_c:,}",
        "0",
    ]
    assert classify[9] == "$0.00"

    total_before = before + t_old * 500 * _price("gpt-4o-mini") + t_c * calls_c * _price("gpt-4o-mini")
    total_after = after + t_refund * 1000 * _price("gpt-4o-mini") + t_c * calls_c * _price("gpt-4o-mini")
    total = next(line for line in out.splitlines() if line.startswith("| **total**"))
    assert f"**{format_usd(total_before)}**" in total and f"**{format_usd(total_after)}**" in total
    assert "Added prompts: `refund`" in out and "Removed prompts: `old_faq`" in out
    assert out.startswith("<!-- llm-cost-hooks:pr-estimate -->")


def test_json_totals_and_isolated_imports(fixture_repo: Path, ledger_path: Path) -> None:
    ledger = SQLiteLedger(ledger_path)
    records = list(ledger.records())
    ledger.close()
    est = estimate_pr_cost(
        "base", "HEAD", repo=fixture_repo, records=records, calls_per_month={"support": 10_000}
    )
    # The fixture's prompt module was imported only in the child processes.
    assert not any(m.startswith("pr_fixture_app") for m in sys.modules)
    data = est.to_json()
    support = next(p for p in data["prompts"] if p["name"] == "support")
    assert support["calls_per_month"] == 10_000 and support["traffic_source"] == "given"
    delta = (_tokens(SUPPORT_V2, "gpt-4o") - _tokens(SUPPORT_V1, "gpt-4o")) * 10_000 * _price("gpt-4o")
    assert support["delta_usd_per_month"] == pytest.approx(delta)
    refund = next(p for p in data["prompts"] if p["name"] == "refund")
    assert (
        refund["calls_per_month"] == 0 and refund["usd_per_month_after"] == 0
    )  # no traffic given: nothing invented
    assert data["delta_usd_per_month"] == pytest.approx(
        sum(p["delta_usd_per_month"] for p in data["prompts"])
    )
    assert data["head_commit"] == _git(fixture_repo, "rev-parse", "HEAD")


def test_fail_above_gates_ci(fixture_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "pr-estimate",
        "--base",
        "base",
        "--repo",
        str(fixture_repo),
        "--calls-per-month",
        "support=100000",
        "--format",
        "json",
        "--output",
        str(tmp_path / "est.json"),
    ]
    assert main([*args, "--fail-above", "0.01"]) == 1
    delta = json.loads((tmp_path / "est.json").read_text())["delta_usd_per_month"]
    assert delta > 0.01  # the comment is still written when the gate fails
    assert "above --fail-above $0.01" in capsys.readouterr().err


def test_bad_revisions_and_names_give_clear_errors(
    fixture_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigurationError, match="Unknown git revision 'no-such-branch'.*fetch-depth"):
        estimate_pr_cost("no-such-branch", "HEAD", repo=fixture_repo)
    assert main(["pr-estimate", "--base", "base", "--head", "deadbeef", "--repo", str(fixture_repo)]) == 2
    assert "Unknown git revision 'deadbeef'" in capsys.readouterr().err
    assert main(["pr-estimate", "--base=--upload-pack=x", "--repo", str(fixture_repo)]) == 2
    assert "is not a git revision" in capsys.readouterr().err
    assert main(["pr-estimate", "--base", "base", "--repo", str(tmp_path)]) == 2
    assert "not inside a git repository" in capsys.readouterr().err
    assert (
        main(["pr-estimate", "--base", "base", "--repo", str(fixture_repo), "--calls-per-month", "suport=5"])
        == 2
    )
    assert "match no prompt" in capsys.readouterr().err


def test_broken_prompt_module_at_a_revision_is_reported(tmp_path: Path) -> None:
    repo = tmp_path / "broken"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo / "pyproject.toml", PYPROJECT)
    _write(repo / "pr_fixture_app" / "__init__.py", "")
    _write(repo / "pr_fixture_app" / "prompts.py", "import no_such_dependency_xyz\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "broken")
    with pytest.raises(ConfigurationError, match="at 'HEAD'.*no_such_dependency_xyz"):
        estimate_pr_cost("HEAD", "HEAD", repo=repo)


def test_workflow_runs_the_command() -> None:
    import yaml

    root = Path(__file__).resolve().parents[1]
    workflow = yaml.safe_load((root / "integrations" / "github" / "llm-cost-pr-estimate.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "pull_request" in triggers
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    script = "\n".join(str(s.get("run", "")) + str(s.get("with", "")) for s in steps)
    assert "llm-cost pr-estimate" in script and "--base" in script
    assert any(
        s.get("uses", "").startswith("actions/checkout") and s.get("with", {}).get("fetch-depth") == 0
        for s in steps
    )


def test_repository_without_prompt_config_says_how_to_list_them(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo / "README.md", "no pyproject here\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")
    est = estimate_pr_cost("HEAD", "HEAD", repo=repo)
    assert est.prompts == [] and est.delta_usd_per_month == 0
    assert "No prompt templates found" in est.markdown() and "[tool.llm-cost-hooks]" in est.markdown()
