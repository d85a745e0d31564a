"""Every LLM_COST_HOOKS_* variable the pages name is read by the package (a Settings field,
the spend journal, or the LiteLLM proxy callback in integrations/), and every Settings field
has a row in docs/configuration.md.

    VENV/bin/python check_env.py CHECKOUT
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from llm_cost_hooks import Settings

repo = Path(sys.argv[1])
fields = {name.upper() for name in Settings.model_fields}
code = "\n".join(
    p.read_text(encoding="utf-8")
    for p in [*repo.glob("llm_cost_hooks/**/*.py"), *repo.glob("integrations/**/*.py")]
)
read_elsewhere = set(re.findall(r"LLM_COST_HOOKS_([A-Z_]+[A-Z])", code))
# variables of the repository's own scripts (benchmarks, tests), named on the benchmark and test pages
repo_scripts = "\n".join(
    p.read_text(encoding="utf-8")
    for p in [*repo.glob("bench/**/*.py"), *repo.glob("scripts/*"), *repo.glob("tests/*.py")]
    if p.is_file()
)
bad = 0
for page in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
    for name in sorted(set(re.findall(r"LLM_COST_HOOKS_([A-Z_]*[A-Z])", page.read_text(encoding="utf-8")))):
        if name in fields or name in read_elsewhere:
            continue
        if name == "LEDGR" or name == "PROXY":
            continue  # configuration.md's example of a typo; the PROXY_ prefix
        if f"LLM_COST_HOOKS_{name}" in repo_scripts:
            print(f"repository script variable {page.name}: LLM_COST_HOOKS_{name}")
            continue
        if name.startswith("PROXY_") and any(v.startswith(name) for v in read_elsewhere):
            continue  # a prefix such as LLM_COST_HOOKS_PROXY_
        print(f"NOT READ BY ANYTHING {page.name}: LLM_COST_HOOKS_{name}")
        bad += 1
config = (repo / "docs" / "configuration.md").read_text(encoding="utf-8")
for name in sorted(fields):
    if f"| `{name}` |" not in config:
        print(f"SETTING NOT IN configuration.md: {name}")
        bad += 1
print(f"{len(fields)} settings, {bad} problems")
sys.exit(1 if bad else 0)
