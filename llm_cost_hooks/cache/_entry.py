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

    >>> entry = CacheEntry(partition="p1", exact_key="k1", tenant="acme", query="Where is my card?",
    ...                    normalized_query="where is my card?", embedding_model="toy",
    ...                    answer="On its way.", answer_key="a1", expires_at=1_000.0)
    >>> entry.expired(now=999.0), entry.expired(now=1_000.0)
    (False, True)
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
    """A served answer: which tier, which entry, and the evidence for a semantic hit.

    >>> from llm_cost_hooks.cache import CacheCore, CacheScope
    >>> core = CacheCore(semantic=False)
    >>> req = core.request("What is 2+2?", llm_string="gpt-4o-mini", scope=CacheScope(tenant="acme"))
    >>> _ = core.update(req, answer="4")
    >>> hit = core.lookup(req)
    >>> hit.status, hit.entry.answer, hit.similarity
    ('exact', '4', 1.0)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    status: str  # "exact" | "semantic"
    entry: CacheEntry
    similarity: float = 1.0
    score: float = 1.0
    saved_usd: float | None = None
