"""The package's layering, checked on the source with ``ast`` (every import form: absolute,
relative, ``from pkg import _module``, inside functions and under ``TYPE_CHECKING``).

Rooms and allowed arrows (docs/layout.md draws them):

* base: the root modules ``_errors``, ``_records``, ``_settings``, ``_lazy``, ``_shutdown``
  and the root ``__init__``. Base imports no capability and no adapter at run time.
* capabilities: one subpackage each (``CAPABILITIES``); the tracker
  (``tracking/``) is one. They import base and each other, without cycles, and never
  LangChain, LiteLLM or the adapters.
* adapters (``langchain/``, ``litellm/``): framework glue. They import base, the public face
  of a capability (``from ..cache import X``) or a module listed in ``ADAPTER_API``; never a
  capability's private module (``from ..cache._core import X``) and never the other adapter.
* applications on top: the CLI (``cli.py``) may import anything; the demo (``_demo/``)
  imports the core and only the adapters' public faces (``from ..langchain import X``).
  Nothing below them imports an application.

Each failure names the file, the line and the rule.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "llm_cost_hooks"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

ADAPTERS = frozenset({"langchain", "litellm"})
CAPABILITIES = frozenset(
    {
        "pricing",
        "ledger",
        "cache",
        "routing",
        "budget",
        "dedup",
        "telemetry",
        "tokens",
        "batch",
        "prompt_cache",
        "prompts",
        "embeddings",
        "tracking",
    }
)
# Root modules that belong to a capability room.
ROOT_MODULE_ROOMS: dict[str, str] = {}
# _breaker and _redis: the one circuit breaker and the one Redis connection helper every
# capability shares.
BASE_MODULES = frozenset(
    {"_errors", "_records", "_settings", "_options", "_lazy", "_shutdown", "_breaker", "_redis", "__init__"}
)
APP_MODULES = frozenset({"cli"})
# Application packages: use the adapters through their public faces, like a user would.
APP_PACKAGES = frozenset({"_demo"})
# Private core modules that are the adapters' API on purpose (what an adapter needs and a
# user does not): importing them from langchain/ or litellm/ is allowed.
ADAPTER_API = frozenset(
    {
        f"{PACKAGE}._errors",
        f"{PACKAGE}._records",
        f"{PACKAGE}._settings",
        f"{PACKAGE}._lazy",
        f"{PACKAGE}._adapter",  # TrackerAdapterMixin: the user API both adapters share
        # the one bounded exit: an adapter delivers events its framework still holds before
        # the ledgers close
        f"{PACKAGE}._shutdown",
        # the breakpoint planner both adapters drive over their own message types
        f"{PACKAGE}.prompt_cache._placement",
        # the neutral cache key and answer format both adapters map their calls into
        f"{PACKAGE}.cache._canonical",
        # the guarded-call loop both adapters drive with their own call and usage functions
        f"{PACKAGE}.budget._call",
        # the tier plan RoutedChatModel drives (order, floor, downgrades, route metadata)
        f"{PACKAGE}.routing._tiers",
        # the routed run loop (cascade, downgrades, shadow pair, stream fallback) it drives
        f"{PACKAGE}.routing._run",
        # the outcome-file lookup ReplayChatModel answers from
        f"{PACKAGE}.routing._replay",
        # the usage a provider would report for a reply, which the test chat models report
        f"{PACKAGE}.tokens._reply",
        # provider usage in OpenAI's shape, under both adapters' own usage readers
        f"{PACKAGE}.tracking._usage",
        # the call markers, call parameters and run tags the LangChain handler reads
        f"{PACKAGE}.tracking._calls",
        # OpenAI-shaped requests and responses, for the adapter that sees calls as such dicts
        f"{PACKAGE}.budget._requests",
        f"{PACKAGE}.cache._openai",
        f"{PACKAGE}.dedup._hooked",
        f"{PACKAGE}.routing._requests",
        f"{PACKAGE}.pricing._compare",
        f"{PACKAGE}.batch._requests",
        f"{PACKAGE}.tracking._responses",
        # the tenant a gateway operator binds to a caller's credential (the adapter reads it)
        f"{PACKAGE}._tenancy",
    }
)
FRAMEWORKS = ("langchain", "langchain_core", "langchain_community", "litellm")


@dataclass(frozen=True)
class Import:
    path: Path  # the importing file
    line: int
    target: str  # absolute dotted module name
    type_checking: bool  # only under `if TYPE_CHECKING:`

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id.lstrip("_") == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]  # a module's package
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, source: str | None = None) -> Iterator[Import]:
    """Imports of the file at ``path`` (or of ``source`` as if it lived there)."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))

    def visit(node: ast.AST, type_checking: bool) -> Iterator[Import]:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, True)
            for child in node.orelse:
                yield from visit(child, type_checking)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, type_checking)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(path, node)
            yield Import(path, node.lineno, target, type_checking)
            if target.startswith(PACKAGE) and ROOT.parent.joinpath(*target.split(".")).is_dir():
                # `from ..cache import _core` imports the private module cache._core
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        yield Import(path, node.lineno, f"{target}.{alias.name}", type_checking)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, type_checking)

    yield from visit(tree, False)


