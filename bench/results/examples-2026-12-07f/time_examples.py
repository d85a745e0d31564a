"""Wall time of each public name's docstring examples, from the installed package.

Runs every docstring example the way doctest_public.py does (each name's examples in an
empty temporary directory, the globals of the module that defines it) and prints the
names whose examples took longest. The first example to import a heavy dependency
(litellm, onnxruntime) pays for the import.

    cd "$(mktemp -d)" && VENV/bin/python time_examples.py [N]
"""

from __future__ import annotations

import doctest
import importlib
import os
import sys
import tempfile
import time

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

top = int(sys.argv[1]) if len(sys.argv) > 1 else 15
finder = doctest.DocTestFinder(recurse=False)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
times: list[tuple[float, str]] = []
seen: set[int] = set()
for pkg_name in PACKAGES:
    pkg = importlib.import_module(pkg_name)
    for name in pkg.__all__:
        obj = getattr(pkg, name)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        try:
            tests = finder.find(obj, name, module=module or False, globs=dict(vars(module)) if module else {})
        except (ValueError, TypeError):
            continue
        for test in tests:
            if not test.examples:
                continue
            with tempfile.TemporaryDirectory() as cwd:
                here = os.getcwd()
                os.chdir(cwd)
                start = time.perf_counter()
                try:
                    runner.run(test, out=lambda s: None)
                finally:
                    os.chdir(here)
                times.append((time.perf_counter() - start, f"{pkg_name}.{name}"))
times.sort(reverse=True)
print(f"{len(times)} names with examples; slowest {top}:")
for seconds, name in times[:top]:
    print(f"  {seconds:6.2f} s  {name}")
print(f"over 1 s: {sum(1 for s, _ in times if s > 1.0)}")
