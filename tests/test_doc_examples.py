"""What a reader copies from the docs works: every public name's docstring examples pass
(each package in a fresh interpreter, in an empty temp dir), every ``llm-cost`` command the
pages show is accepted by the CLI's parser, and every extra a ``pip install`` line names
exists."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_public_api import PUBLIC_PACKAGES

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Docstrings doctest cannot parse, per public name: the entry fails until the docstring is fixed.
KNOWN_BROKEN: set[tuple[str, str]] = set()

_RUN_DOCTESTS = r"""
import doctest, importlib, json, os, sys
pkg = importlib.import_module(sys.argv[1])
finder = doctest.DocTestFinder(recurse=False)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
report, seen = {}, set()
for name in pkg.__all__:
    obj = getattr(pkg, name)
    if id(obj) in seen:
        continue
    seen.add(id(obj))
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    try:
        tests = finder.find(obj, name, module=module or False, globs=dict(vars(module)) if module else {})
    except ValueError as exc:
        report[name] = "unparsable: " + str(exc)
        continue
    for test in tests:
        lines = []
        runner.run(test, out=lines.append)
        if lines:
            report[name] = "".join(lines)[-1500:]
print(json.dumps(report))
"""


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_docstring_examples_pass(package: str, tmp_path: Path) -> None:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", _RUN_DOCTESTS, package],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    failures = json.loads(out.stdout.strip().splitlines()[-1])
    known = {name for pkg, name in KNOWN_BROKEN if pkg == package}
    assert set(failures) - known == set(), "\n\n".join(f"{n}: {failures[n]}" for n in set(failures) - known)
    if known:
        assert known <= set(failures), (
            f"now passing, remove from KNOWN_BROKEN: {sorted(known - set(failures))}"
        )
        pytest.xfail(f"known broken docstring examples: {sorted(known)}")


def _code_spans(text: str) -> list[str]:
    fenced = [
        line.split("  #")[0].strip()
        for block in re.findall(r"^```(?:bash|sh)\n(.*?)^```", text, flags=re.S | re.M)
        for line in block.splitlines()
    ]
    inline = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
    return [c for c in fenced + inline if c]


# placeholders and synopses (`[--flag]`, `a | b`, `...`) are not commands to parse
_SYNOPSIS = re.compile(r"\.\.\.|\[--|\s\|\s|\|[a-z]|2>&1")
COMMANDS = sorted(
    {
        (page.relative_to(ROOT).as_posix(), span)
        for page in PAGES
        for span in _code_spans(page.read_text(encoding="utf-8"))
        if span.startswith("llm-cost ") and not _SYNOPSIS.search(span)
    }
)


def test_docs_show_cli_commands() -> None:
    assert len(COMMANDS) >= 20, COMMANDS


@pytest.mark.parametrize("page, command", COMMANDS, ids=[f"{p}:{c}" for p, c in COMMANDS])
def test_cli_command_in_docs_parses(page: str, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from llm_cost_hooks.cli import build_parser

    argv = shlex.split(command)[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for an unknown flag or choice
        err = capsys.readouterr().err.strip().splitlines()[-1:]
        # prose names a command without its arguments ("`llm-cost report` prints ..."): fine
        mention = bool(err) and "the following arguments are required" in err[0]
        assert exc.code == 0 or mention, f"{page}: `{command}` is rejected: {err}"


def _commands(parser: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], set[str]]]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    found = [
        (path, {s for a in parser._actions for s in a.option_strings if s.startswith("--")} - {"--help"})
    ]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


def test_cli_md_shows_every_command_and_option() -> None:
    """docs/cli.md's synopsis names each subcommand of `llm-cost --help` and each of its options."""
    from llm_cost_hooks.cli import build_parser

    synopsis = re.findall(
        r"^```bash\n(.*?)^```", (ROOT / "docs" / "cli.md").read_text(encoding="utf-8"), re.S | re.M
    )[0]
    lines = synopsis.splitlines()
    missing = []
    for path, options in _commands(build_parser()):
        if not path:
            continue
        # a command's lines: the one naming it and the indented ones that continue it
        start = next(
            (i for i, line in enumerate(lines) if re.search(rf"\b{re.escape(path[-1])}\b", line)), None
        )
        if start is None:
            missing.append(" ".join(path))
            continue
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
        text = "\n".join(lines[start:end]) + ("\n" + synopsis if path[0] == "route" else "")
        missing += [f"{' '.join(path)} {o}" for o in sorted(options) if not re.search(rf"{o}(?![\w-])", text)]
    assert missing == [], f"not in docs/cli.md: {missing}"


def test_pip_install_lines_name_real_extras() -> None:
    section = (
        (ROOT / "pyproject.toml")
        .read_text()
        .split("[project.optional-dependencies]", 1)[1]
        .split("\n[", 1)[0]
    )
    extras = set(re.findall(r"^([a-z][a-z0-9-]*) = ", section, flags=re.M))
    named = {
        (page.name, extra)
        for page in PAGES
        for group in re.findall(
            r"pip install (?:-e )?'(?:\.|llm-cost-hooks)\[([\w,-]+)\]'", page.read_text(encoding="utf-8")
        )
        for extra in group.split(",")
    }
    assert named, "no pip install line found"
    unknown = sorted((page, extra) for page, extra in named if extra not in extras)
    assert not unknown, unknown


def test_the_budgets_page_sync_guard_example_prints_what_the_page_says(tmp_path: Path) -> None:
    # The page used to state "14 went through, 26 refused" without the prompt or max_tokens.
    pytest.importorskip("litellm")
    text = (ROOT / "docs" / "budgets.md").read_text()
    found = re.search(
        r"```python\n([^`]*sent = refused = 0[^`]*)```\n\nprints[^\n]*\n\n```text\n([^`]*)```", text, re.S
    )
    assert found, "the example and its output are no longer side by side on docs/budgets.md"
    example, shown = found.groups()
    (tmp_path / "example.py").write_text(example)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout == shown
