"""Use any LangChain ``Embeddings`` object where llm-cost-hooks wants an :class:`Embedder`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from .._errors import ConfigurationError
from ..embeddings import CallableEmbedder, normalize_rows

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["LangChainEmbedder"]


class LangChainEmbedder(CallableEmbedder):
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
        default_name = f"langchain:{type(embeddings).__name__}" + (f":{model}" if model else "")
        # One probe call when the caller does not say the dimension.
        size = int(dim) if dim is not None else len(embeddings.embed_query("dimension probe"))
        super().__init__(embeddings.embed_documents, name=name or default_name, dim=size)

    def embed_one(self, text: str) -> np.ndarray:
        # The model's query embedding (some models embed queries and documents differently).
        return self._checked(normalize_rows(self.embeddings.embed_query(text)), 1)[0]

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """Async variant (uses the model's native async client when it has one)."""
        texts = list(texts)
        return self._checked(normalize_rows(await self.embeddings.aembed_documents(texts)), len(texts))
