"""``llm-cost audit-prompts`` run as a user runs it, on docs/prompt-caching.md's own example
(one sentence repeated 150 times, registered with register_prompt() and also a module
attribute): the template is audited once, and the 149 identical findings are one row with a
count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SENTENCE = "Refunds need a receipt and are reviewed within two working days. "


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.llm-cost-hooks]\nprompt_modules = ["support_prompts"]\ndefault_model = "claude-sonnet-4-5"\n'
    )
    (tmp_path / "support_prompts.py").write_text(
        "from langchain_core.prompts import ChatPromptTemplate\n"
        "from llm_cost_hooks.prompts import register_prompt\n\n"
        f"policy = {SENTENCE!r} * 150\n"
        'prompt = ChatPromptTemplate.from_messages([("system", policy), ("human", "{question}")])\n'
        'register_prompt("refunds", prompt, model="claude-sonnet-4-5")\n'
    )
    return tmp_path


def _llm_cost(args: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "llm_cost_hooks.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_identical_findings_are_one_row_with_a_count_and_the_template_is_listed_once(tmp_path: Path) -> None:
    out = _llm_cost(["audit-prompts"], _project(tmp_path))
    headers = [line for line in out.splitlines() if line.startswith("== ")]
    assert len(headers) == 1 and headers[0].startswith("== refunds on claude-sonnet-4-5"), headers
    table = out.split("Repeated or near-duplicate instructions", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith(SENTENCE[:40])]
    assert len(rows) == 1, rows
    cells = rows[0].split()
    assert "149" in cells and "0->0" in cells


def test_a_csv_row_carries_the_count(tmp_path: Path) -> None:
    out = _llm_cost(["audit-prompts", "--format", "csv"], _project(tmp_path))
    header = next(line for line in out.splitlines() if line.startswith("repeats,"))
    assert header.split(",") == [
        "repeats",
        "copy",
        "sections",
        "similarity",
        "count",
        "tokens",
        "monthly_usd",
    ]
    rows = [line for line in out.splitlines() if line.startswith(SENTENCE[:40])]
    assert len(rows) == 1 and ",149," in rows[0], rows
