"""Compare the installed ``llm-cost`` command tree with what the pages show.

Walks ``build_parser()`` of the installed wheel (every subcommand and option), then lists:
commands/options in ``--help`` that docs/cli.md never names, and ``llm-cost ...`` commands
or ``--flags`` the pages show that the parser does not have.

    VENV/bin/python check_cli.py CHECKOUT
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from llm_cost_hooks.cli import build_parser


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    opts = {s for a in parser._actions for s in a.option_strings if s.startswith("--")}
    yield path, opts
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from walk(sub, (*path, name))


tree = dict(walk(build_parser()))
repo = Path(sys.argv[1])
pages = [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]
cli_md = (repo / "docs" / "cli.md").read_text(encoding="utf-8")
bad = 0
print(f"{len(tree) - 1} commands in the parser")
for path, opts in sorted(tree.items()):
    if not path:
        continue
    name = " ".join(path)
    # a command is documented in cli.md if "llm-cost <path>" or its last word in a synopsis is there
    shown = f"llm-cost {name}" in cli_md or re.search(
        rf"\b{re.escape(path[-1])}\b", cli_md.split("```")[1] if "```" in cli_md else ""
    )
    if not shown and not any(p for p in tree if p[: len(path)] == path and len(p) > len(path)):
        print(f"NOT IN cli.md: llm-cost {name}")
        bad += 1
    missing = sorted(o for o in opts - {"--help"} if o not in cli_md)
    if missing:
        all_docs = " ".join(p.read_text(encoding="utf-8") for p in pages)
        elsewhere = [o for o in missing if o in all_docs]
        print(f"options of llm-cost {name} not in cli.md: {missing} (named on another page: {elsewhere})")
# every command the pages show: does the parser know the command path and each --flag?
all_opts_by_cmd = {" ".join(p): o for p, o in tree.items()}
for page in pages:
    text = page.read_text(encoding="utf-8")
    for m in re.finditer(r"llm-cost ((?:[a-z][\w-]*)(?: [a-z][\w-]*)?)([^`\n]*)", text):
        words = m.group(1).split()
        cmd = " ".join(words) if " ".join(words) in all_opts_by_cmd else words[0]
        if cmd not in all_opts_by_cmd:
            if words[0] in ("hooks",):  # the package name "llm-cost-hooks"
                continue
            print(f"UNKNOWN COMMAND {page.name}: llm-cost {m.group(1)}")
            bad += 1
            continue
        known = set().union(*(o for p, o in all_opts_by_cmd.items() if p.split()[:1] == [words[0]]))
        for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", m.group(2)):
            if flag not in known:
                print(f"UNKNOWN FLAG {page.name}: llm-cost {cmd} ... {flag}")
                bad += 1
print(f"{bad} problems")
sys.exit(1 if bad else 0)
