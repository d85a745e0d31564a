"""The framework-free cache: scope → exact tier → semantic tier, audit, invalidation."""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .._breaker import Breaker
from .._errors import ConfigurationError
from .._options import ConfigModel
from .._redis import redacted_url
from ._contrast import contrast_flags, view
from ._entry import CacheEntry, CacheHit
from ._scope import DEFAULT_TENANT, CacheScope, digest, normalize_query, partition_of
from ._signals import _OTHER_ANSWER_GAP, DecisionPolicy, Neighbor, wilson_lower_bound
from ._textkind import case_differs, semantic_refusal

if TYPE_CHECKING:
    from ..embeddings import Embedder

__all__ = [
    "AuditLog",
    "CacheBackend",
    "CacheConfig",
    "CacheCore",
    "CacheRequest",
    "CacheStats",
    "answers_equivalent",
]

logger = logging.getLogger("llm_cost_hooks.cache")
# learn_answer_keys: how many near entries (with distinct answer keys) a miss's answer is
# compared with; each comparison is one call of the equivalence check.
_LEARN_CANDIDATES = 3
# learn_answer_keys: how many separate misses must find their answer equal to the answers of
# two key classes before those classes merge. One wrong "same" from the check then never
# joins two classes on its own.
_MERGE_VOTES = 2
# learn_answer_keys: when a contrast check tells the nearest stored question apart from the
# request ("... at 7 am" / "... at 7:30 am"), the decision moves on to the next nearest one, at
# most this many times; that one must still pass the contrast checks and the neighbourhood
# model on the neighbours from it on. Without learned keys the nearest one alone decides.
_SKIP_VETOED = 1
# learn_answer_keys: when the neighbourhood model is not confident, it is asked again over the
# neighbours no contrast check tells apart from the request (a stored "alarm at 8" next to the
# request "alarm at 7" has its own answer because of its time; see _comparable_score) ...
_DROP_TOLD_APART = True
# ... but only above its candidate class's floor: the highest similarity at which a miss's
# answer was checked different from an answer of that class (learned from the equivalence
# checks learning already makes, vCache-style; it only ever rises).
_CLASS_FLOOR = True
# learn_answer_keys, per-class bars (vCache-style: a class's bar comes from its own checked
# outcomes): under learned_min_similarity, down to _LOW_DEPTH under it (0.70 at the default
# 0.78; it moves with the setting, so a stricter bar stays stricter), a class may serve where it was
# checked "same" (learning's comparisons on misses, verified agreements) at least _LOW_CONFIRM
# times at that similarity or lower (plus _LOW_MARGIN), and only above its floor (the highest
# similarity at which it was checked "different"), by _LOW_FLOOR_GAP. One "different" thus
# outweighs any number of "same" at or under it.
_LOW_DEPTH = 0.08
_LOW_MARGIN = 0.0
_LOW_CONFIRM = 2
_LOW_FLOOR_GAP = 0.0
# ... and such would-be hits are verified at this share at least (verify_share when higher):
# they were misses under the plain bar, so a verified one costs no hit the plain bar served.
_LOW_VERIFY = 0.0
# ... and a verified disagreement there raises those floors only, not the route's thresholds:
# the class's own bar served it, so the class's own bar is what was wrong.
_LOW_TIGHTENS_ROUTE = False
# verify_share=None with an equivalence check of the user's: the share measured with the
# free-text benchmark (bench/cache_free_text.py): it pays one would-be hit in twenty.
_CHECKED_VERIFY_SHARE = 0.05
# The similarity of a question's vector with itself, give or take float rounding: a neighbour
# this near is checked for being the request's own question (see CacheCore._earlier_exact).
_SAME_TEXT_SIMILARITY = 0.9999
# A loaded embedder that fails this many calls in a row is not called for this many seconds
# (those calls skip the semantic tier, counted in stats.embedder_errors); then one call probes it.
_EMBED_FAILURES = 3
_EMBED_RESET_S = 10.0
_VETOED = object()  # sentinel of _decide_at: the candidate was told apart by a contrast check


class CacheBackend(Protocol):
    """Storage of entries, exact keys and vectors. ``EmbeddedBackend`` and ``RedisBackend``.

    >>> import numpy as np
    >>> from llm_cost_hooks.cache import CacheEntry, EmbeddedBackend
    >>> backend = EmbeddedBackend()
    >>> entry = CacheEntry(partition="p1", exact_key="k1", tenant="acme", query="Where is my card?",
    ...                    normalized_query="where is my card?", embedding_model="toy",
    ...                    answer="On its way.", answer_key="a1")
    >>> backend.put(entry, np.array([1.0, 0.0], dtype=np.float32))
    >>> backend.count(), backend.get(entry.id).answer
    (1, 'On its way.')
    >>> [n.answer_key for n in backend.search("p1", np.array([0.8, 0.6], dtype=np.float32), k=3)]
    ['a1']
    >>> backend.invalidate(tenant="acme"), backend.count()
    (1, 0)
    """

    shared: bool

    def get_exact(self, exact_key: str) -> CacheEntry | None: ...
    def search(self, partition: str, vec: Any, k: int) -> list[Neighbor]: ...
    def put(self, entry: CacheEntry, vec: Any) -> None: ...
    def get(self, entry_id: str) -> CacheEntry | None: ...
    def touch(self, entry_id: str) -> None: ...
    def delete(self, entry_ids: list[str]) -> int: ...
    def invalidate(self, **match: str | None) -> int: ...
    def clear(self) -> None: ...
    def count(self) -> int: ...


# One warning per process for calls that bypass the cache because they name no tenant.
_tenantless_logged = False
#: require_tenant="auto": how often (seconds) a cache that has seen no tenant yet asks its store
#: again whether another process wrote a tenant's entries; a fleet converges within this time.
TENANT_RECHECK_SECONDS = 30.0
_monotonic = time.monotonic  # the clock of that re-check (tests move it)


class _EmbedderResting(Exception):
    """The embedder failed its last calls and is not called until its breaker's reset time."""


