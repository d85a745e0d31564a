"""The prompt-economy commands see the prompts a project's modules register with
``register_prompt(...)``, as docs/prompt-caching.md says."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.prompt_cache._cli import add_prompt_cache_commands
from llm_cost_hooks.prompts import default_registry

POLICY = "Refunds need a receipt and are reviewed within two working days. " * 150


def test_prefix_report_finds_prompts_registered_in_the_listed_modules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llm_cost_hooks.ledger import open_ledger

    module = f"support_prompts_{uuid.uuid4().hex[:8]}"  # a fresh import in this process
    (tmp_path / f"{module}.py").write_text(
        "from llm_cost_hooks.prompts import register_prompt\n"
        f"register_prompt('faq', [('system', {POLICY!r}), ('human', 'Today is {{date}}. {{question}}')],\n"
        "                model='claude-sonnet-4-5', version='v1')\n"
    )
    (tmp_path / "pyproject.toml").write_text(f"[tool.llm-cost-hooks]\nprompt_modules = ['{module}']\n")
    ledger_path = tmp_path / "ledger.jsonl"
    ledger = open_ledger(str(ledger_path))
    for _ in range(5):
        ledger.write(CostRecord(model="claude-sonnet-4-5", prompt_version="faq@v1", input_tokens=2100,
                                cache_read_tokens=2000, output_tokens=80))  # fmt: skip
    ledger.close()

    parser = argparse.ArgumentParser()
    add_prompt_cache_commands(parser.add_subparsers(dest="command", required=True))
    argv = ["prefix-report", "--ledger", str(ledger_path), "--pyproject", str(tmp_path / "pyproject.toml")]
    args = parser.parse_args([*argv, "--format", "json"])
    before = {p.key for p in default_registry()}
    try:
        assert args.func(args) in (0, None)
    finally:
        sys.modules.pop(module, None)
        for key in {p.key for p in default_registry()} - before:  # leave the process as found
            default_registry()._prompts.pop(key, None)
    out = json.loads(capsys.readouterr().out)
    assert [row["prompt_version"] for row in out["prefix"]] == ["faq@v1"]