def room_of(module: str) -> str | None:
    """The room of one of our modules: an adapter, a capability, "base", "app" or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    if len(parts) == 1:
        return "base"
    head = parts[1]
    if head in ADAPTERS or head in CAPABILITIES:
        return head
    if head in ROOT_MODULE_ROOMS:
        return ROOT_MODULE_ROOMS[head]
    if head in BASE_MODULES:
        return "base"
    if head in APP_MODULES or head in APP_PACKAGES:
        return "app"
    return head  # another private package: a room of its own


def all_imports() -> list[Import]:
    return [imp for path in sorted(ROOT.rglob("*.py")) for imp in imports_of(path)]


def violations(imports: list[Import]) -> list[str]:
    found: list[str] = []
    for imp in imports:
        src = room_of(module_name(imp.path))
        dst = room_of(imp.target)
        top = imp.target.split(".")[0]
        if dst == "app" and src != "app":
            found.append(
                f"{imp.where()}: imports-app: {imp.target} is an application; nothing below imports it"
            )
            continue
        if src in ADAPTERS or src == "app":
            in_app_package = module_name(imp.path).split(".")[1] in APP_PACKAGES
            if src == "app" and in_app_package and dst in ADAPTERS and not _public_face(imp.target):
                found.append(
                    f"{imp.where()}: app-private-adapter-import: {imp.target} is private; "
                    f"import the adapter's public face ({'.'.join(imp.target.split('.')[:2])})"
                )
            if src in ADAPTERS and dst in ADAPTERS and dst != src:
                found.append(f"{imp.where()}: adapter-to-adapter: {src} imports {imp.target}")
            if src in ADAPTERS and dst not in ADAPTERS and dst is not None and not _public_face(imp.target):
                found.append(
                    f"{imp.where()}: adapter-private-import: {imp.target} is private; import its public "
                    f"face ({'.'.join(imp.target.split('.')[:2])}) or list the module in ADAPTER_API"
                )
            continue
        if top in FRAMEWORKS:
            found.append(f"{imp.where()}: core-imports-framework: {imp.target}")
        if dst in ADAPTERS:
            found.append(f"{imp.where()}: core-imports-adapter: {imp.target}")
        if src == "base" and dst not in (None, "base") and not imp.type_checking:
            found.append(f"{imp.where()}: base-imports-up: base module imports {imp.target} at run time")
    return found


def _public_face(target: str) -> bool:
    """True when ``target`` is a package's public face or a module of ``ADAPTER_API``."""
    if any(target == api or target.startswith(api + ".") for api in ADAPTER_API):
        return True
    parts = target.split(".")
    return not any(part.startswith("_") for part in parts[1:])


