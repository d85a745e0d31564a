"""The offline embedder (llm_cost_hooks.embeddings) and the LangChain embeddings adapter."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from llm_cost_hooks.embeddings import (
    DEFAULT_MODEL_NAME,
    CallableEmbedder,
    Embedder,
    EmbeddingModelError,
    OnnxEmbedder,
    default_embedder,
)


def test_default_embedder_shape_dtype_norm() -> None:
    e = default_embedder()
    assert isinstance(e, Embedder)
    assert e.name == DEFAULT_MODEL_NAME and e.dim == 384
    v = e.embed(["Has my card arrived yet?", "How do I change my PIN?"])
    assert v.shape == (2, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert e.embed([]).shape == (0, 384)
    assert e.embed_one("hello").shape == (384,)


def test_embeddings_are_semantic() -> None:
    e = default_embedder()
    a, b, c = e.embed([
        "Has my card arrived yet?",
        "When will my new card be delivered?",
        "The weather is lovely in Lisbon today.",
    ])
    assert float(a @ b) > 0.6
    assert float(a @ b) > float(a @ c) + 0.3


def test_batch_padding_does_not_change_vectors() -> None:
    e = default_embedder()
    texts = ["short", "a much longer sentence with many more tokens in it than the first one"]
    batch = e.embed(texts)
    single = np.stack([e.embed_one(t) for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-4)


def test_truncates_at_256_tokens() -> None:
    e = default_embedder()
    assert e.count_tokens("word " * 1000) == 256
    assert e.embed(["word " * 1000]).shape == (1, 384)


def test_default_embedder_is_a_thread_safe_singleton() -> None:
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(default_embedder())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(x) for x in seen}) == 1


def test_hash_mismatch_is_refused(tmp_path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(EmbeddingModelError, match="sha256"):
        OnnxEmbedder(bad, sha256="0" * 64)


def test_missing_model_file(tmp_path) -> None:
    with pytest.raises(EmbeddingModelError, match="does not exist"):
        OnnxEmbedder(tmp_path / "nope.onnx")


def test_callable_embedder_normalises_and_checks_dim() -> None:
    e = CallableEmbedder(lambda ts: [[3.0, 4.0] for _ in ts], name="toy", dim=2)
    np.testing.assert_allclose(e.embed_one("x"), [0.6, 0.8], atol=1e-6)
    wrong = CallableEmbedder(lambda ts: [[1.0, 2.0, 3.0] for _ in ts], name="toy", dim=2)
    with pytest.raises(ValueError, match="expected"):
        wrong.embed(["x"])


def test_langchain_embedder_adapter() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from llm_cost_hooks.langchain._embeddings import LangChainEmbedder

    e = LangChainEmbedder(DeterministicFakeEmbedding(size=16))
    assert isinstance(e, Embedder) and e.dim == 16
    v = e.embed(["a", "b", "a"])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(v[0], v[2])
    np.testing.assert_allclose(e.embed_one("a"), v[0], atol=1e-6)
    with pytest.raises(ValueError, match="Embeddings"):
        LangChainEmbedder(object())  # type: ignore[arg-type]
