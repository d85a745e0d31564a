"""The framework-free LLM response cache: exact + semantic tiers, scoped, calibrated.

Adapters (``llm_cost_hooks.langchain.SemanticCache``) turn framework calls into
:class:`CacheRequest` objects and back. Backends: :class:`EmbeddedBackend` (in-process,
persisted to SQLite) and :class:`RedisBackend` (redisvl; many processes and machines).

>>> from llm_cost_hooks.cache import CacheCore, CacheScope
>>> core = CacheCore(semantic=False)
>>> req = core.request("hello", llm_string="gpt-4o-mini", scope=CacheScope(tenant="acme"))
>>> core.lookup(req) is None
True
"""

from ._calibrate import (
    CalibrationPoint,
    CalibrationResult,
    calibrate_file,
    calibrate_intents,
    calibrate_pairs,
    operating_point,
)
from ._core import AuditLog, CacheBackend, CacheConfig, CacheCore, CacheRequest, CacheStats
from ._embedded import EmbeddedBackend
from ._entry import CacheEntry, CacheHit
from ._redis import RedisBackend
from ._scope import DEFAULT_TENANT, CacheScope, cache_scope, current_scope, normalize_query, scope_from_metadata
from ._signals import FEATURE_NAMES, DecisionPolicy, Neighbor, guard_veto, wilson_lower_bound

__all__ = [
    "DEFAULT_TENANT",
    "FEATURE_NAMES",
    "AuditLog",
    "CacheBackend",
    "CacheConfig",
    "CacheCore",
    "CacheEntry",
    "CacheHit",
    "CacheRequest",
    "CacheScope",
    "CacheStats",
    "CalibrationPoint",
    "CalibrationResult",
    "DecisionPolicy",
    "EmbeddedBackend",
    "Neighbor",
    "RedisBackend",
    "cache_scope",
    "calibrate_file",
    "calibrate_intents",
    "calibrate_pairs",
    "current_scope",
    "guard_veto",
    "normalize_query",
    "operating_point",
    "scope_from_metadata",
    "wilson_lower_bound",
]
