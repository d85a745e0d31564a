"""`SemanticCache()` on an install without the embed extra."""

from __future__ import annotations

import pytest


def test_semantic_cache_without_the_embed_extra_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a core install `SemanticCache()` cached nothing, exact repeats included, and logged
    "cache lookup failed (MissingExtraError)" on every call; now it raises at once, naming the extra."""
    import importlib.util

    from llm_cost_hooks import MissingExtraError
    from llm_cost_hooks.langchain import SemanticCache

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a)
    )
    with pytest.raises(MissingExtraError, match=r"llm-cost-hooks\[embed\]"):
        SemanticCache(path=":memory:")
    SemanticCache(path=":memory:", semantic=False)  # the exact tier needs no extra
