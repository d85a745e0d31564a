"""Keep the public surface honest: every exported name exists, is documented, and the
cheap-import promises hold."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import llm_cost_hooks

PUBLIC_PACKAGES = [
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


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_all_names_resolve_and_are_documented(package: str) -> None:
    mod = importlib.import_module(package)
    assert mod.__all__ == sorted(mod.__all__) or package != "llm_cost_hooks"
    assert len(set(mod.__all__)) == len(mod.__all__), "duplicates in __all__"
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"{package}.{name} has no docstring"
            assert obj.__module__.startswith("llm_cost_hooks"), f"{package}.{name} is not ours"


def test_top_level_reexports_are_the_same_objects() -> None:
    from llm_cost_hooks import _errors, _records, ledger, pricing, tokens

    assert llm_cost_hooks.CostRecord is _records.CostRecord
    assert llm_cost_hooks.PriceBook is pricing.PriceBook
    assert llm_cost_hooks.SQLiteLedger is ledger.SQLiteLedger
    assert llm_cost_hooks.TokenCounter is tokens.TokenCounter
    for name in _errors.__all__:
        assert name in llm_cost_hooks.__all__


def test_public_names_not_in_all_are_private() -> None:
    public = {n for n in dir(llm_cost_hooks) if not n.startswith("_")}
    submodules = {
        "ledger",
        "pricing",
        "tokens",
        "langchain",
        "cli",
        "telemetry",
        "cache",
        "routing",
        "budget",
        "dedup",
        "batch",
        "prompt_cache",
        "litellm",
        "embeddings",
        "annotations",
        "prompts",
        "tracking",
    }
    assert public - submodules <= set(llm_cost_hooks.__all__)
    with pytest.raises(AttributeError):
        llm_cost_hooks.NoSuchThing  # noqa: B018


def test_exception_tree() -> None:
    from llm_cost_hooks import _errors

    for name in _errors.__all__:
        assert issubclass(getattr(_errors, name), _errors.LLMCostHooksError)
    assert issubclass(_errors.ConfigurationError, ValueError)
    assert issubclass(_errors.MissingExtraError, ImportError)
    err = _errors.MissingExtraError("redis", "redisvl", "The Redis cache backend")
    assert "pip install 'llm-cost-hooks[redis]'" in str(err)


def _fresh_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import json

    return set(json.loads(out.strip().splitlines()[-1]))


def test_core_import_is_light() -> None:
    mods = _fresh_modules("import llm_cost_hooks")
    for heavy in (
        "litellm",
        "langchain_core",
        "tiktoken",
        "pydantic_settings",
        "opentelemetry",
        "redis",
        "onnxruntime",
    ):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in mods), heavy


def test_adapter_never_imports_litellm() -> None:
    mods = _fresh_modules(
        "from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage\n"
        "h = CostCallbackHandler(ledger='memory://')\n"
        "FakeChatModelWithUsage().invoke('hi', config={'callbacks': [h]})\n"
        "assert h.records()[0].cost_usd > 0"
    )
    assert "litellm" not in mods
    assert "langchain_core" in mods


def test_core_modules_do_not_import_frameworks() -> None:
    """The framework-free core: nothing outside the adapters imports langchain or litellm."""
    from pathlib import Path

    root = Path(llm_cost_hooks.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).parts
        if rel[0] in ("langchain", "litellm"):
            continue
        text = path.read_text()
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(("import langchain", "from langchain", "import litellm", "from litellm")):
                offenders.append(f"{path}: {stripped}")
    assert not offenders, offenders
