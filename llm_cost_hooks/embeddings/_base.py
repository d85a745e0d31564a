"""The embedder interface shared by the semantic cache and the router."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._errors import ConfigurationError, MissingExtraError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["CallableEmbedder", "Embedder", "normalize_rows"]


def _numpy() -> Any:
    try:
        import numpy as np
    except ImportError as exc:  # pragma: no cover - numpy comes with the extra
        raise MissingExtraError("embed", "numpy", "Embedding text") from exc
    return np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors.

    ``embed`` returns an array of shape ``(len(texts), dim)``, dtype float32, each row
    L2-normalised (so a dot product is the cosine similarity). ``name`` identifies the
    model: vectors of different names are never compared.

    Any object with these four members is one (:class:`CallableEmbedder` wraps a function):

    >>> class VowelCounts:
    ...     name, dim = "vowel-counts", 5
    ...     def embed(self, texts):
    ...         return normalize_rows([[t.lower().count(v) for v in "aeiou"] for t in texts])
    ...     def embed_one(self, text):
    ...         return self.embed([text])[0]
    >>> embedder = VowelCounts()
    >>> isinstance(embedder, Embedder)
    True
    >>> embedder.embed(["card arrived", "has my card arrived"]).shape
    (2, 5)
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_one(self, text: str) -> np.ndarray: ...


def normalize_rows(vectors: Any) -> np.ndarray:
    """``vectors`` as a 2-D float32 array with L2-normalised rows (zero rows stay zero).

    >>> [[round(float(x), 2) for x in row] for row in normalize_rows([[3, 4], [0, 0]])]
    [[0.6, 0.8], [0.0, 0.0]]
    """
    np = _numpy()
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (arr / norms).astype(np.float32, copy=False)


class CallableEmbedder:
    """An :class:`Embedder` from any function ``texts -> list of vectors``.

    Use it to plug in an online model or a redisvl vectorizer
    (``CallableEmbedder(vectorizer.embed_many, name="openai/text-embedding-3-small", dim=1536)``).
    ``english_only=False`` tells the semantic cache the model also reads other languages and
    scripts, so it judges them too instead of leaving them to the exact tier (the contrast
    checks stay English word rules: see docs/semantic-cache.md).

    >>> import numpy as np
    >>> e = CallableEmbedder(lambda ts: [[len(t), 1.0] for t in ts], name="len", dim=2)
    >>> e.embed(["ab"]).shape
    (1, 2)
    """

    def __init__(
        self, fn: Callable[[list[str]], Any], *, name: str, dim: int, english_only: bool = True
    ) -> None:
        if not name:
            raise ConfigurationError("CallableEmbedder needs a non-empty name (it scopes cached vectors).")
        if dim <= 0:
            raise ConfigurationError(f"CallableEmbedder dim must be positive, got {dim}.")
        self._fn = fn
        self.name = name
        self.dim = dim
        self.english_only = english_only  # read by the semantic cache's language rule

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return _numpy().zeros((0, self.dim), dtype="float32")
        return self._checked(normalize_rows(self._fn(texts)), len(texts))

    def _checked(self, out: np.ndarray, n: int) -> np.ndarray:
        if out.shape != (n, self.dim):
            raise ConfigurationError(
                f"embedder {self.name!r} returned shape {out.shape}, expected ({n}, {self.dim}); "
                "check the dim you passed."
            )
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"
