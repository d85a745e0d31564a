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
    a, b, c = e.embed(
        [
            "Has my card arrived yet?",
            "When will my new card be delivered?",
            "The weather is lovely in Lisbon today.",
        ]
    )
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


# --- the fused graph (llm_cost_hooks/embeddings/_fused.py) -----------------------------------

_AGREEMENT_TEXTS = [
    "",
    "hi",
    "Has my card arrived yet?",
    "I was charged twice for the same coffee this morning, can you refund one of them?",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?",
    "Ünïcödé façade — naïve café, 東京, emoji 🙂 and numbers 3.14159e-10",
    "word " * 400,  # truncated at 256 tokens
]


@pytest.fixture(scope="module")
def plain_embedder() -> OnnxEmbedder:
    return OnnxEmbedder(fused=False)


def test_default_embedder_runs_the_fused_graph(plain_embedder: OnnxEmbedder) -> None:
    assert default_embedder().fused is True
    assert plain_embedder.fused is False
    assert plain_embedder.name == default_embedder().name  # same model: cached vectors stay valid


def test_fused_graph_gives_the_export_graphs_vectors(plain_embedder: OnnxEmbedder) -> None:
    fused = default_embedder()
    for t in _AGREEMENT_TEXTS:
        a, b = fused.embed_one(t), plain_embedder.embed_one(t)
        assert float(a @ b) > 1 - 1e-5, t[:40]
        np.testing.assert_allclose(a, b, atol=1e-4)
    # Padded batches: the fused Attention's key mask must hide the padding like the export's.
    a, b = fused.embed(_AGREEMENT_TEXTS), plain_embedder.embed(_AGREEMENT_TEXTS)
    assert float((a * b).sum(axis=1).min()) > 1 - 1e-5
    np.testing.assert_allclose(a, np.stack([fused.embed_one(t) for t in _AGREEMENT_TEXTS]), atol=1e-4)


