"""What a cache entry stores."""

from __future__ import annotations

import time
import uuid

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CacheEntry", "CacheHit"]


def _new_id() -> str:
    return uuid.uuid4().hex


class CacheEntry(BaseModel):
    """One cached answer and everything needed to decide, invalidate and account for it.

    ``answer`` is an opaque string the adapter wrote (LangChain: ``langchain_core.load.dumps``
    of the generations; never pickle). ``answer_key`` identifies answers that are the same
    (a hash of the normalised answer text unless the caller gives one, e.g. an intent or
    a template id); the semantic tier's agreement signals compare these keys.
    ``expires_at`` is fixed at write time: hits do not extend it.
    """

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=_new_id)
    partition: str
    exact_key: str
    tenant: str
    user: str | None = None
    route: str | None = None
    feature: str | None = None
    prompt_version: str | None = None
    corpus_version: str | None = None
    safety_version: str | None = None
    query: str
    normalized_query: str
    embedding_model: str
    answer: str
    answer_key: str
    evidence_ids: list[str] = Field(default_factory=list)
    model: str | None = None
    cost_usd: float | None = None
    created_at: float = Field(default_factory=time.time)
    expires_at: float | None = None

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now if now is not None else time.time()) >= self.expires_at


class CacheHit(BaseModel):
    """A served answer: which tier, which entry, and the evidence for a semantic hit."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    status: str  # "exact" | "semantic"
    entry: CacheEntry
    similarity: float = 1.0
    score: float = 1.0
    saved_usd: float | None = None
