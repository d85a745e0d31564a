"""The llm-cost-hooks logger as a LiteLLM proxy callback.

``config.yaml`` names ``cost_hooks_callback.proxy_handler_instance``; LiteLLM loads this
file from the config's directory. Configuration comes from the environment (or the
config's ``environment_variables:`` block, which the proxy applies before loading this):

* ``LLM_COST_HOOKS_LEDGER`` (and every other ``LLM_COST_HOOKS_*`` setting): where records go.
* ``LLM_COST_HOOKS_PROXY_LIMITS``: optional JSON list of spend limits enforced before each
  request, e.g. ``[{"metric": "usd", "amount": 25, "period": "day", "scope": "tenant"}]``
  (fields of ``llm_cost_hooks.budget.Limit``). A request over budget is refused the way
  LiteLLM refuses its own budgets: HTTP 422 (``litellm.budget_exceeded_status_code``),
  error type ``budget_exceeded``, ``Retry-After`` until the period resets. With
  ``--num_workers`` above 1 this needs ``LLM_COST_HOOKS_PROXY_BUDGET_STORE`` (else the proxy
  does not start: each worker would enforce the limits alone).
* ``LLM_COST_HOOKS_PROXY_BUDGET_STORE``: ``redis://...`` to share budgets between proxy
  replicas (default: in this process); ``LLM_COST_HOOKS_PROXY_BUDGET_FAIL_MODE``: ``open``
  (default: while Redis is unreachable each replica enforces the budgets from the last
  totals it saw and journals its spend for replay) or ``closed`` (refuse with 503).
* ``LLM_COST_HOOKS_PROXY_BREAKER``: JSON options of ``llm_cost_hooks.dedup.CircuitBreaker``
  (e.g. ``{"failure_threshold": 5, "reset_seconds": 30}``): after repeated failures of a
  model, its requests are refused with 429 and ``Retry-After`` instead of being sent.
* ``LLM_COST_HOOKS_PROXY_CACHE``: ``off`` (default), ``exact`` or ``semantic``: answer
  repeated (or, with ``semantic``, paraphrased) requests from our cache
  (``LiteLLMSemanticCache``), scoped by the request's metadata; stored in
  ``LLM_COST_HOOKS_PROXY_CACHE_STORE`` (a SQLite path, default ``llm_cache.db``, or
  ``redis://...`` shared by replicas).
* ``LLM_COST_HOOKS_PROXY_CONTEXT_BUDGETS``: optional JSON ``{route: {segment: tokens}}``
  (``"default"`` for every other route; segments ``system``, ``policy``, ``history``,
  ``retrieved``, ``tools``, ``output``): requests are trimmed to their route's budgets
  (``metadata.route``) and ``max_tokens`` is clamped to ``output``.
* ``LLM_COST_HOOKS_PROXY_PROMPT_CACHE``: ``true`` to place prompt-cache breakpoints on
  Anthropic / Bedrock / Vertex Claude requests (or JSON options, e.g. ``{"ttl": "1h"}``).
* ``LLM_COST_HOOKS_PROXY_REQUIRE_TENANT``: ``true`` to refuse (403) requests from virtual
  keys bound to no tenant. A key is bound by its metadata, ``{"tenant_id": "acme"}`` at
  ``/key/generate`` (or its team's metadata): its requests are that tenant's for records,
  budgets, alerts, dedup and cache, and a request naming another tenant is refused (403).
  Without it, a key bound to none keeps the tenant its client writes.
* ``LLM_COST_HOOKS_PROXY_DEDUP``: ``memory`` (this proxy process) or ``redis://...``
  (all replicas): requests with the same ``metadata.idempotency_key`` share one upstream
  call, and a finished answer is served again for ``LLM_COST_HOOKS_PROXY_DEDUP_TTL``
  seconds (default 60). ``LLM_COST_HOOKS_PROXY_DEDUP_DERIVE=true`` also deduplicates
  byte-identical requests without a key.
"""

import json
import logging
import os
import sys

from llm_cost_hooks.litellm import CostHooksLogger, proxy_refusal

# The proxy configures no Python logging of its own, so only warnings of ours would show.
# Our INFO lines matter here: at shutdown the ledger's "closed: N records written, M set
# aside in FILE, K lost" line says where every record went. Kept off when your logging
# is already set up (a handler on the root or on "llm_cost_hooks").
_ours = logging.getLogger("llm_cost_hooks")
if not _ours.handlers and not logging.getLogger().handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s:%(levelname)s - %(message)s"))
    _ours.addHandler(_handler)
    if _ours.level == logging.NOTSET:
        _ours.setLevel(logging.INFO)


def _env(name):
    return os.environ.get(name, "").strip()


def _guard():
    raw = _env("LLM_COST_HOOKS_PROXY_LIMITS")
    if not raw:
        return None
    from llm_cost_hooks import ConfigurationError
    from llm_cost_hooks.budget import Limit, SpendGuard

    limits = [Limit(**item) for item in json.loads(raw)]
    store = _env("LLM_COST_HOOKS_PROXY_BUDGET_STORE") or None
    # `litellm --num_workers N` sets NUM_WORKERS for its worker processes. Budgets kept in
    # each worker's memory would let a tenant spend N times its limit, so refuse to start.
    workers = _env("NUM_WORKERS")
    if store is None and workers.isdigit() and int(workers) > 1:
        raise ConfigurationError(
            f"LLM_COST_HOOKS_PROXY_LIMITS with --num_workers {workers} needs a shared spend store: "
            "each worker would enforce the limits on its own, letting a tenant spend "
            f"{workers} times its budget. Set LLM_COST_HOOKS_PROXY_BUDGET_STORE=redis://host:6379 "
            "or run one worker per proxy."
        )
    return SpendGuard(limits, store=store, fail_mode=_env("LLM_COST_HOOKS_PROXY_BUDGET_FAIL_MODE") or "open")


