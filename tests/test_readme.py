"""README.md and the docs site: every ```python block runs (each in a fresh interpreter, in
an empty temp dir), the README keeps the two commands and stays short, and the site builds
with ``mkdocs build --strict``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [
    (page, i, code)
    for page in PAGES
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S))
]


def test_readme_has_exactly_two_setup_commands() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    (bash,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    commands = [line.split("#")[0].strip() for line in bash.splitlines() if line.split("#")[0].strip()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "scripts/test.sh" in ci


def test_readme_is_short_and_lists_every_extra() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    section = (
        (ROOT / "pyproject.toml")
        .read_text()
        .split("[project.optional-dependencies]", 1)[1]
        .split("\n[", 1)[0]
    )
    extras = re.findall(r"^([a-z][a-z0-9-]*) = ", section, flags=re.M)
    assert {"litellm", "redis", "otlp", "embed", "dev"} <= set(extras)
    missing = [e for e in extras if f"'.[{e}]'" not in text]
    assert not missing, f"README's Install omits extras {missing}"
    install = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    missing = [e for e in extras if f"'.[{e}]'" not in install]
    assert not missing, f"docs/install.md omits extras {missing}"


def test_docs_import_public_names_only() -> None:
    private = [
        (p.name, m)
        for p in PAGES
        for m in re.findall(
            r"(?:from|import) (llm_cost_hooks(?:\.\w+)*\._\w+)", p.read_text(encoding="utf-8")
        )
    ]
    assert not private, private


@pytest.mark.parametrize(
    "page, index, code", BLOCKS, ids=[f"{p.relative_to(ROOT)}#{i}" for p, i, _ in BLOCKS]
)
def test_python_block_runs(page: Path, index: int, code: str, tmp_path: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, (
        f"{page.relative_to(ROOT)} block {index} failed:\n{code}\n--- stderr ---\n{out.stderr[-3000:]}"
    )


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="pip install -e '.[dev]' (mkdocs, mkdocs-material)")
    pytest.importorskip("material", reason="pip install -e '.[dev]' (mkdocs-material)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()
    for page in ("demo", "pricing", "benchmarks", "semantic-cache"):
        assert (tmp_path / "site" / page / "index.html").is_file(), page
