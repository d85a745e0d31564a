"""The PR estimate as a first project sets it up: a template's model given with
`with_config(metadata=...)` is the one priced, and the GitHub workflow installs the package
from where it is published."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from llm_cost_hooks.prompts import PromptRegistry, discover_prompts


def _git_in(repo: Path) -> Callable[..., None]:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )

    return git


def test_model_from_with_config_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "fh_with_config_app"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "prompts.py").write_text(
        "from langchain_core.prompts import ChatPromptTemplate\n"
        "BOUND = ChatPromptTemplate.from_messages([('system', 'Be brief.'), ('human', '{q}')])"
        ".with_config(metadata={'model': 'gpt-4o'})\n"
        "OWN = ChatPromptTemplate(messages=[('system', 'Be kind.')], metadata={'model': 'claude-haiku-4-5'})\n"
        "PLAIN = ChatPromptTemplate.from_messages([('system', 'Be.')])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = discover_prompts(
            modules=["fh_with_config_app.prompts"],
            files=[],
            registry=PromptRegistry(),
            default_model="gpt-4o-mini",
        )
    finally:
        for name in [m for m in sys.modules if m.startswith("fh_with_config_app")]:
            del sys.modules[name]
    models = {p.name: p.model for p in found}
    assert models == {
        "fh_with_config_app.prompts:BOUND": "gpt-4o",
        "fh_with_config_app.prompts:OWN": "claude-haiku-4-5",
        "fh_with_config_app.prompts:PLAIN": "gpt-4o-mini",
    }


def test_workflow_installs_the_package_from_its_repository() -> None:
    """The package is not on PyPI (the README installs from a clone): a bare `pip install
    llm-cost-hooks` in the GitHub workflow fails, or installs another project's package."""
    import re

    import yaml

    root = Path(__file__).resolve().parents[1]
    homepage = re.search(r'^Homepage = "([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    assert homepage is not None
    workflow = yaml.safe_load((root / "integrations" / "github" / "llm-cost-pr-estimate.yml").read_text())
    runs = [str(s.get("run", "")) for job in workflow["jobs"].values() for s in job["steps"]]
    installs = [
        line for run in runs for line in run.splitlines() if "pip install" in line and "cost-hooks" in line
    ]
    assert installs and all(f"git+{homepage.group(1)}" in line for line in installs), installs


def test_an_empty_first_commit_has_no_prompts(tmp_path: Path) -> None:
    """Many repositories start with an empty commit; as the base of a PR it read as
    "git archive ... failed: end of file header"."""
    from llm_cost_hooks.prompts import estimate_pr_cost

    git = _git_in(tmp_path)

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "initial")
    (tmp_path / "pyproject.toml").write_text('[tool.llm-cost-hooks]\nprompt_files = ["p/*.txt"]\n')
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "hello.txt").write_text("Say hello.")
    git("add", "-A")
    git("commit", "-q", "-m", "a prompt")
    est = estimate_pr_cost("HEAD~1", "HEAD", repo=tmp_path, default_model="gpt-4o-mini")
    assert [(p.name, p.status) for p in est.prompts] == [("hello", "added")]


def test_the_model_option_wins_over_the_pyproject_default_model(tmp_path: Path) -> None:
    """`--model` prices the prompts that name no model even when pyproject.toml sets a
    `default_model` (a command-line option overrides the file); a model a prompt names
    itself stays."""
    from llm_cost_hooks.prompts import estimate_pr_cost

    git = _git_in(tmp_path)

    git("init", "-q")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.llm-cost-hooks]\nprompt_files = ["p/*.txt"]\ndefault_model = "gpt-4o-mini"\n'
    )
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "hello.txt").write_text("Say hello.")
    git("add", "-A")
    git("commit", "-q", "-m", "a prompt")
    (tmp_path / "p" / "hello.txt").write_text("Say hello, briefly and kindly.")
    git("commit", "-q", "-am", "longer")

    from_file = estimate_pr_cost("HEAD~1", "HEAD", repo=tmp_path)
    given = estimate_pr_cost("HEAD~1", "HEAD", repo=tmp_path, default_model="gpt-4o")
    assert [(p.model_before, p.model_after) for p in from_file.prompts] == [("gpt-4o-mini", "gpt-4o-mini")]
    assert [(p.model_before, p.model_after) for p in given.prompts] == [("gpt-4o", "gpt-4o")]
