"""Use any LangChain ``Embeddings`` object where llm-cost-hooks wants an :class:`Embedder`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from .._errors import ConfigurationError
from ..embeddings import normalize_rows

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["LangChainEmbedder"]


class LangChainEmbedder:
    """Wraps a LangChain ``Embeddings`` (OpenAI, Cohere, HuggingFace, ...) as an ``Embedder``.

    Rows are L2-normalised here, so models that return unnormalised vectors work too.
    ``name`` scopes cached vectors: give each model its own (default: class + model attr).

    >>> from langchain_core.embeddings import DeterministicFakeEmbedding
    >>> e = LangChainEmbedder(DeterministicFakeEmbedding(size=8))
    >>> e.embed(["hi", "there"]).shape
    (2, 8)
    """

    def __init__(self, embeddings: Embeddings, *, name: str | None = None, dim: int | None = None) -> None:
        if not isinstance(embeddings, Embeddings):
            raise ConfigurationError(
                f"LangChainEmbedder needs a langchain_core Embeddings object, got {type(embeddings).__name__}."
            )
        self.embeddings = embeddings
        model = getattr(embeddings, "model", None) or getattr(embeddings, "model_name", None)
        self.name: str = name or f"langchain:{type(embeddings).__name__}" + (f":{model}" if model else "")
        # One probe call when the caller does not say the dimension.
        self.dim: int = int(dim) if dim is not None else len(embeddings.embed_query("dimension probe"))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            import numpy as np

            return np.zeros((0, self.dim), dtype=np.float32)
        return self._check(normalize_rows(self.embeddings.embed_documents(texts)), len(texts))

    def embed_one(self, text: str) -> np.ndarray:
        return self._check(normalize_rows(self.embeddings.embed_query(text)), 1)[0]

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """Async variant (uses the model's native async client when it has one)."""
        texts = list(texts)
        return self._check(normalize_rows(await self.embeddings.aembed_documents(texts)), len(texts))

    def _check(self, arr: Any, n: int) -> np.ndarray:
        if arr.shape != (n, self.dim):
            raise ConfigurationError(
                f"{self.name} returned vectors of shape {arr.shape}, expected ({n}, {self.dim})."
            )
        return arr

    def __repr__(self) -> str:
        return f"LangChainEmbedder(name={self.name!r}, dim={self.dim})"
