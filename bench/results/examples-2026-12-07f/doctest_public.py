"""Doctest every public name (each package's ``__all__``) from the installed package.

Prints, per package, the names without a docstring, those whose docstring has no ``>>>``
example, and each failing example. Each example runs as ``doctest.testmod`` runs it (the
globals of the module that defines the name) in an empty temp dir.

    cd "$(mktemp -d)" && VENV/bin/python doctest_public.py CHECKOUT

A name whose docstring has no example but which a ```python block of README.md or docs/*.md,
or a notebook's code cell, uses (run by run_docs.py / run_notebooks.py) is listed apart: it
has a runnable example, on a page.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import json
import os
import re
import sys
import tempfile
from pathlib import Path

PACKAGES = [
    "llm_cost_hooks",
    "llm_cost_hooks.langchain",
    "llm_cost_hooks.ledger",
    "llm_cost_hooks.pricing",
    "llm_cost_hooks.tokens",
    "llm_cost_hooks.telemetry",
    "llm_cost_hooks.cache",
    "llm_cost_hooks.embeddings",
    "llm_cost_hooks.routing",
    "llm_cost_hooks.budget",
    "llm_cost_hooks.dedup",
    "llm_cost_hooks.batch",
    "llm_cost_hooks.prompt_cache",
    "llm_cost_hooks.prompts",
    "llm_cost_hooks.litellm",
]

repo = Path(sys.argv[1])
page_code = "\n".join(
    m
    for p in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]
    for m in re.findall(r"^```python\n(.*?)^```", p.read_text(encoding="utf-8"), flags=re.S | re.M)
)
for nb in sorted((repo / "notebooks").glob("*.ipynb")):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    page_code += "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def on_a_page(name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", page_code) is not None


totals = {"on_a_page": 0, "names": 0, "no_doc": 0, "no_example": 0, "examples": 0, "failed": 0}
finder = doctest.DocTestFinder(recurse=False)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
for pkg_name in PACKAGES:
    pkg = importlib.import_module(pkg_name)
    no_doc, no_example, failed = [], [], []
    seen_own: set[int] = set()
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        totals["names"] += 1
        doc = (
            inspect.getdoc(obj) if (inspect.isclass(obj) or callable(obj) or inspect.ismodule(obj)) else None
        )
        if not doc:
            # constants (strings, dicts) carry no docstring of their own
            if inspect.isclass(obj) or inspect.isfunction(obj):
                no_doc.append(name)
            continue
        if ">>>" not in doc:
            if on_a_page(name):
                totals["on_a_page"] += 1
            else:
                no_example.append(name)
            continue
        if id(obj) in seen_own:
            continue
        seen_own.add(id(obj))
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        globs = dict(vars(module)) if module else {}
        try:
            tests = finder.find(obj, name, module=module or False, globs=globs)
        except ValueError as exc:  # a docstring doctest cannot parse
            failed.append(f"{name} (unparsable: {str(exc)[:80]})")
            continue
        for test in tests:
            if not test.examples:
                continue
            totals["examples"] += len(test.examples)
            with tempfile.TemporaryDirectory() as cwd:
                here = os.getcwd()
                os.chdir(cwd)
                try:
                    result = runner.run(test, out=lambda s: None)
                finally:
                    os.chdir(here)
            if result.failed:
                failed.append(f"{name} ({result.failed}/{result.attempted})")
    totals["no_doc"] += len(no_doc)
    totals["no_example"] += len(no_example)
    totals["failed"] += len(failed)
    print(f"{pkg_name}: {len(pkg.__all__)} names")
    if no_doc:
        print(f"  no docstring: {' '.join(no_doc)}")
    if no_example:
        print(f"  no example (neither docstring nor a page's code): {' '.join(no_example)}")
    if failed:
        print(f"  FAILED examples: {' '.join(failed)}")
print(totals)
sys.exit(1 if totals["failed"] else 0)