class CacheConfig(ConfigModel):
    """Cache settings: the default decision policy, per-route overrides, TTL and audit.

    Save/load with :meth:`save` / :meth:`load` (``llm-cost cache calibrate --out`` writes
    one).

    >>> cfg = CacheConfig(routes={"faq": DecisionPolicy(threshold=0.995)})
    >>> cfg.policy_for("faq").threshold, cfg.policy_for("other").threshold == cfg.default.threshold
    (0.995, True)
    """

    model_config = ConfigDict(extra="forbid")

    default: DecisionPolicy = Field(default_factory=DecisionPolicy)
    routes: dict[str, DecisionPolicy] = Field(default_factory=dict)
    default_tenant: str = DEFAULT_TENANT
    ttl_seconds: float | None = Field(
        default=None, description="Default entry lifetime; None = until evicted."
    )
    semantic: bool = True
    per_user: bool = False
    require_tenant: Literal["auto"] | bool | None = Field(
        default=None,
        description="Calls that name no tenant: True bypasses the cache for them (no lookup, no write); "
        "'auto' does so once the cache has seen a call with a tenant (in this process, or an entry of a "
        "tenant in its store, asked again every 30 seconds), so a multi-tenant app's tenant-less calls "
        "are never served across tenants while a single-tenant app keeps its hits; False shares one "
        "default partition among them. None (the default): LLM_COST_HOOKS_CACHE_REQUIRE_TENANT, itself "
        "'auto' by default.",
    )
    audit_sample_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    tighten_step: float = Field(default=0.005, description="How much a bad hit raises a route's thresholds.")
    verify_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Share of would-be semantic hits answered by the model anyway and compared with the "
        "stored answer (online verification); disagreements tighten the decision. None (the default): "
        "0.05 when you give the cache an equivalence check of your own (CacheCore(equivalence=...)), "
        "0 otherwise (the built-in check cannot judge freely worded answers).",
    )
    learn_answer_keys: bool | None = Field(
        default=None,
        description="Free-text answers: when a request misses next to a stored question, compare the "
        "model's answer with that entry's (the equivalence check) and, if they agree, store it under the "
        "same answer key, so the neighbourhood path can serve where answers were checked equal. None (the "
        "default): on when online verification is on (verify_share > 0, the default once you give the "
        "cache an equivalence check: CacheCore(equivalence=...)) with a check of yours; off otherwise.",
    )

    learned_min_similarity: float = Field(
        default=0.78,
        ge=0.0,
        le=1.0,
        description="With learn_answer_keys: the cosine similarity a semantic hit needs at least. Below it, "
        "the first questions of a new topic next to a settled class of answers were served that class's "
        "answer (bench/cache_free_text.py).",
    )

    def policy_for(self, route: str | None) -> DecisionPolicy:
        if route is not None and route in self.routes:
            return self.routes[route]
        return self.default

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CacheConfig:
        p = Path(path)
        if not p.is_file():
            raise ConfigurationError(f"cache config {str(p)!r} does not exist.")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigurationError(
                f"cache config {str(p)!r} is not a saved CacheConfig: it is not JSON ({exc}); write it with "
                "CacheConfig.save or `llm-cost cache calibrate --out`."
            ) from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"cache config {str(p)!r} must hold a JSON object of settings.")
        try:
            return cls(**data)
        except ConfigurationError as exc:  # the field, what it takes and what it got
            raise ConfigurationError(
                f"cache config {str(p)!r} is not a saved CacheConfig ({str(exc).rstrip('.')}): write it "
                "with CacheConfig.save or `llm-cost cache calibrate --out`."
            ) from None


@dataclass(slots=True)
class CacheRequest:
    """A normalised request: where it may be served from and what is compared.
    :meth:`CacheCore.request` makes one.

    >>> from llm_cost_hooks.cache import CacheCore, CacheScope
    >>> core = CacheCore(semantic=False)
    >>> req = core.request("What is 2+2?", llm_string="gpt-4o-mini", scope=CacheScope(tenant="acme"))
    >>> req.query, req.normalized, req.tenant, req.semantic
    ('What is 2+2?', 'what is 2+2?', 'acme', False)
    """

    partition: str
    exact_key: str
    query: str
    normalized: str
    scope: CacheScope
    tenant: str
    semantic: bool = True
    #: The semantic tier was wanted but the embedder could not load: exact tier only.
    embedder_unavailable: bool = False
    #: After ``CacheCore.update``: ``"agree"`` / ``"disagree"`` when this request was a would-be
    #: semantic hit sent to the model for online verification (adapters put it on the cost record).
    verified: str | None = None
    #: The entry the verified answer agreed with (with learned keys, the answer joins its class).
    verified_entry: CacheEntry | None = None


class CacheStats(BaseModel):
    """Counters of a cache: lookups, hits per tier, misses, skipped corrupt entries.

    >>> from llm_cost_hooks.cache import CacheCore, CacheScope
    >>> core = CacheCore(semantic=False)
    >>> req = core.request("What is 2+2?", llm_string="gpt-4o-mini", scope=CacheScope(tenant="acme"))
    >>> core.lookup(req) is None
    True
    >>> _ = core.update(req, answer="4")
    >>> core.lookup(req).status
    'exact'
    >>> stats = core.stats
    >>> stats.lookups, stats.exact_hits, stats.misses, stats.writes
    (2, 1, 1, 1)
    """

    lookups: int = 0
    exact_hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    rejected: int = 0
    writes: int = 0
    errors: int = 0
    corrupt: int = 0
    skipped_while_open: int = 0
    contrast_vetoes: int = 0
    tenantless_bypassed: int = 0
    #: Lookups and writes whose semantic step was skipped because the embedder failed or
    #: could not load (the exact tier served and stored them as usual).
    embedder_errors: int = 0
    verifications: int = 0
    verified_agree: int = 0
    verified_disagree: int = 0
    keys_learned: int = 0
    keys_refused: int = 0
    keys_merged: int = 0
    equivalence_checks: int = 0
    saved_usd: float = 0.0


