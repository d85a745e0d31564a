"""The framework-free LLM response cache: exact + semantic tiers, scoped, calibrated.

Adapters (``llm_cost_hooks.langchain.SemanticCache``, ``llm_cost_hooks.litellm.LiteLLMSemanticCache``)
map framework calls into one neutral key (:func:`canonical_chat`) and answer format
(:func:`encode_answer`), so they share entries. Backends: :class:`EmbeddedBackend` (in-process,
persisted to SQLite) and :class:`RedisBackend` (redisvl; many processes and machines).

>>> from llm_cost_hooks.cache import CacheCore, CacheScope
>>> core = CacheCore(semantic=False)
>>> req = core.request("hello", llm_string="gpt-4o-mini", scope=CacheScope(tenant="acme"))
>>> core.lookup(req) is None
True
"""

from .._errors import CacheScopeError
from ._calibrate import (
    CalibrationPoint,
    CalibrationResult,
    HoldoutCheck,
    calibrate_file,
    calibrate_intents,
    calibrate_pairs,
    operating_point,
)
from ._canonical import ChatKey, StoredAnswer, canonical_chat, decode_answer, encode_answer
from ._contrast import CONTRAST_KINDS, contrast_flags
from ._core import (
    AuditLog,
    CacheBackend,
    CacheConfig,
    CacheCore,
    CacheRequest,
    CacheStats,
    answers_equivalent,
)
from ._embedded import AnnIndexConfig, EmbeddedBackend
from ._entry import CacheEntry, CacheHit
from ._redis import RedisBackend
from ._scope import (
    DEFAULT_TENANT,
    UNKNOWN_SCOPE,
    CacheScope,
    cache_scope,
    current_scope,
    normalize_query,
    scope_from_metadata,
)
from ._signals import DecisionPolicy, Neighbor
from ._verifier import PairVerifier

__all__ = [
    "CONTRAST_KINDS",
    "DEFAULT_TENANT",
    "UNKNOWN_SCOPE",
    "AnnIndexConfig",
    "AuditLog",
    "CacheBackend",
    "CacheConfig",
    "CacheCore",
    "CacheEntry",
    "CacheHit",
    "CacheRequest",
    "CacheScope",
    "CacheScopeError",
    "CacheStats",
    "CalibrationPoint",
    "CalibrationResult",
    "ChatKey",
    "DecisionPolicy",
    "EmbeddedBackend",
    "HoldoutCheck",
    "Neighbor",
    "PairVerifier",
    "RedisBackend",
    "StoredAnswer",
    "answers_equivalent",
    "cache_scope",
    "calibrate_file",
    "calibrate_intents",
    "calibrate_pairs",
    "canonical_chat",
    "contrast_flags",
    "current_scope",
    "decode_answer",
    "encode_answer",
    "normalize_query",
    "operating_point",
    "scope_from_metadata",
]