def _context_budget():
    raw = _env("LLM_COST_HOOKS_PROXY_CONTEXT_BUDGETS")
    if not raw:
        return None
    from llm_cost_hooks.budget import ContextBudget

    return ContextBudget(json.loads(raw))


def _prompt_cache():
    raw = _env("LLM_COST_HOOKS_PROXY_PROMPT_CACHE")
    if raw.lower() in ("", "0", "false", "no", "off"):
        return False
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    return json.loads(raw)


def _dedup():
    raw = _env("LLM_COST_HOOKS_PROXY_DEDUP")
    if raw.lower() in ("", "0", "false", "no", "off"):
        return None
    ttl = float(_env("LLM_COST_HOOKS_PROXY_DEDUP_TTL") or 60)
    if raw.startswith(("redis://", "rediss://", "unix://")):
        from llm_cost_hooks.dedup import RedisSingleFlight

        return RedisSingleFlight(raw, result_ttl=ttl)
    from llm_cost_hooks.dedup import SingleFlight

    return SingleFlight(result_ttl=ttl)


def _breaker():
    raw = _env("LLM_COST_HOOKS_PROXY_BREAKER")
    if raw.lower() in ("", "0", "false", "no", "off"):
        return None
    from llm_cost_hooks.dedup import CircuitBreaker

    return CircuitBreaker(**({} if raw.lower() in ("1", "true", "yes", "on") else json.loads(raw)))


def _cache():
    mode = _env("LLM_COST_HOOKS_PROXY_CACHE").lower()
    if mode in ("", "0", "false", "no", "off"):
        return None
    if mode not in ("exact", "semantic"):
        raise ValueError(f"LLM_COST_HOOKS_PROXY_CACHE must be off, exact or semantic, got {mode!r}")
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    where = _env("LLM_COST_HOOKS_PROXY_CACHE_STORE")
    place = {"redis_url": where} if where.startswith(("redis://", "rediss://")) else {"path": where or None}
    return LiteLLMSemanticCache(semantic=mode == "semantic", **place)


class ProxyCostHooksLogger(CostHooksLogger):
    """The logger, plus what only the proxy needs: refusals answered as LiteLLM answers its
    own (status, error body, Retry-After; never a 500) and an optional circuit breaker."""

    def __init__(self, *, breaker=None, **kwargs):
        super().__init__(**kwargs)
        self.breaker = breaker

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        model = str(data.get("model") or "") if self.breaker is not None and isinstance(data, dict) else ""
        probing = False
        try:
            if model:
                try:
                    probing = self.breaker.check(model).value == "half_open"
                except Exception as exc:  # an open circuit: recorded as a $0 refusal, like a budget's
                    self._refuse_request(data, exc)
                    raise
            return await super().async_pre_call_hook(user_api_key_dict, cache, data, call_type)
        except Exception as exc:
            refusal = proxy_refusal(exc)
            if refusal is None:
                raise
            if probing:  # refused before reaching the model: the probe is still owed
                self.breaker.release_probe(model)
            raise refusal from exc

    def _model_group(self, kwargs):
        params = kwargs.get("litellm_params") or {}
        md = params.get("metadata") or kwargs.get("metadata") or {}
        return md.get("model_group") or kwargs.get("model")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        if self.breaker is not None and self._model_group(kwargs):
            self.breaker.record_success(str(self._model_group(kwargs)))
        await super().async_log_success_event(kwargs, response_obj, start_time, end_time)

    @staticmethod
    def _upstream_failure(kwargs, response_obj):
        # Only the model's own faults open its circuit: not our refusals, not bad requests.
        from llm_cost_hooks import LLMCostHooksError

        error = kwargs.get("exception") or response_obj
        if isinstance(error, LLMCostHooksError) or isinstance(getattr(error, "__cause__", None), LLMCostHooksError):
            return False
        status = getattr(error, "status_code", None)
        return not isinstance(status, int) or status >= 500 or status in (408, 429)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        if self.breaker is not None and self._model_group(kwargs) and self._upstream_failure(kwargs, response_obj):
            self.breaker.record_failure(str(self._model_group(kwargs)))
        await super().async_log_failure_event(kwargs, response_obj, start_time, end_time)


_semantic_cache = _cache()
if _semantic_cache is not None:
    import litellm

    litellm.cache = _semantic_cache

proxy_handler_instance = ProxyCostHooksLogger(
    breaker=_breaker(),
    guard=_guard(),
    context_budget=_context_budget(),
    prompt_cache=_prompt_cache(),
    dedup=_dedup(),
    derive_dedup_key=_env("LLM_COST_HOOKS_PROXY_DEDUP_DERIVE").lower() in ("1", "true", "yes", "on"),
    require_bound_tenant=_env("LLM_COST_HOOKS_PROXY_REQUIRE_TENANT").lower() in ("1", "true", "yes", "on"),
)