class AuditLog:
    """A sample of served semantic hits, kept for review (and optionally appended to a JSONL file).

    Texts are recorded only with ``capture_text=True`` (else their hashes), following
    the package rule that prompt text stays out of logs unless the user opts in.

    >>> from llm_cost_hooks.cache import CacheCore, CacheScope
    >>> core = CacheCore(semantic=False)
    >>> req = core.request("What is 2+2?", llm_string="gpt-4o-mini", scope=CacheScope(tenant="acme"))
    >>> _ = core.update(req, answer="4")
    >>> audit = AuditLog(sample_rate=1.0)
    >>> audit.maybe_record("hit-1", req, core.lookup(req))
    >>> row = audit.records[0]
    >>> row["hit_id"], row["similarity"], row["query"].startswith("sha256:")
    ('hit-1', 1.0, True)
    """

    def __init__(
        self,
        *,
        sample_rate: float = 0.05,
        path: str | Path | None = None,
        capture_text: bool = False,
        maxlen: int = 1000,
        seed: int | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self.path = Path(path) if path else None
        self.capture_text = capture_text
        self.records: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def maybe_record(self, hit_id: str, req: CacheRequest, hit: CacheHit) -> None:
        if self.sample_rate <= 0 or self._rng.random() >= self.sample_rate:
            return

        def text(t: str) -> str:
            return t if self.capture_text else "sha256:" + hashlib.sha256(t.encode()).hexdigest()[:16]

        rec = {
            "hit_id": hit_id,
            "time": time.time(),
            "entry_id": hit.entry.id,
            "route": req.scope.route,
            "tenant": text(req.tenant),
            "similarity": round(hit.similarity, 5),
            "score": round(hit.score, 5),
            "query": text(req.query),
            "matched_query": text(hit.entry.query),
            "answer_key": hit.entry.answer_key,
            "model": hit.entry.model,
        }
        with self._lock:
            self.records.append(rec)
            if self.path is not None:
                try:
                    with self.path.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(rec) + "\n")
                except OSError as exc:  # the audit file must never break a call
                    logger.warning("cache audit log %s not writable: %s", self.path, exc)

    def find(self, hit_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((r for r in self.records if r["hit_id"] == hit_id), None)


class CacheCore:
    """The cache logic every adapter (LangChain, LiteLLM) shares.

    >>> from llm_cost_hooks.cache import CacheCore, CacheScope
    >>> core = CacheCore(semantic=False)
    >>> req = core.request("What is 2+2?", llm_string="m", scope=CacheScope(tenant="t"))
    >>> _ = core.update(req, answer="4")
    >>> core.lookup(req).status
    'exact'
    """

    def __init__(
        self,
        backend: CacheBackend | None = None,
        *,
        embedder: Embedder | None = None,
        config: CacheConfig | None = None,
        semantic: bool | None = None,
        audit: AuditLog | None = None,
        breaker_failures: int = 3,
        breaker_reset_s: float = 10.0,
        verifier: Any = None,
        equivalence: Any = None,
        seed: int | None = None,
    ) -> None:
        if backend is None:
            from ._embedded import EmbeddedBackend

            backend = EmbeddedBackend()
        self.backend = backend
        self.config = config or CacheConfig()
        if semantic is not None:
            self.config = self.config.model_copy(update={"semantic": semantic})
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        # Why the embedder could not load (its type and message; tried once per cache), and
        # whether an embedding failure of a loaded embedder was logged (once per cache).
        self._embedder_load_error: str | None = None
        self._embed_failure_logged = False
        # A failing embedder (an embedding service that is down or slow) is not waited for on
        # every call: after _EMBED_FAILURES failures in a row it rests, then one call probes it.
        self._embed_breaker = Breaker(failure_threshold=_EMBED_FAILURES, reset_seconds=_EMBED_RESET_S)
        self.audit = audit or AuditLog(sample_rate=self.config.audit_sample_rate)
        self.stats = CacheStats()
        self._stats_lock = threading.Lock()
        # Consecutive failures open it (no window); half-open lets one lookup probe the backend.
        self._breaker = Breaker(failure_threshold=breaker_failures, reset_seconds=breaker_reset_s)
        self._vec_memo: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._part_memo: dict[tuple[Any, ...], tuple[str, str | None]] = {}
        # Whether the backend's current run of failures was logged: one warning per outage,
        # not one per circuit opening (every breaker_reset_s) while it lasts.
        self._outage_logged = False
        self._misplaced_logged = False
        self._verifier = verifier
        self.equivalence = equivalence or answers_equivalent
        self._rng = random.Random(seed)
        # Online verification: would-be hits sent to the model, waiting for its answer.
        self._pending: OrderedDict[str, tuple[CacheEntry, float, str | None]] = OrderedDict()
        # learn_answer_keys: the nearest stored entry of a miss, waiting for the model's answer.
        self._near_miss: OrderedDict[str, list[tuple[CacheEntry | str, float]]] = OrderedDict()
        # learn_answer_keys: per answer-key class, the highest similarity at which a miss's
        # answer was checked different from one of its entries' (see _comparable_score).
        self._class_floor: dict[str, float] = {}
        # learn_answer_keys: per class, the _LOW_CONFIRM lowest similarities at which an answer
        # was checked the same as one of its answers (ascending).
        self._class_same: dict[str, list[float]] = {}
        # learn_answer_keys: answer keys found equal (a union-find: key -> parent key) and the
        # evidence for merging two classes not yet merged.
        self._key_parent: dict[str, str] = {}
        self._merge_evidence: dict[tuple[str, str], int] = {}
        # Per-entry similarity floors learned from verified disagreements.
        self._entry_floor: dict[str, float] = {}
        self._verify_lock = threading.Lock()
        # require_tenant: whether a call with a tenant was seen, and when the store was last
        # asked whether it holds a tenant's entries (None: not yet).
        self._seen_tenant = False
        self._store_checked_at: float | None = None
        self._env_require: Literal["auto"] | bool | None = None

    # ------------------------------------------------------------ helpers
    def _require_tenant(self) -> Literal["auto"] | bool:
        mode = self.config.require_tenant
        if mode is None:
            if self._env_require is None:  # read once: it is asked on every tenant-less call
                from .._settings import get_settings

                self._env_require = get_settings().cache_require_tenant
            mode = self._env_require
        return mode

    def _tenantless(self, scope: CacheScope) -> bool:
        """Whether this call bypasses the cache because it names no tenant (require_tenant).
        Such a call could otherwise be served an answer another tenant's tenant-less call wrote."""
        if scope.tenant is not None:
            self._seen_tenant = True
            return False
        mode = self._require_tenant()
        if mode is False or (mode == "auto" and not self._seen_tenant and not self._tenants_in_store()):
            return False
        global _tenantless_logged
        if not _tenantless_logged:
            _tenantless_logged = True
            logger.warning(
                "llm-cost-hooks: a cache call names no tenant in a cache that %s; it bypasses the "
                "cache (counted in stats.tenantless_bypassed). Give the tenant in the call's metadata "
                "(config={'metadata': {'tenant_id': ...}}) or with cache_scope(tenant=...), or set "
                "CacheConfig(require_tenant=False) / LLM_COST_HOOKS_CACHE_REQUIRE_TENANT=false if "
                "tenant-less calls may share answers.",
                "requires one" if mode is True else "has seen calls with a tenant",
            )
        return True

    def _tenants_in_store(self) -> bool:
        """Whether the store holds entries of a named tenant (a restarted multi-tenant app, or
        another process of the fleet that names tenants). Asked on the first tenant-less call,
        then again at most every ``TENANT_RECHECK_SECONDS`` until the answer is yes (then the
        cache keeps bypassing tenant-less calls); a backend that cannot tell cheaply answers no."""
        now = _monotonic()
        last = self._store_checked_at
        if last is not None and now - last < TENANT_RECHECK_SECONDS:
            return False
        self._store_checked_at = now
        check = getattr(self.backend, "has_named_tenants", None)
        if check is None:
            return False
        found = bool(
            self._backend_call("has_named_tenants", check, self.config.default_tenant, default=False)
        )
        if found:
            self._seen_tenant = True
        return found

    @property
    def verifier(self) -> Any:
        if self._verifier is None:
            from ._verifier import PairVerifier

            self._verifier = PairVerifier.default()
        return self._verifier

    @property
    def learning(self) -> bool:
        """Whether answer keys are learned: ``CacheConfig.learn_answer_keys``, or when that is
        None, online verification with an equivalence check given to the cache (no check of
        your own, no learning)."""
        learn = self.config.learn_answer_keys
        if learn is not None:
            return learn
        return self.verify_share > 0 and self.equivalence is not answers_equivalent

    @property
    def verify_share(self) -> float:
        """The share of would-be semantic hits verified: ``CacheConfig.verify_share``, or when
        that is None, 0.05 with an equivalence check of your own and 0 without one."""
        share = self.config.verify_share
        if share is not None:
            return share
        return _CHECKED_VERIFY_SHARE if self.equivalence is not answers_equivalent else 0.0

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    from .._errors import EmbeddingModelError
                    from ..embeddings import default_embedder

                    if self._embedder_load_error is not None:  # tried once: a file is not re-read per call
                        raise EmbeddingModelError(self._embedder_load_error)
                    try:
                        self._embedder = default_embedder()
                    except Exception as exc:
                        # Said once, with what to fix (the message names the file and the
                        # variable; it is about the model, never a query). Exact hits go on.
                        self._embedder_load_error = f"{type(exc).__name__}: {exc}"
                        logger.error(
                            "llm-cost-hooks cache: the embedder cannot load (%s). Exact hits are still "
                            "served and stored; the semantic tier is off in this process (skipped calls "
                            "are counted in the cache's stats.embedder_errors) until the model is fixed "
                            "and the process restarted.",
                            self._embedder_load_error,
                        )
                        raise
        return self._embedder

    def _embedder_name_or_none(self) -> str | None:
        """The embedder's name, or ``None`` when it cannot load (said once by ``embedder``)."""
        if self._embedder is None and self._embedder_load_error is not None:
            return None
        try:
            return str(self.embedder.name)
        except Exception:
            return None

    def _embed_failed(self, exc: Exception) -> None:
        """A loaded embedder raised: the semantic step of this call is skipped, counted, and
        said once per cache (the type only: an embedder's message may quote the text)."""
        with self._stats_lock:  # one ERROR, also when threads fail at once
            self.stats.__dict__["embedder_errors"] += 1
            first, self._embed_failure_logged = not self._embed_failure_logged, True
        if not first:
            logger.debug("cache embedder failed (%s); semantic tier skipped", type(exc).__name__)
            return
        logger.error(
            "llm-cost-hooks cache: the embedder %r failed (%s). Exact hits are still served and "
            "stored; the semantic tier is skipped for each call it fails on (counted in the cache's "
            "stats.embedder_errors), and for %gs once %d calls in a row failed, then tried again: it "
            "is used again as soon as it answers. Check the embedder (its model, service, "
            "credentials or timeout).",
            getattr(self._embedder, "name", None),
            type(exc).__name__,
            _EMBED_RESET_S,
            _EMBED_FAILURES,
        )

    @property
    def embedder_name(self) -> str:
        if self._embedder is None and not self.config.semantic:
            return "none"
        return str(self.embedder.name)

    @property
    def _gap(self) -> float | None:
        """How far below the nearest entry other answers (and missing neighbours) count at most
        in the neighbourhood model. Learned answer keys have their own guard for a sparse
        store, ``learned_min_similarity`` (measured from an empty cache on a stream), and keep
        the features they were measured with."""
        return None if self.learning else _OTHER_ANSWER_GAP

    def _count(self, **inc: float) -> None:
        with self._stats_lock:
            counts = self.stats.__dict__  # pydantic's __setattr__ costs more than the increment
            for k, v in inc.items():
                counts[k] += v

    def _backend_call(self, what: str, fn: Any, *args: Any, default: Any = None) -> Any:
        """Run a backend call; a failure is a warning and ``default`` (a miss), never an exception."""
        if not self._breaker.allow():
            self._count(skipped_while_open=1)
            return default
        try:
            out = fn(*args)
        except Exception as exc:
            self._count(errors=1)
            self._breaker.record_failure()
            if not self._outage_logged:
                self._outage_logged = True
                logger.warning(
                    "llm-cost-hooks: cache backend %s failed (%s: %s); calls go to the model "
                    "uncached (lookups are misses, answers are not stored) until it answers "
                    "again, tried every %gs once %d calls in a row failed. Failures are counted "
                    "in the cache's stats.errors.",
                    self._backend_name(),
                    what,
                    f"{type(exc).__name__}: {exc}",
                    self._breaker.reset_seconds,
                    self._breaker.failure_threshold,
                )
            else:
                logger.debug("cache backend %s failed: %s: %s", what, type(exc).__name__, exc)
            return default
        self._breaker.record_success()
        if self._outage_logged:
            self._outage_logged = False
            logger.info("llm-cost-hooks: cache backend %s answers again", self._backend_name())
        return out

    def _backend_name(self) -> str:
        url = getattr(self.backend, "redis_url", None)
        return f"at {redacted_url(url)}" if isinstance(url, str) else type(self.backend).__name__

    def _vector(self, req: CacheRequest) -> Any:
        key = (req.partition, req.normalized)
        vec = self._vec_memo.get(key)
        if vec is None:
            if not self._embed_breaker.allow():
                raise _EmbedderResting
            try:
                vec = self.embedder.embed_one(req.query)
            except Exception:
                self._embed_breaker.record_failure()
                raise
            self._embed_breaker.record_success()
            self._vec_memo[key] = vec
            while len(self._vec_memo) > 512:
                self._vec_memo.popitem(last=False)
        return vec

    # --------------------------------------------------------------- API
    def request(
        self,
        query: str,
        *,
        llm_string: str = "",
        context: str = "",
        scope: CacheScope | None = None,
        semantic: bool = True,
    ) -> CacheRequest:
        """Build the normalised request for ``query`` (the last user message) in its scope.

        ``context`` is everything before it (system prompt, earlier turns, tools): it must
        match exactly, so it goes into the partition.
        """
        scope = scope or CacheScope()
        if scope.per_user is None and self.config.per_user:
            scope = scope.model_copy(update={"per_user": True})
        tenant = scope.tenant if scope.tenant is not None else self.config.default_tenant
        sem = bool(semantic and self.config.semantic)
        # The partition hashes are the costliest step of an exact hit; calls of one app repeat
        # few (scope, model, context) combinations, so they are memoised: the exact partition
        # (no embedder in it: the exact key is the same whatever the embedder or its state) and
        # the semantic one (the embedder's name too: vectors of two models are never compared).
        memo_key = (scope, llm_string, context, self.config.default_tenant)
        parts = self._part_memo.get(memo_key)
        name = None
        if parts is None or (sem and parts[1] is None and (name := self._embedder_name_or_none())):
            ctx = digest(context)

            def part_for(embedder_name: str) -> str:
                return partition_of(
                    scope,
                    llm_string=llm_string,
                    context_hash=ctx,
                    embedder_name=embedder_name,
                    default_tenant=self.config.default_tenant,
                )

            if parts is None and sem:
                name = self._embedder_name_or_none()
            parts = (parts[0] if parts is not None else part_for("none"), part_for(name) if name else None)
            if len(self._part_memo) >= 256:  # keys hold whole contexts: keep it small
                self._part_memo.clear()
            self._part_memo[memo_key] = parts
        exact_part, sem_part = parts
        unavailable = sem and sem_part is None  # the embedder cannot load: exact tier only
        norm = normalize_query(query)
        return CacheRequest(
            partition=sem_part if sem and sem_part is not None else exact_part,
            exact_key=digest(exact_part, norm),
            query=query,
            normalized=norm,
            scope=scope,
            tenant=tenant,
            semantic=sem and not unavailable,
            embedder_unavailable=unavailable,
        )

    def lookup(self, req: CacheRequest) -> CacheHit | None:
        """Exact tier, then the semantic tier. A miss (``None``) on any backend failure."""
        if req.scope.bypass:
            self._count(lookups=1, misses=1)
            return None
        if (req.scope.tenant is None or not self._seen_tenant) and self._tenantless(req.scope):
            self._count(lookups=1, misses=1, tenantless_bypassed=1)
            return None
        entry = self._backend_call("get_exact", self.backend.get_exact, req.exact_key)
        if entry is not None and entry.exact_key != req.exact_key:
            entry = self._misplaced(entry)  # a shared store's value moved under another key: None
        if entry is not None:  # one counter update per exact hit: it is the hot path
            self._count(lookups=1, exact_hits=1, saved_usd=entry.cost_usd or 0.0)
            return CacheHit(status="exact", entry=entry, saved_usd=entry.cost_usd)
        self._count(lookups=1)
        policy = self.config.policy_for(req.scope.route)
        if req.embedder_unavailable and policy.enabled:
            self._count(misses=1, embedder_errors=1)
            return None
        if not (req.semantic and policy.enabled) or not self._breaker.is_closed:
            self._count(misses=1)
            return None
        try:
            refused = semantic_refusal(req.query, self.embedder) is not None
            vec = None if refused else self._vector(req)
        except Exception as exc:  # the embedder's failure: this call skips the semantic tier
            self._embed_failed(exc)
            self._count(misses=1)
            return None
        if vec is None:
            self._count(misses=1)
            return None
        neigh: list[Neighbor] = self._backend_call(
            "search", self.backend.search, req.partition, vec, policy.k, default=[]
        )
        earlier = self._earlier_exact(req, neigh)
        if earlier is not None:
            self._count(exact_hits=1, saved_usd=earlier.cost_usd or 0.0)
            return CacheHit(status="exact", entry=earlier, saved_usd=earlier.cost_usd)
        hit = self.decide(req, neigh, policy)
        if hit is None:
            if self.learning:
                self._remember_near_miss(req, neigh, policy)
            self._count(misses=1)
            return None
        share = self.verify_share
        if share > 0 and self.learning and hit.similarity < self.config.learned_min_similarity:
            share = max(share, _LOW_VERIFY)  # under the plain bar: its own class bar decided
        if share > 0 and self._rng.random() < share:
            # Answer this one with the model; ``update`` compares its answer with the entry's.
            with self._verify_lock:
                self._pending[req.exact_key] = (hit.entry, hit.similarity, req.scope.route)
                while len(self._pending) > 1024:
                    self._pending.popitem(last=False)
            self._count(verifications=1, misses=1)
            return None
        self._count(semantic_hits=1, saved_usd=hit.entry.cost_usd or 0.0)
        self._backend_call("touch", self.backend.touch, hit.entry.id)
        self.audit.maybe_record(uuid.uuid4().hex, req, hit)
        return hit

    def _earlier_exact(self, req: CacheRequest, neigh: list[Neighbor]) -> CacheEntry | None:
        """A neighbour that is this very question in this very partition under another exact
        key: an entry written by an earlier version, whose exact key named the embedder. It is
        an exact hit (same partition, same normalised question), found by the search the exact
        miss makes anyway."""
        for n in neigh[:3]:
            if n.similarity < _SAME_TEXT_SIMILARITY:
                return None
            entry = (
                n.payload
                if isinstance(n.payload, CacheEntry)
                else self._backend_call("get", self.backend.get, n.entry_id)
            )
            if (
                entry is not None
                and entry.partition == req.partition
                and entry.normalized_query == req.normalized
            ):
                return entry
        return None

    def decide(self, req: CacheRequest, neigh: list[Neighbor], policy: DecisionPolicy) -> CacheHit | None:
        """Apply the policy to the nearest neighbours: serve the nearest stored question (with
        learned answer keys, the next one when a contrast check tells the nearest apart) or nothing."""
        if not neigh:
            return None
        skips = min(_SKIP_VETOED, len(neigh) - 1) if policy.contrast and self.learning else 0
        for start in range(skips + 1):
            hit = self._decide_at(req, neigh[start:], policy, last=start == skips)
            if hit is not _VETOED:
                return hit if isinstance(hit, CacheHit) else None
        return None

    def _decide_at(
        self, req: CacheRequest, neigh: list[Neighbor], policy: DecisionPolicy, last: bool
    ) -> CacheHit | object | None:
        """The decision with ``neigh[0]`` as the candidate; ``_VETOED`` when a contrast check
        tells it apart and ``last`` is false (the caller then tries the next one)."""
        top = neigh[0]
        sims = [n.similarity for n in neigh]
        if self._key_parent:
            keys = [self._key_class(n.answer_key) for n in neigh]
        else:
            keys = [n.answer_key for n in neigh]
        same = [key == keys[0] for key in keys]
        floor = self.config.learned_min_similarity if self.learning else policy.min_similarity
        if (
            not sims
            or (
                sims[0] < max(policy.min_similarity, floor)
                and not self._under_class_bar(keys[0], sims[0], policy)
            )
            or sims[0] < self._entry_floor.get(top.entry_id, -1.0)
        ):
            self._count(rejected=1)
            return None
        if policy.kind != "verified" and not policy.accepts(sims, same, gap=self._gap):
            self._count(rejected=1)
            return None
        entry = (
            top.payload
            if isinstance(top.payload, CacheEntry)
            else self._backend_call("get", self.backend.get, top.entry_id)
        )
        if entry is not None and entry.partition != req.partition:
            entry = self._misplaced(entry)
        if entry is None:
            return None
        if semantic_refusal(entry.query, self.embedder) is not None or case_differs(req.query, entry.query):
            # Stored before this check existed (new entries of such text have no vector), or
            # a code in another case, which the uncased embedder cannot see.
            if not last:
                return _VETOED
            self._count(rejected=1)
            return None
        if policy.contrast and contrast_flags(req.query, entry.query):
            if not last:
                return _VETOED
            self._count(rejected=1, contrast_vetoes=1)
            return None
        score = policy.score(sims, same, gap=self._gap)
        if policy.kind == "verified":
            p = (
                self.verifier.probability(req.query, entry.query, top.similarity)
                if policy.pair_threshold < 1.0
                else 0.0
            )
            agreeing = sum(
                1 for n, eq in zip(neigh[1:], same[1:]) if eq and n.similarity >= policy.min_similarity
            )
            if agreeing < policy.min_agreeing or (
                not self.learning and top.similarity < policy.settled_min_similarity
            ):
                # No repeated answer to lean on, or too far to be one of that class: the
                # question may have no answer stored at all. The pair alone decides.
                score = 0.0
            if (
                score < policy.threshold
                and _DROP_TOLD_APART
                and self.learning
                and policy.contrast
                and not all(same)
            ):
                score = self._comparable_score(req, neigh, same, policy, score)
            if (policy.pair_threshold >= 1.0 or p < policy.pair_threshold) and score < policy.threshold:
                self._count(rejected=1)
                return None
            score = max(p, score)
        return CacheHit(
            status="semantic", entry=entry, similarity=top.similarity, score=score, saved_usd=entry.cost_usd
        )

    def _under_class_bar(self, cls: str, similarity: float, policy: DecisionPolicy) -> bool:
        """``learn_answer_keys``: whether class ``cls`` may serve at ``similarity`` under
        ``learned_min_similarity`` (its own bar, from its checked outcomes; see ``_LOW_DEPTH``)."""
        low = self.config.learned_min_similarity - _LOW_DEPTH
        if not self.learning or similarity < max(policy.min_similarity, low):
            return False
        seen = self._class_same.get(cls)
        if seen is None or len(seen) < _LOW_CONFIRM or seen[_LOW_CONFIRM - 1] > similarity + _LOW_MARGIN:
            return False
        return similarity > self._class_floor.get(cls, -1.0) + _LOW_FLOOR_GAP

    def _note_outcome(self, key: str, similarity: float, same: bool) -> None:
        """A check of a new answer against an answer of ``key``'s class at ``similarity`` (on a
        miss, or of a verified would-be hit): a "different" raises the class's floor, a "same"
        may lower its own bar (``_under_class_bar``)."""
        with self._verify_lock:
            cls = self._key_class(key)
            if not same:
                if _CLASS_FLOOR:
                    self._class_floor[cls] = max(self._class_floor.get(cls, -1.0), similarity)
                    while len(self._class_floor) > 100_000:  # bounded; oldest first
                        del self._class_floor[next(iter(self._class_floor))]
                return
            seen = self._class_same.get(cls)
            if seen is None:
                self._class_same[cls] = [similarity]
                while len(self._class_same) > 100_000:  # bounded; oldest first
                    del self._class_same[next(iter(self._class_same))]
            elif len(seen) < _LOW_CONFIRM or similarity < seen[-1]:
                seen.append(similarity)
                seen.sort()
                del seen[_LOW_CONFIRM:]

    def _comparable_score(
        self, req: CacheRequest, neigh: list[Neighbor], same: list[bool], policy: DecisionPolicy, score: float
    ) -> float:
        """``learn_answer_keys``: the neighbourhood score over the neighbours no contrast check
        tells apart from the request. A stored "alarm at 8 am" next to the request "set an
        alarm for 7" has another answer because of its time, which says nothing about whether
        the nearest stored question's answer fits the request; kept, it would count against
        every candidate near it. Dropped neighbours are dropped whole: a neighbour told apart
        is evidence neither against the candidate nor for it (it never counts as agreeing).
        Refused at or under the candidate class's floor (``_CLASS_FLOOR``)."""
        if neigh[0].similarity <= self._class_floor.get(self._key_class(neigh[0].answer_key), -1.0):
            return score
        kept = [0]
        for i, entry in enumerate(self._entries(neigh[1:]), start=1):
            if entry is None or not contrast_flags(req.query, entry.query):
                kept.append(i)
        if len(kept) == len(neigh):
            return score
        sims = [neigh[i].similarity for i in kept]
        eq = [same[i] for i in kept]
        agreeing = sum(1 for s, e in zip(sims[1:], eq[1:]) if e and s >= policy.min_similarity)
        return policy.score(sims, eq, gap=self._gap) if agreeing >= policy.min_agreeing else 0.0

    def _entries(self, neigh: list[Neighbor]) -> list[CacheEntry | None]:
        """The neighbours' entries: their payloads, the rest fetched in one call where the
        backend can (``get_many``: one Redis round trip instead of one per neighbour)."""
        missing = [n.entry_id for n in neigh if not isinstance(n.payload, CacheEntry)]
        fetched: dict[str, CacheEntry | None] = {}
        many = getattr(self.backend, "get_many", None)
        if missing and many is not None:
            got = self._backend_call("get_many", many, missing, default=None)
            fetched = dict(zip(missing, got)) if got is not None else {}
        elif missing:
            fetched = {i: self._backend_call("get", self.backend.get, i) for i in missing}
        return [n.payload if isinstance(n.payload, CacheEntry) else fetched.get(n.entry_id) for n in neigh]

    def _agrees(self, new: str, entry: CacheEntry) -> bool:
        """The equivalence check of ``new`` against ``entry``'s answer; an error is a disagreement."""
        try:
            from ._canonical import decode_answer

            old = decode_answer(entry.answer).text
        except (ValueError, TypeError):
            old = entry.answer
        try:
            return bool(self.equivalence(new, old))
        except Exception as exc:
            # The type only: the check's message may quote the answers it compared.
            logger.warning(
                "cache equivalence check failed (%s); counted as a disagreement", type(exc).__name__
            )
            return False

    def _remember_near_miss(self, req: CacheRequest, neigh: list[Neighbor], policy: DecisionPolicy) -> None:
        """``learn_answer_keys``: keep the nearest entries of a miss, one per answer key, for
        ``update`` to compare the model's answer with."""
        refs: list[tuple[CacheEntry | str, float]] = []
        keys: set[str] = set()
        for n in neigh:
            if n.similarity < policy.min_similarity or len(refs) >= _LEARN_CANDIDATES:
                break
            key = self._key_class(n.answer_key)
            if key not in keys:
                keys.add(key)
                refs.append((n.payload if isinstance(n.payload, CacheEntry) else n.entry_id, n.similarity))
        if not refs:
            return
        with self._verify_lock:
            self._near_miss[req.exact_key] = refs
            while len(self._near_miss) > 1024:
                self._near_miss.popitem(last=False)

    def _key_class(self, key: str) -> str:
        """The class an answer key belongs to (itself unless learned equal to another)."""
        parent = self._key_parent
        root = key
        while root in parent:
            root = parent[root]
        while key != root:  # path compression
            nxt = parent[key]
            parent[key] = root
            key = nxt
        return root

    def _merge_vote(self, a: str, b: str) -> None:
        """One miss's answer was found equal to the answers of classes ``a`` and ``b``; merge
        them once ``_MERGE_VOTES`` separate misses said so."""
        with self._verify_lock:
            a, b = self._key_class(a), self._key_class(b)
            if a == b:
                return
            pair = (a, b) if a < b else (b, a)
            votes = self._merge_evidence.get(pair, 0) + 1
            if votes < _MERGE_VOTES:
                self._merge_evidence[pair] = votes
                while len(self._merge_evidence) > 100_000:  # bounded; oldest evidence goes first
                    del self._merge_evidence[next(iter(self._merge_evidence))]
                return
            self._merge_evidence.pop(pair, None)
            self._key_parent[pair[1]] = pair[0]
            floor = self._class_floor.pop(pair[1], None)
            if floor is not None:
                self._class_floor[pair[0]] = max(self._class_floor.get(pair[0], -1.0), floor)
            seen = self._class_same.pop(pair[1], None)
            if seen is not None:
                self._class_same[pair[0]] = sorted(self._class_same.get(pair[0], []) + seen)[:_LOW_CONFIRM]
        self._count(keys_merged=1)

    def _learned_key(
        self, req: CacheRequest, new: str, refs: list[tuple[CacheEntry | str, float]]
    ) -> str | None:
        """``learn_answer_keys``: the answer-key class of the stored entries next to this miss
        whose answers the model's new answer agrees with, where no contrast check tells the two
        questions apart. When it agrees with entries of two classes, that is evidence that the
        classes are one (see :meth:`_merge_vote`)."""
        agreed: list[str] = []
        for ref, similarity in refs:
            entry = ref if isinstance(ref, CacheEntry) else self._backend_call("get", self.backend.get, ref)
            if entry is None or contrast_flags(req.query, entry.query):
                continue
            self._count(equivalence_checks=1)
            agree = self._agrees(new, entry)
            self._note_outcome(entry.answer_key, similarity, agree)
            if agree:
                agreed.append(self._key_class(entry.answer_key))
        if not agreed:
            self._count(keys_refused=1)
            return None
        self._count(keys_learned=1)
        for other in agreed[1:]:
            self._merge_vote(agreed[0], other)
        return self._key_class(agreed[0])

    def _check_pending(self, req: CacheRequest, answer: str, answer_text: str | None) -> CacheEntry | None:
        """Compare a verified request's answer with the entry it would have been served; the
        entry when they agree (with learned keys, the new answer joins its class)."""
        with self._verify_lock:
            pending = self._pending.pop(req.exact_key, None)
        if pending is None:
            return None
        entry, similarity, route = pending
        agree = self._agrees(answer_text if answer_text is not None else answer, entry)
        req.verified = "agree" if agree else "disagree"
        if self.learning:
            self._note_outcome(entry.answer_key, similarity, agree)
        if agree:
            self._count(verified_agree=1)
            req.verified_entry = entry
            return entry
        self._count(verified_disagree=1)
        with self._verify_lock:  # this entry serves only nearer requests from now on
            self._entry_floor[entry.id] = max(self._entry_floor.get(entry.id, -1.0), similarity + 1e-6)
        route_tightened = _LOW_TIGHTENS_ROUTE or not (
            self.learning and similarity < self.config.learned_min_similarity
        )
        if route_tightened:
            self._tighten(route)
        logger.info(
            "cache: verified answer disagreed with entry %s (similarity %.4f); the entry now serves "
            "only nearer requests%s",
            entry.id,
            similarity,
            "" if route_tightened else " and its class only above this similarity (route thresholds kept)",
        )
        return None

    def check_verification(self, req: CacheRequest, answer_text: str) -> str | None:
        """``req.verified`` after comparing the model's answer, when its lookup sent ``req`` to
        the model for online verification (``update`` does the same; this is for an adapter
        whose record may be written before its cache write)."""
        if self._pending:
            self._check_pending(req, answer_text, answer_text)
        return req.verified

    def verified_precision(self, confidence: float = 0.95) -> tuple[float | None, float, float]:
        """Precision of would-be semantic hits checked by online verification:
        ``(estimate, lower, upper)`` (Wilson interval; ``None`` estimate before any check)."""
        ok, bad = self.stats.verified_agree, self.stats.verified_disagree
        n = ok + bad
        if n == 0:
            return None, 0.0, 1.0
        return ok / n, wilson_lower_bound(ok, n, confidence), 1.0 - wilson_lower_bound(bad, n, confidence)

    def update(
        self,
        req: CacheRequest,
        answer: str,
        *,
        answer_key: str | None = None,
        answer_text: str | None = None,
        cost_usd: float | None = None,
        model: str | None = None,
        evidence_ids: list[str] | None = None,
    ) -> CacheEntry | None:
        """Store ``answer`` (the adapter's serialised string) for ``req``.

        ``answer_key`` names answers that are the same (default: a hash of the normalised
        ``answer_text`` or ``answer``).
        """
        if req.scope.bypass:
            return None
        if (req.scope.tenant is None or not self._seen_tenant) and self._tenantless(req.scope):
            return None
        if self._pending:
            self._check_pending(req, answer, answer_text)
        verified_same = req.verified_entry
        scope = req.scope
        policy = self.config.policy_for(scope.route)
        ttl = policy.ttl_seconds if policy.ttl_seconds is not None else self.config.ttl_seconds
        now = time.time()
        text = answer_text if answer_text is not None else answer
        key = answer_key or scope.answer_key
        if self._near_miss:
            with self._verify_lock:
                near = self._near_miss.pop(req.exact_key, None)
            if near is not None and not key:
                key = self._learned_key(req, text, near)
        if verified_same is not None and not key and self.learning:
            key = self._key_class(verified_same.answer_key)  # checked equal by the verification
            self._count(keys_learned=1)
        if not key:
            key = digest("a", normalize_query(text))
        entry = CacheEntry(
            partition=req.partition,
            exact_key=req.exact_key,
            tenant=req.tenant,
            user=scope.user if scope.per_user else None,
            route=scope.route,
            feature=scope.feature,
            prompt_version=scope.prompt_version,
            corpus_version=scope.corpus_version,
            safety_version=scope.safety_version,
            query=req.query,
            normalized_query=req.normalized,
            embedding_model=self.embedder_name if req.semantic else "none",
            answer=answer,
            answer_key=key,
            evidence_ids=list(evidence_ids or scope.evidence_ids or []),
            model=model,
            cost_usd=cost_usd,
            created_at=now,
            expires_at=(now + ttl) if ttl else None,
        )
        vec = None
        if req.embedder_unavailable:
            self._count(embedder_errors=1)
        elif req.semantic:
            try:
                if semantic_refusal(req.query, self.embedder) is None:
                    vec = self._vector(req)
            except Exception as exc:  # stored for exact hits only
                self._embed_failed(exc)
        if self._backend_call("put", self.backend.put, entry, vec, default=False) is not False:
            self._count(writes=1)  # only what was stored: a failed or skipped put is in errors
        return entry

    def invalidate(
        self,
        *,
        tenant: str | None = None,
        prompt_version: str | None = None,
        corpus_version: str | None = None,
        route: str | None = None,
        entry_id: str | None = None,
        **unknown: object,
    ) -> int:
        """Delete entries by tenant, prompt version, corpus version, route or entry id.

        Any other keyword raises :class:`ConfigurationError` naming the ones it takes.
        """
        if unknown:
            known = ["tenant", "prompt_version", "corpus_version", "route", "entry_id"]
            hints = [difflib.get_close_matches(name, known, n=1) for name in sorted(unknown)]
            close = sorted({h[0] for h in hints if h})
            raise ConfigurationError(
                f"invalidate() got {sorted(unknown)}; it takes {', '.join(known)}"
                + (f" (did you mean {', '.join(close)}?)" if close else "")
                + ", e.g. invalidate(entry_id=hit.entry.id) or invalidate(tenant='acme')."
            )
        if entry_id is not None:
            return int(self._backend_call("delete", self.backend.delete, [entry_id], default=0))
        if tenant is None and prompt_version is None and corpus_version is None and route is None:
            raise ConfigurationError(
                "invalidate() needs tenant, prompt_version, corpus_version, route or entry_id; use clear() to drop all."
            )
        return self._invalidate(
            tenant=tenant, prompt_version=prompt_version, corpus_version=corpus_version, route=route
        )

    def _invalidate(self, **match: str | None) -> int:
        return int(self._backend_call("invalidate", lambda: self.backend.invalidate(**match), default=0))

    def clear(self, **scope: Any) -> int | None:
        """Drop everything, or only the entries matching ``tenant``/``prompt_version``/... ."""
        known = {"tenant", "prompt_version", "corpus_version", "route"}
        if not scope:
            self._backend_call("clear", self.backend.clear)
            self._vec_memo.clear()
            return None
        bad = set(scope) - known
        if bad:
            raise ConfigurationError(f"clear() accepts {sorted(known)}; got {sorted(bad)}.")
        return self._invalidate(**scope)

    def report_bad_hit(self, hit_or_entry_id: str, *, route: str | None = None) -> DecisionPolicy:
        """A served semantic hit was wrong: delete its entry and tighten its route's threshold.

        Takes a ``hit_id`` from the audit log or an entry id. Returns the route's new policy.
        An id that is neither (a typo, an entry already gone) changes nothing and raises
        :class:`ConfigurationError`, unless ``route`` names the route to tighten.
        """
        rec = self.audit.find(hit_or_entry_id)
        entry_id = rec["entry_id"] if rec else hit_or_entry_id
        if route is None:
            route = rec["route"] if rec else None
            if rec is None:
                entry = self._backend_call("get", self.backend.get, entry_id)
                if entry is None:  # else one mistyped id would tighten every route's default
                    raise ConfigurationError(
                        f"report_bad_hit: {hit_or_entry_id!r} is neither a hit_id in cache.audit.records nor "
                        "an entry in the cache (or the store could not be read); nothing was changed. Pass "
                        "route=... to tighten that route anyway."
                    )
                route = entry.route
        self._backend_call("delete", self.backend.delete, [entry_id], default=0)
        return self._tighten(route)

    def _tighten(self, route: str | None) -> DecisionPolicy:
        current = self.config.policy_for(route)
        step = self.config.tighten_step
        tightened = current.model_copy(
            update={
                "threshold": min(1.0, current.threshold + step),
                "pair_threshold": min(1.0, current.pair_threshold + step),
            }
        )
        if route is None:
            self.config = self.config.model_copy(update={"default": tightened})
        else:
            self.config = self.config.model_copy(update={"routes": {**self.config.routes, route: tightened}})
        logger.info(
            "cache: decision tightened on route %r; threshold %.4f -> %.4f, pair threshold %.4f -> %.4f",
            route,
            current.threshold,
            tightened.threshold,
            current.pair_threshold,
            tightened.pair_threshold,
        )
        return tightened

    def count_corrupt(self) -> None:
        self._count(corrupt=1)

    def _misplaced(self, entry: CacheEntry) -> CacheEntry | None:
        """An entry found under a key or partition it was not written for is not served."""
        self.count_corrupt()
        log = logger.debug if self._misplaced_logged else logger.warning
        self._misplaced_logged = True
        log(
            "cache entry %s is stored outside its own partition: not served (counted in stats.corrupt)",
            entry.id,
        )
        return None


def answers_equivalent(new: str, old: str) -> bool:
    """Default check of online verification: do two answers say the same thing?

    Equal after normalisation, or sharing most content words with no contrast between them
    (another number, date, name, negation...). Replace it with ``CacheCore(equivalence=...)``
    (e.g. an LLM judge) when answers are long and worded freely.

    >>> answers_equivalent("Your card arrives in 3 days.", "Your card arrives in 3 days")
    True
    >>> answers_equivalent("Your card arrives in 3 days.", "Your card arrives in 7 days.")
    False
    """
    if normalize_query(new) == normalize_query(old):
        return True
    if contrast_flags(new, old):
        return False
    a, b = view(new).content, view(old).content
    return bool(a | b) and len(a & b) / len(a | b) >= 0.6
