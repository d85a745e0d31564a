"""What the trained router reads of a request: the part that varies between requests.

Prompts of one task often start with the same block (a system prompt, a policy, few-shot
examples, tool descriptions); an embedder that reads the first 256 tokens then sees only
that block, and every prompt of the task gets the same vector. :class:`TextSelector`
learns, from the training prompts, which lines recur across many distinct prompts (a
template), and at decision time:

* drops those lines from the text it embeds, so the question itself is read;
* summarises them by a hash feature (which template lines were present, hashed into a few
  buckets), appended to the embedding: the router still knows which template it is;
* prepends the turn before the last user message when that message is short (a follow-up
  such as "and the second one?" is read with what it refers to);
* keeps the head and the tail of what is left when it is long (questions sit at the end
  of long prompts, instructions at the start), within a token budget: the embedding's
  cost grows with the tokens it reads, so a long last turn costs what a short one does.

Only 64-bit hashes of the template lines are kept (never their text).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import ConfigurationError

if TYPE_CHECKING:
    from ..embeddings import Embedder

__all__ = ["TextSelector"]

# A template prefix is remembered (as a digest, with the hashes of its lines) once it is at
# least this long, so the next request with the same prefix skips it in one hash.
_MEMO_MIN_CHARS = 512
_MEMO_SIZE = 16
#: Tokens of the selected text a newly trained router embeds (a quarter from its head, the
#: rest from its tail). Counted as words and punctuation marks, which is what the
#: embedder's tokenizer splits first (MiniLM: about 1.07 tokens each on GSM8K questions).
DEFAULT_MAX_TOKENS = 64
_UNITS = re.compile(r"\w+|[^\w\s]")


def _line_hash(line: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def _norm(raw: str) -> str:
    # Whitespace runs to one space, ends stripped (str.split's whitespace is the regex \s).
    return " ".join(raw.split())


def _lines(text: str) -> list[str]:
    return [line for line in map(_norm, text.splitlines()) if line]


def _prefix_digest(text: str, end: int) -> bytes:
    return hashlib.blake2b(text[:end].encode("utf-8", "surrogatepass"), digest_size=16).digest()


def embeddable(text: str) -> str:
    """``text`` with lone surrogates (a broken emoji decoded from JSON) replaced by ``?``:
    the tokenizers refuse them, and a request must not fail on the router's reading of it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