def capability_cycles(imports: list[Import]) -> list[str]:
    """Cycles in the graph "capability A imports capability B" (run-time imports: a
    ``TYPE_CHECKING`` import creates no import-time dependency)."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        src, dst = room_of(module_name(imp.path)), room_of(imp.target)
        if imp.type_checking or src == dst or src not in CAPABILITIES or dst not in CAPABILITIES:
            continue
        edges.setdefault(src, {}).setdefault(dst, imp)
    cycles: list[str] = []
    seen: set[frozenset[str]] = set()

    def walk(start: str, node: str, trail: list[str]) -> None:
        for nxt in sorted(edges.get(node, {})):
            if nxt == start:
                rooms = [*trail, start]
                key = frozenset(rooms)
                if key not in seen:
                    seen.add(key)
                    hops = "; ".join(
                        f"{a} -> {b} at {edges[a][b].where()} ({edges[a][b].target})"
                        for a, b in itertools.pairwise(rooms)
                    )
                    cycles.append(f"capability-cycle: {' -> '.join(rooms)}: {hops}")
            elif nxt not in trail and nxt > start:  # each cycle once, from its smallest room
                walk(start, nxt, [*trail, nxt])

    for start in sorted(edges):
        walk(start, start, [start])
    return cycles


def test_layering_rules_hold() -> None:
    imports = all_imports()
    problems = violations(imports) + capability_cycles(imports)
    assert not problems, "layering violations:\n" + "\n".join(problems)


# An adapter holds framework glue only: a module past this size has core logic to move out.
ADAPTER_MODULE_MAX_LINES = 400


def test_adapter_modules_stay_small() -> None:
    sizes = {
        path: len(path.read_text(encoding="utf-8").splitlines())
        for adapter in sorted(ADAPTERS)
        for path in sorted((ROOT / adapter).glob("*.py"))
    }
    assert len(sizes) > 10  # both adapters were read
    big = [
        f"{p.relative_to(ROOT.parent)}: {n} lines" for p, n in sizes.items() if n > ADAPTER_MODULE_MAX_LINES
    ]
    assert not big, f"adapter modules over {ADAPTER_MODULE_MAX_LINES} lines:\n" + "\n".join(big)


# The LangChain adapter as a whole: a ceiling that only comes down as logic moves to the core.
LANGCHAIN_PACKAGE_MAX_LINES = 2_210


def test_langchain_adapter_stays_small() -> None:
    sizes = {
        p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "langchain").glob("*.py")
    }
    assert "_callback.py" in sizes and "_routed.py" in sizes  # the package was read
    total = sum(sizes.values())
    assert total <= LANGCHAIN_PACKAGE_MAX_LINES, (
        f"llm_cost_hooks/langchain/ is {total} lines (ceiling {LANGCHAIN_PACKAGE_MAX_LINES}): "
        + ", ".join(f"{name} {n}" for name, n in sorted(sizes.items(), key=lambda kv: -kv[1]))
    )


# --- the checker itself catches what it promises -------------------------------------------


def _check_source(rel: str, source: str) -> list[str]:
    """Violations of ``source`` placed at ``llm_cost_hooks/<rel>`` (nothing is written)."""
    found = list(imports_of(ROOT / rel, source))
    return violations(found) + capability_cycles(found)


@pytest.mark.parametrize(
    ("rel", "source", "rule"),
    [
        ("cache/_x.py", "from ..langchain import CostCallbackHandler\n", "core-imports-adapter"),
        (
            "batch/_x.py",
            "def f():\n    from ..litellm._usage import usage_from_litellm\n",
            "core-imports-adapter",
        ),
        ("cache/_x.py", "import llm_cost_hooks.litellm\n", "core-imports-adapter"),
        ("pricing/_x.py", "import litellm\n", "core-imports-framework"),
        ("routing/_x.py", "from langchain_core.messages import AIMessage\n", "core-imports-framework"),
        ("langchain/_x.py", "from ..cache._core import CacheCore\n", "adapter-private-import"),
        ("litellm/_x.py", "from ..cache import _core\n", "adapter-private-import"),
        ("litellm/_x.py", "from llm_cost_hooks.ledger._postgres import redact\n", "adapter-private-import"),
        ("langchain/_x.py", "from ..litellm import CostHooksLogger\n", "adapter-to-adapter"),
        ("_errors.py", "from .budget import SpendGuard\n", "base-imports-up"),
        ("_demo/_x.py", "from ..langchain._budget import GuardedChatModel\n", "app-private-adapter-import"),
        ("_demo/_x.py", "from ..langchain import _routed\n", "app-private-adapter-import"),
        ("langchain/_x.py", "from .._demo import run_demo\n", "imports-app"),
        ("routing/_x.py", "def f():\n    from .._demo._run import STEPS\n", "imports-app"),
        ("budget/_x.py", "from ..cli import main\n", "imports-app"),
    ],
)
def test_checker_catches(rel: str, source: str, rule: str) -> None:
    problems = _check_source(rel, source)
    assert any(f": {rule}:" in p and f"{PACKAGE}/{rel}:" in p for p in problems), problems


@pytest.mark.parametrize(
    ("rel", "source"),
    [
        ("langchain/_x.py", "from ..cache import CacheCore\nfrom .._records import TokenUsage\n"),
        ("langchain/_x.py", "from .._adapter import TrackerAdapterMixin\nfrom ._callback import install\n"),
        ("cache/_x.py", "from ._core import CacheCore\nfrom ..embeddings._base import Embedder\n"),
        (
            "_errors.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .budget import Downgrade\n",
        ),
        ("cli.py", "def f():\n    from ._demo import run_demo\n"),
        ("cli.py", "def f():\n    from .langchain._callback import install\n"),
        ("_demo/_x.py", "from ..langchain import GuardedChatModel\nfrom ._run import STEPS\n"),
        ("_demo/_x.py", "from ..ledger import LedgerReports\nfrom ..routing import OutcomeDataset\n"),
    ],
)
def test_checker_allows(rel: str, source: str) -> None:
    assert _check_source(rel, source) == []


def test_cycle_is_named_with_its_edges() -> None:
    a = Import(ROOT / "prompt_cache" / "_savings.py", 3, f"{PACKAGE}.tracking._tracker", False)
    b = Import(ROOT / "tracking" / "_tracker.py", 7, f"{PACKAGE}.prompt_cache._savings", False)
    (cycle,) = capability_cycles([a, b])
    assert cycle.startswith("capability-cycle: prompt_cache -> tracking -> prompt_cache")
    assert (
        "llm_cost_hooks/tracking/_tracker.py:7" in cycle
        and "llm_cost_hooks/prompt_cache/_savings.py:3" in cycle
    )
    # a TYPE_CHECKING import is no import-time dependency
    assert capability_cycles([a, Import(b.path, b.line, b.target, True)]) == []
