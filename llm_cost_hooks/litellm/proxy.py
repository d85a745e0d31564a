"""The logger as a LiteLLM proxy callback, configured from the environment.

A proxy ``config.yaml`` names it by module path; LiteLLM imports it from the installed
package, so the config is the only file the proxy needs::

    litellm_settings:
      callbacks: llm_cost_hooks.litellm.proxy.proxy_handler_instance

``proxy_handler_instance`` is built when LiteLLM first asks for it, after the proxy has
applied the config's ``environment_variables:`` block, so that block can hold these
settings (every other ``LLM_COST_HOOKS_*`` setting, such as ``LLM_COST_HOOKS_LEDGER``,
is read as everywhere else):

* ``LLM_COST_HOOKS_PROXY_LIMITS``: JSON list of spend limits (fields of
  :class:`~llm_cost_hooks.budget.Limit`), e.g.
  ``[{"metric": "usd", "amount": 25, "period": "day", "scope": "tenant"}]``; a request over
  budget is refused with HTTP 422 ``budget_exceeded`` and ``Retry-After``. With
  ``--num_workers`` above 1 it needs ``LLM_COST_HOOKS_PROXY_BUDGET_STORE``.
* ``LLM_COST_HOOKS_PROXY_BUDGET_STORE``: ``redis://...`` to share budgets between workers
  and replicas; ``LLM_COST_HOOKS_PROXY_BUDGET_FAIL_MODE``: ``open`` (default) or ``closed``
  (refuse with 503 while the store is unreachable).
* ``LLM_COST_HOOKS_PROXY_BREAKER``: ``true`` or JSON options of
  :class:`~llm_cost_hooks.dedup.CircuitBreaker`: a model failing repeatedly is refused with
  429 and ``Retry-After`` instead of being called.
* ``LLM_COST_HOOKS_PROXY_CACHE``: ``off`` (default), ``exact`` or ``semantic``
  (:class:`~llm_cost_hooks.litellm.LiteLLMSemanticCache`), stored in
  ``LLM_COST_HOOKS_PROXY_CACHE_STORE`` (SQLite path, default ``llm_cache.db``, or ``redis://...``).
* ``LLM_COST_HOOKS_PROXY_CONTEXT_BUDGETS``: JSON ``{route: {segment: tokens}}``; requests are
  trimmed to their ``metadata.route``'s budgets and ``max_tokens`` clamped to ``output``.
* ``LLM_COST_HOOKS_PROXY_PROMPT_CACHE``: ``true`` (or JSON options such as ``{"ttl": "1h"}``)
  for prompt-cache breakpoints on Claude requests.
* ``LLM_COST_HOOKS_PROXY_DEDUP``: ``memory`` or ``redis://...``: requests with the same
  ``metadata.idempotency_key`` share one upstream call, an answer is served again for
  ``LLM_COST_HOOKS_PROXY_DEDUP_TTL`` seconds (default 60);
  ``LLM_COST_HOOKS_PROXY_DEDUP_DERIVE=true`` also joins identical requests without a key.
* ``LLM_COST_HOOKS_PROXY_REQUIRE_TENANT``: ``true`` to refuse (403) requests from virtual keys
  bound to no tenant. A key is bound by its metadata (``{"tenant_id": "acme"}`` at
  ``/key/generate``) or its team's: its requests are that tenant's for records, budgets,
  alerts, dedup and cache, and a request naming another tenant is refused (403).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from .. import ConfigurationError, LLMCostHooksError
from ._budget import proxy_refusal
from ._logger import CostHooksLogger

__all__ = ["ProxyCostHooksLogger"]

_OFF = ("", "0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _switch(name: str) -> bool:
    """An on/off setting. Anything else is refused, naming the variable: a misspelt
    ``true`` must not leave a protection (REQUIRE_TENANT) silently off."""
    raw = _env(name).lower()
    if raw in _ON or raw in _OFF:
        return raw in _ON
    raise ConfigurationError(
        f"{name}={_env(name)!r} is not valid: expected true or false (also 1/0, yes/no, on/off)."
    )


def _named(name: str, build: Callable[[], Any]) -> Any:
    """``build()``, whose bad value is an error naming the variable it came from."""
    try:
        return build()
    except ValueError as exc:  # ConfigurationError, json's and float()'s errors
        if name in str(exc):
            raise
        raise ConfigurationError(f"{name}={_env(name)!r} is not valid: {exc}") from None


def _show_our_logs() -> None:
    # The proxy sets up no Python logging, so only our warnings would show; the ledger's
    # "closed: N records written, M set aside in FILE, K lost" line at shutdown is INFO.
    # Left alone when logging is already set up (a root or "llm_cost_hooks" handler).
    ours = logging.getLogger("llm_cost_hooks")
    if ours.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s:%(levelname)s - %(message)s"))
    ours.addHandler(handler)
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)


def _guard() -> Any:
    raw = _env("LLM_COST_HOOKS_PROXY_LIMITS")
    if not raw:
        return None
    from ..budget import Limit, SpendGuard

    limits = [Limit(**item) for item in json.loads(raw)]
    store = _env("LLM_COST_HOOKS_PROXY_BUDGET_STORE") or None
    # `litellm --num_workers N` sets NUM_WORKERS for its workers. Budgets kept in each
    # worker's memory would let a tenant spend N times its limit, so refuse to start.
    workers = _env("NUM_WORKERS")
    if store is None and workers.isdigit() and int(workers) > 1:
        raise ConfigurationError(
            f"LLM_COST_HOOKS_PROXY_LIMITS with --num_workers {workers} needs a shared spend store: "
            "each worker would enforce the limits on its own, letting a tenant spend "
            f"{workers} times its budget. Set LLM_COST_HOOKS_PROXY_BUDGET_STORE=redis://host:6379 "
            "or run one worker per proxy."
        )
    fail_mode: Any = _env("LLM_COST_HOOKS_PROXY_BUDGET_FAIL_MODE") or "open"
    if fail_mode not in ("open", "closed"):
        raise ConfigurationError(
            f"LLM_COST_HOOKS_PROXY_BUDGET_FAIL_MODE={fail_mode!r} is not valid: expected open or closed."
        )
    return SpendGuard(limits, store=store, fail_mode=fail_mode)


def _context_budget() -> Any:
    raw = _env("LLM_COST_HOOKS_PROXY_CONTEXT_BUDGETS")
    if not raw:
        return None
    from ..budget import ContextBudget

    return ContextBudget(json.loads(raw))


def _prompt_cache() -> Any:
    raw = _env("LLM_COST_HOOKS_PROXY_PROMPT_CACHE")
    if raw.lower() in _OFF:
        return False
    if raw.lower() in _ON:
        return True
    return json.loads(raw)


def _dedup() -> Any:
    raw = _env("LLM_COST_HOOKS_PROXY_DEDUP")
    if raw.lower() in _OFF:
        return None
    ttl = _named(
        "LLM_COST_HOOKS_PROXY_DEDUP_TTL", lambda: float(_env("LLM_COST_HOOKS_PROXY_DEDUP_TTL") or 60)
    )
    if raw.startswith(("redis://", "rediss://", "unix://")):
        from ..dedup import RedisSingleFlight

        return RedisSingleFlight(raw, result_ttl=ttl)
    from ..dedup import SingleFlight

    return SingleFlight(result_ttl=ttl)


def _breaker() -> Any:
    raw = _env("LLM_COST_HOOKS_PROXY_BREAKER")
    if raw.lower() in _OFF:
        return None
    from ..dedup import CircuitBreaker

    return CircuitBreaker(**({} if raw.lower() in _ON else json.loads(raw)))


def _cache() -> Any:
    mode = _env("LLM_COST_HOOKS_PROXY_CACHE").lower()
    if mode in _OFF:
        return None
    if mode not in ("exact", "semantic"):
        raise ValueError(f"LLM_COST_HOOKS_PROXY_CACHE must be off, exact or semantic, got {mode!r}")
    from ._cache import LiteLLMSemanticCache

    where = _env("LLM_COST_HOOKS_PROXY_CACHE_STORE")
    place: dict[str, Any] = (
        {"redis_url": where} if where.startswith(("redis://", "rediss://")) else {"path": where or None}
    )
    return LiteLLMSemanticCache(semantic=mode == "semantic", **place)


class ProxyCostHooksLogger(CostHooksLogger):
    """The logger, plus what only the proxy needs: refusals answered as LiteLLM answers its
    own (status, error body, ``Retry-After``; never a 500) and an optional circuit breaker."""

    def __init__(self, *, breaker: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.breaker = breaker

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: Any, call_type: Any) -> Any:
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

    @staticmethod
    def _model_group(kwargs: Any) -> Any:
        params = kwargs.get("litellm_params") or {}
        md = params.get("metadata") or kwargs.get("metadata") or {}
        return md.get("model_group") or kwargs.get("model")

    @staticmethod
    def _upstream_failure(kwargs: Any, response_obj: Any) -> bool:
        # Only the model's own faults open its circuit: not our refusals, not bad requests.
        error = kwargs.get("exception") or response_obj
        if isinstance(error, LLMCostHooksError) or isinstance(
            getattr(error, "__cause__", None), LLMCostHooksError
        ):
            return False
        status = getattr(error, "status_code", None)
        return not isinstance(status, int) or status >= 500 or status in (408, 429)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        if self.breaker is not None and self._model_group(kwargs):
            self.breaker.record_success(str(self._model_group(kwargs)))
        await super().async_log_success_event(kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        if (
            self.breaker is not None
            and self._model_group(kwargs)
            and self._upstream_failure(kwargs, response_obj)
        ):
            self.breaker.record_failure(str(self._model_group(kwargs)))
        await super().async_log_failure_event(kwargs, response_obj, start_time, end_time)


def _from_environment() -> ProxyCostHooksLogger:
    """A new proxy logger (and our cache as ``litellm.cache`` if asked) from the settings
    above. Each call builds one: the proxy callback is :data:`proxy_handler_instance`."""
    _show_our_logs()
    semantic_cache = _cache()
    if semantic_cache is not None:
        import litellm

        litellm.cache = semantic_cache
    return ProxyCostHooksLogger(
        breaker=_named("LLM_COST_HOOKS_PROXY_BREAKER", _breaker),
        guard=_named("LLM_COST_HOOKS_PROXY_LIMITS", _guard),
        context_budget=_named("LLM_COST_HOOKS_PROXY_CONTEXT_BUDGETS", _context_budget),
        prompt_cache=_named("LLM_COST_HOOKS_PROXY_PROMPT_CACHE", _prompt_cache),
        dedup=_named("LLM_COST_HOOKS_PROXY_DEDUP", _dedup),
        derive_dedup_key=_switch("LLM_COST_HOOKS_PROXY_DEDUP_DERIVE"),
        require_bound_tenant=_switch("LLM_COST_HOOKS_PROXY_REQUIRE_TENANT"),
    )


_built: list[ProxyCostHooksLogger] = []
_building = threading.Lock()


def __getattr__(name: str) -> Any:
    # Built on first use, not at import: importing this module opens no ledger, and the
    # proxy's environment_variables are in place by the time LiteLLM asks for it.
    if name != "proxy_handler_instance":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _building:
        if not _built:
            _built.append(_from_environment())
        return _built[0]