class TextSelector:
    """Selects the varying part of a request and summarises its template.

    >>> prompts = [f"You are a helpful tutor.\\nAnswer briefly.\\nQuestion {i}: what is {i} + {i}?" for i in range(20)]
    >>> sel = TextSelector.learn(prompts)
    >>> sel.select("You are a helpful tutor.\\nAnswer briefly.\\nQuestion 7: what is 7 + 7?")[0]
    'Question 7: what is 7 + 7?'
    """

    def __init__(
        self,
        shared: Sequence[int] | np.ndarray = (),
        *,
        buckets: int = 16,
        head_chars: int = 256,
        tail_chars: int = 768,
        short_query_chars: int = 160,
        context_chars: int = 400,
        template_weight: float = 1.0,
        max_tokens: int | None = None,
    ) -> None:
        if buckets < 0 or head_chars < 0 or tail_chars <= 0:
            raise ConfigurationError("buckets and head_chars must be >= 0 and tail_chars > 0.")
        if max_tokens is not None and max_tokens < 2:
            raise ConfigurationError(f"max_tokens must be >= 2 (or None), got {max_tokens}.")
        self.shared = frozenset(int(h) for h in np.asarray(shared, dtype=np.uint64).tolist())
        self.buckets = int(buckets)
        self.head_chars, self.tail_chars = int(head_chars), int(tail_chars)
        self.short_query_chars, self.context_chars = int(short_query_chars), int(context_chars)
        self.template_weight = float(template_weight)
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        # (prefix length, digest of the prefix) -> hashes of its template lines
        self._memo: OrderedDict[tuple[int, bytes], tuple[int, ...]] = OrderedDict()
        self._memo_lock = threading.Lock()

    @classmethod
    def learn(
        cls, prompts: Sequence[str], *, min_count: int = 3, min_share: float = 0.02, **kwargs: Any
    ) -> TextSelector:
        """Template lines: lines found in at least ``max(min_count, min_share x distinct
        prompts)`` distinct prompts (a repeated prompt counts once). The selector embeds
        at most ``max_tokens`` (default :data:`DEFAULT_MAX_TOKENS`) of the selected text.

        The share is 2 % so that lines which recur in a few dozen questions of one task (an
        answer option such as ``A) Samantha``) stay part of the question: taken for
        template lines they would be cut from the text read and split one template into
        many small groups, each with its own, noisier, prior."""
        kwargs.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        distinct = set(prompts)
        counts: dict[int, int] = {}
        for p in distinct:
            for h in {_line_hash(line) for line in _lines(p)}:
                counts[h] = counts.get(h, 0) + 1
        need = max(int(min_count), math.ceil(min_share * len(distinct)))
        shared = sorted(h for h, n in counts.items() if n >= need)
        return cls(np.array(shared, dtype=np.uint64), **kwargs)

    # -- decision time ------------------------------------------------------------------------
    def _known_prefix(self, text: str) -> tuple[int, tuple[int, ...]]:
        """(length, template hashes) of a remembered all-template prefix of ``text``."""
        with self._memo_lock:
            keys = list(self._memo)
        for end, digest in reversed(keys):  # most recent first
            if len(text) > end and text[end - 1] == "\n" and _prefix_digest(text, end) == digest:
                with self._memo_lock:
                    hashes = self._memo.get((end, digest))
                if hashes is not None:
                    return end, hashes
        return 0, ()

    def _strip(self, text: str) -> tuple[list[str], list[int]]:
        """(lines kept, hashes of template lines). A long run of template lines at the start
        (a system prompt, a few-shot block) is remembered, so the next request that starts
        with it costs one hash of that prefix instead of one per line."""
        if not self.shared:
            return _lines(text), []
        start, known = self._known_prefix(text) if len(text) > _MEMO_MIN_CHARS else (0, ())
        kept: list[str] = []
        template = list(known)
        pos, first_kept, n_prefix = start, -1, 0
        for raw in text[start:].splitlines(keepends=True):
            line = _norm(raw)
            if line:
                h = _line_hash(line)
                if h in self.shared:
                    template.append(h)
                elif first_kept < 0:
                    first_kept = pos
                    n_prefix = len(template)
                    kept.append(line)
                else:
                    kept.append(line)
            pos += len(raw)
        if first_kept - start >= _MEMO_MIN_CHARS and text[first_kept - 1] == "\n":
            key = (first_kept, _prefix_digest(text, first_kept))
            with self._memo_lock:
                self._memo[key] = tuple(template[:n_prefix])
                while len(self._memo) > _MEMO_SIZE:
                    self._memo.popitem(last=False)
        return kept, template

    def _clip(self, text: str) -> str:
        if len(text) > self.head_chars + self.tail_chars:
            text = text[: self.head_chars] + "\n...\n" + text[-self.tail_chars :]
        if self.max_tokens is None:
            return text
        # Only the first max_tokens + 1 units from the head and ``tail`` from the end (read
        # backwards) are scanned: a long text costs no more than a short one here.
        head = self.max_tokens // 4
        tail = self.max_tokens - head
        head_end = 0
        for n, m in enumerate(_UNITS.finditer(text), start=1):
            if n == head:
                head_end = m.end()
            if n > self.max_tokens:
                break
        else:
            return text
        back = text[::-1]
        for n, m in enumerate(_UNITS.finditer(back), start=1):
            if n == tail:
                return (text[:head_end] + "\n" if head else "") + text[len(text) - m.end() :]
        return text  # unreachable: more than max_tokens units were found

    def select(self, text: str, context: str | None = None) -> tuple[str, np.ndarray]:
        """``(text to embed, template feature vector)`` of one request."""
        kept, template = self._strip(text or "")
        body = "\n".join(kept) if kept else _norm(text or "")
        if context and len(body) < self.short_query_chars:
            ctx_kept, _ = self._strip(context)
            ctx = "\n".join(ctx_kept)[-self.context_chars :]
            if ctx:
                body = ctx + "\n" + body
        vec = np.zeros(self.buckets, dtype=np.float32)
        if self.buckets:
            for h in set(template):
                vec[h % self.buckets] += 1.0
            n = float(np.linalg.norm(vec))
            if n:
                vec *= self.template_weight / n
        return embeddable(self._clip(body)), vec

    def features(
        self, embedder: Embedder, texts: Sequence[str], contexts: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """The router's input for each text: the embedding of the selected text, then the
        template feature (shape ``(n, embedder.dim + buckets)``)."""
        from ._model import embed_texts

        contexts = contexts if contexts is not None else [None] * len(texts)
        picked = [self.select(t, c) for t, c in zip(texts, contexts)]
        emb = embed_texts(embedder, [p[0] for p in picked], max_chars=self.head_chars + self.tail_chars + 5)
        tmpl = np.stack([p[1] for p in picked]) if picked else np.zeros((0, self.buckets), dtype=np.float32)
        return np.hstack([emb, tmpl]).astype(np.float32, copy=False)

    def feature_one(self, embedder: Embedder, text: str, context: str | None = None) -> np.ndarray:
        body, vec = self.select(text, context)
        return np.concatenate([np.asarray(embedder.embed_one(body), dtype=np.float32), vec])

    # -- persistence ----------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "head_chars": self.head_chars,
            "tail_chars": self.tail_chars,
            "short_query_chars": self.short_query_chars,
            "context_chars": self.context_chars,
            "template_weight": self.template_weight,
            "max_tokens": self.max_tokens,
        }

    def shared_array(self) -> np.ndarray:
        return np.array(sorted(self.shared), dtype=np.uint64)

    @classmethod
    def from_saved(cls, shared: np.ndarray, params: dict[str, Any]) -> TextSelector:
        return cls(shared, **params)
