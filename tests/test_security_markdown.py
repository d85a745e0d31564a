"""The pull-request comment of ``llm-cost pr-estimate`` keeps names from the pull request
(file names, prompt keys, refs, models) inside their cells: no broken table, no new line."""

from __future__ import annotations

import re

from llm_cost_hooks.prompts._pr_estimate import PromptCostChange, PromptCostEstimate

HOSTILE = "evil`|x|\n### Approved <img src=https://t.example/p.png> @admins [ok](https://t.example)"


def _estimate(name: str) -> PromptCostEstimate:
    change = PromptCostChange(
        name=name,
        status="changed",
        key_before=name,
        key_after=name + "2",
        model_before="gpt-4o",
        model_after="gpt-4o|" + name,
        source="prompts/" + name,
        calls_per_month=10,
        traffic_source="given",
    )
    added = change.model_copy(update={"status": "added", "key_before": None})
    return PromptCostEstimate(base="main`|\n# x", head=name, prompts=[change, added])


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_hostile_names_stay_inside_their_code_spans_and_cells() -> None:
    plain = _estimate("support").markdown()
    hostile = _estimate(HOSTILE).markdown()
    assert len(hostile.splitlines()) == len(plain.splitlines())  # no line of its own
    assert sum(line.startswith("#") for line in hostile.splitlines()) == 1  # the title only
    for line in hostile.splitlines():
        if line.startswith("| "):
            assert _unescaped_pipes(line) == 11, line
    # Every hostile fragment is inside a code span (where Markdown is not read).
    for line in hostile.splitlines():
        outside = re.sub(r"(`+)(?:(?!\1).)*?\1", "", line)
        assert "<img" not in outside and "@admins" not in outside and "[ok]" not in outside, line


def test_plain_names_keep_their_form() -> None:
    md = _estimate("support").markdown()
    assert "| `support` → `support2` | changed | gpt-4o → `gpt-4o|support` |" not in md
    assert "| `support` → `support2` | changed | gpt-4o → `gpt-4o\\|support` |" in md
    assert "Added prompts: `support2` (prompts/support)." in md