def test_fused_graph_agrees_on_real_banking77_queries(plain_embedder: OnnxEmbedder) -> None:
    import csv
    import gzip

    from _shared_data import need_shared

    path = need_shared("semantic_cache", "banking77", "test.csv.gz")
    with gzip.open(path, "rt", newline="") as f:
        rows = [r["text"] for r in csv.DictReader(f)]
    texts = rows[:: max(1, len(rows) // 100)][:100]
    cos = (default_embedder().embed(texts) * plain_embedder.embed(texts)).sum(axis=1)
    assert float(cos.min()) > 0.999 and float(cos.mean()) > 1 - 1e-6


def test_fused_graph_failure_falls_back_to_the_export_graph(monkeypatch, caplog) -> None:
    from llm_cost_hooks.embeddings import _fused

    def broken(data: bytes, **kwargs: object) -> bytes:
        raise _fused.FusedGraphError("layout changed")

    monkeypatch.setattr(_fused, "build_fused_minilm", broken)
    with caplog.at_level("WARNING"):
        e = OnnxEmbedder()
    assert e.fused is False and "layout changed" in caplog.text
    assert (
        float(
            e.embed_one("Has my card arrived yet?") @ default_embedder().embed_one("Has my card arrived yet?")
        )
        > 0.99999
    )


def test_fused_builder_rejects_other_files() -> None:
    from llm_cost_hooks.embeddings._fused import FusedGraphError, build_fused_minilm

    with pytest.raises(FusedGraphError):
        build_fused_minilm(b"")  # no graph
    with pytest.raises(FusedGraphError):
        build_fused_minilm(b"\x3a\x00")  # an empty graph: no MiniLM weights in it


def test_a_users_own_model_file_runs_unfused(tmp_path) -> None:
    from llm_cost_hooks.embeddings._onnx import _default_model_path

    own = tmp_path / "model.onnx"
    own.write_bytes(_default_model_path().read_bytes())
    e = OnnxEmbedder(own)  # a user's file: not hash-checked, so not rebuilt either
    assert e.fused is False and e.name == "model"


# --- int8 matmuls (the trained router's default) ---------------------------------------------


def test_int8_matmul_embedder_is_close_to_but_not_the_fp32_one() -> None:
    fp32, int8 = default_embedder(), default_embedder(int8_matmul=True)
    assert int8 is default_embedder(int8_matmul=True) and int8 is not fp32
    assert int8.int8_matmul is True and fp32.int8_matmul is False and int8.fused is True
    # Other vectors, so another name: a router trained on one refuses the other.
    assert int8.name == DEFAULT_MODEL_NAME + "-int8mm" and fp32.name == DEFAULT_MODEL_NAME
    texts = _AGREEMENT_TEXTS[1:6]
    a, b = int8.embed(texts), fp32.embed(texts)
    cos = (a * b).sum(axis=1)
    assert float(cos.min()) > 0.98, cos  # measured: GSM8K 0.993-0.999, Banking77 0.990-0.999, "ok" 0.986
    assert float(cos.min()) < 0.99999, cos  # really int8 arithmetic, not the fp32 graph again
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # A text's vector does not depend on the batch it came in (the quantisation range is
    # per call and would include the neighbours' activations and the padding).
    np.testing.assert_array_equal(a, np.stack([int8.embed_one(t) for t in texts]))
    np.testing.assert_array_equal(int8.embed(texts[::-1])[::-1], a)
    # Still semantic: a paraphrase is nearer than an unrelated sentence.
    q = int8.embed_one("Has my card arrived yet?")
    assert float(q @ int8.embed_one("has my card been delivered")) > float(
        q @ int8.embed_one("what is 48 / 2")
    )


def test_int8_matmul_needs_the_default_files_fused_graph(tmp_path) -> None:
    from llm_cost_hooks import ConfigurationError
    from llm_cost_hooks.embeddings._onnx import _default_model_path

    with pytest.raises(ConfigurationError, match="int8_matmul"):
        OnnxEmbedder(fused=False, int8_matmul=True)
    own = tmp_path / "model.onnx"
    own.write_bytes(_default_model_path().read_bytes())
    with pytest.raises(ConfigurationError, match="drop int8_matmul"):
        OnnxEmbedder(own, int8_matmul=True)


def test_int8_matmul_graph_failure_falls_back_under_the_fp32_name(monkeypatch, caplog) -> None:
    from llm_cost_hooks.embeddings import _fused

    def no_int8(data: bytes, *, int8_matmul: bool = False) -> bytes:
        raise _fused.FusedGraphError("no DynamicQuantizeMatMul here")

    monkeypatch.setattr(_fused, "build_fused_minilm", no_int8)
    with caplog.at_level("WARNING"):
        e = OnnxEmbedder(int8_matmul=True)
    # The vectors it gives are the fp32 ones, and its name says so.
    assert e.int8_matmul is False and e.name == DEFAULT_MODEL_NAME and "DynamicQuantizeMatMul" in caplog.text


def test_thread_choice_follows_the_load_of_other_processes(monkeypatch) -> None:
    from llm_cost_hooks.embeddings import _onnx

    load = [0.2]
    monkeypatch.setattr(_onnx.os, "getloadavg", lambda: (load[0], 0.0, 0.0))
    clock = [1000.0]
    monkeypatch.setattr(_onnx.time, "monotonic", lambda: clock[0])
    cpu = [0.0]
    monkeypatch.setattr(_onnx.time, "process_time", lambda: cpu[0])
    c = _onnx._ThreadChooser(cores=2)
    assert c.pick() == 2  # idle machine: two threads
    load[0] = 3.0
    assert c.pick() == 2  # read at most once a second
    clock[0] += 1.0
    assert c.pick() == 1  # other processes keep both cores busy
    load[0] = 1.3
    clock[0] += 1.0
    assert c.pick() == 1  # hysteresis: back to two only once a whole core is free
    load[0] = 0.8
    clock[0] += 1.0
    assert c.pick() == 2  # an idle 2-core box (load ~0.8 from daemons) gets two threads
    load[0] = 1.4
    clock[0] += 1.0
    assert c.pick() == 2  # and down only once less than half a core is free
    load[0] = 1.6
    clock[0] += 1.0
    assert c.pick() == 1
    # this process's own two busy threads count in the load but are not "others"
    for _ in range(300):
        clock[0] += 1.0
        cpu[0] += 2.0
        load[0] = 2.2
        c.pick()
    assert c.own > 1.9 and c.pick() == 2
    assert _onnx._ThreadChooser(cores=1).pick() == 1


def test_embedder_switches_sessions_with_the_load_and_keeps_its_vectors(monkeypatch) -> None:
    e = OnnxEmbedder()
    assert e._chooser is not None
    first = e.threads
    other = 1 if first == 2 else 2
    text = "Has my card arrived yet?"
    before = e.embed_one(text)
    from llm_cost_hooks.embeddings import _onnx

    monkeypatch.setattr(_onnx.os, "getloadavg", lambda: (0.0 if other == 2 else 99.0, 0.0, 0.0))
    e._chooser.last -= 10.0  # due for a fresh reading
    e.embed_one(text)  # starts loading the other session in the background, answers now
    for t in threading.enumerate():
        if t.name == "llm-cost-hooks-embedder-load":
            t.join(timeout=300)
    after = e.embed_one(text)
    assert e.threads == other and sorted(e._sessions) == [1, 2]
    assert float(before @ after) > 0.99999
    for session in e._sessions.values():  # the session built later spins no longer either
        assert _spin_us(session) <= 1000


def _spin_us(session: object) -> int:
    """How long the session's idle worker threads spin before they sleep (0: never)."""
    opts = session.get_session_options()  # type: ignore[attr-defined]
    try:
        if opts.get_session_config_entry("session.intra_op.allow_spinning") == "0":
            return 0
        return int(opts.get_session_config_entry("session.intra_op.spin_duration_us"))
    except RuntimeError:  # not set: onnxruntime's default, an unbounded spin loop
        return 10**9


def test_two_thread_sessions_do_not_spin_between_queries() -> None:
    # An unbounded spin burns a core after every run until the next one comes: on an idle
    # box, queries 20 ms apart, 29.0 ms of CPU per query against 8.5 ms spinning 100 us.
    for e in (
        OnnxEmbedder(threads=2),
        OnnxEmbedder(threads=2, int8_matmul=True),
        OnnxEmbedder(threads=2, fused=False),
    ):
        assert e.threads == 2 and _spin_us(e._session) <= 1000
        assert e.embed_one("Has my card arrived yet?").shape == (384,)


def test_an_onnxruntime_without_the_spin_bound_does_not_spin(monkeypatch) -> None:
    from llm_cost_hooks.embeddings import _onnx

    e = OnnxEmbedder(threads=2, fused=False)
    monkeypatch.setattr(e._ort, "__version__", "1.20.1")
    assert _spin_us(e._new_session(2, None)) == 0
    assert _onnx._version_at_least("1.32.0", (1, 32)) and _onnx._version_at_least("2.0.0.dev1", (1, 32))
    assert not _onnx._version_at_least("1.31.9", (1, 32)) and not _onnx._version_at_least("weird", (1, 32))
