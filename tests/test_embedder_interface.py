"""One embedder interface: every embedder the package ships or builds is an ``Embedder``
(``name``, ``dim``, ``embed``, ``embed_one``), and every consumer is typed against it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from llm_cost_hooks.embeddings import CallableEmbedder, Embedder

ROOT = Path(__file__).resolve().parents[1] / "llm_cost_hooks"


def _shipped() -> list[object]:
    from llm_cost_hooks._demo._prepare import MemoEmbedder
    from llm_cost_hooks.routing._eval import _Precomputed
    from llm_cost_hooks.routing._model import HashingEmbedder

    hashing = HashingEmbedder(32)
    return [
        hashing,
        CallableEmbedder(lambda ts: [[1.0, float(len(t))] for t in ts], name="len", dim=2),
        MemoEmbedder(hashing),
        _Precomputed("precomputed", 8),
    ]


@pytest.mark.parametrize("embedder", _shipped(), ids=lambda e: type(e).__name__)
def test_shipped_embedders_are_embedders(embedder: object) -> None:
    assert isinstance(embedder, Embedder)


def test_langchain_embeddings_become_an_embedder() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from llm_cost_hooks.langchain import LangChainEmbedder

    e = LangChainEmbedder(DeterministicFakeEmbedding(size=16), name="fake-16")
    assert isinstance(e, Embedder)
    v = e.embed_one("hello")
    assert v.shape == (16,) and abs(float(np.linalg.norm(v)) - 1.0) < 1e-5


def test_consumers_take_the_embedder_interface() -> None:
    """No parameter named ``embedder`` is typed ``Any``: mypy then checks every caller."""
    loose = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in [*node.args.args, *node.args.kwonlyargs]:
                    if arg.arg == "embedder" and arg.annotation is not None:
                        text = ast.unparse(arg.annotation)
                        if "Any" in text or "object" in text:
                            loose.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name}({text})")
    assert not loose, "embedder parameters not typed as Embedder: " + "; ".join(loose)
