"""Hits served out of N repeated prompts when the embedder cannot load or fails per call.

Real SemanticCache through LangChain's set_llm_cache and a fake chat model that answers
"answer-<i>" on its i-th call: a call served from the cache does not advance the model.
Prints hits, the cache's non-zero stats and the package's log records (WARNING and above)
by level. From the repository root:

    PYTHONPATH=. python bench/results/embedfail-2026-12-08/hits_with_broken_embedder.py --n 30
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from llm_cost_hooks.embeddings import CallableEmbedder, _onnx
from llm_cost_hooks.langchain import SemanticCache


class _Counts(logging.Handler):
    """Log records of the package at WARNING and above, by level."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1


PROMPTS = ["When will my card arrive?", "How do I reset my password?", "What is the fee for a wire?"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    n = ap.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        # 1. LLM_COST_HOOKS_EMBEDDING_MODEL_PATH names a corrupt model file.
        bad = Path(tmp) / "model.onnx"
        bad.write_bytes(b"not an onnx model")
        os.environ["LLM_COST_HOOKS_EMBEDDING_MODEL_PATH"] = str(bad)
        _onnx._defaults.clear()
        model_calls = _calls(n, SemanticCache(path=str(Path(tmp) / "a.db")))
        print(
            f"bad model path:    hits {n - model_calls[0]}/{n}  stats {model_calls[1]}  logs {model_calls[2]}"
        )
        del os.environ["LLM_COST_HOOKS_EMBEDDING_MODEL_PATH"]

        # 2. An embedder of the user's that raises on every call.
        tried = [0]

        def boom(texts: list[str]) -> list[list[float]]:
            tried[0] += 1
            raise TimeoutError("embedding service down")

        emb = CallableEmbedder(boom, name="remote-embedder", dim=8)
        calls = _calls(n, SemanticCache(path=str(Path(tmp) / "b.db"), embedder=emb))
        print(
            f"raising embedder:  hits {n - calls[0]}/{n}  stats {calls[1]}  logs {calls[2]}  embedder called {tried[0]}x"
        )

        # 3. The same, every call a new question (no exact hit possible): how often the
        # failing embedder is called (and waited for).
        tried[0] = 0
        global PROMPTS
        PROMPTS = [f"What is the fee for transfer number {i}?" for i in range(n)]
        calls = _calls(n, SemanticCache(path=str(Path(tmp) / "c.db"), embedder=emb))
        print(
            f"new questions:     hits {n - calls[0]}/{n}  stats {calls[1]}  logs {calls[2]}  embedder called {tried[0]}x"
        )


def _calls(n: int, cache: SemanticCache) -> tuple[int, dict[str, int], dict[str, int]]:
    """(model calls made, non-zero stats, log records by level) over n calls cycling over PROMPTS."""
    model = FakeListChatModel(responses=[f"answer-{i}" for i in range(n + 1)])
    logs = _Counts()
    pkg = logging.getLogger("llm_cost_hooks")
    pkg.addHandler(logs)
    propagate, pkg.propagate = pkg.propagate, False  # counted, not printed
    set_llm_cache(cache)
    try:
        for i in range(n):
            model.invoke(PROMPTS[i % len(PROMPTS)], config={"metadata": {"tenant_id": "acme"}})
    finally:
        set_llm_cache(None)
        pkg.removeHandler(logs)
        pkg.propagate = propagate
    stats = cache.stats.model_dump()
    return model.i, {k: v for k, v in stats.items() if v and k != "saved_usd"}, logs.counts


if __name__ == "__main__":
    main()
