"""The llm-cost-hooks logger as a LiteLLM proxy callback.

``config.yaml`` names ``cost_hooks_callback.proxy_handler_instance``; LiteLLM loads this
file from the config's directory. Configuration comes from the environment (or the
config's ``environment_variables:`` block, which the proxy applies before loading this):

* ``LLM_COST_HOOKS_LEDGER`` (and every other ``LLM_COST_HOOKS_*`` setting): where records go.
* ``LLM_COST_HOOKS_PROXY_LIMITS``: optional JSON list of spend limits enforced before each
  request, e.g. ``[{"metric": "usd", "amount": 25, "period": "day", "scope": "tenant"}]``
  (fields of ``llm_cost_hooks.budget.Limit``). A request over budget is rejected with the
  ``BudgetExceeded`` message.
* ``LLM_COST_HOOKS_PROXY_BUDGET_STORE``: ``redis://...`` to share budgets between proxy
  replicas (default: in this process).
* ``LLM_COST_HOOKS_PROXY_CONTEXT_BUDGETS``: optional JSON ``{route: {segment: tokens}}``
  (``"default"`` for every other route; segments ``system``, ``policy``, ``history``,
  ``retrieved``, ``tools``, ``output``): requests are trimmed to their route's budgets
  (``metadata.route``) and ``max_tokens`` is clamped to ``output``.
* ``LLM_COST_HOOKS_PROXY_PROMPT_CACHE``: ``true`` to place prompt-cache breakpoints on
  Anthropic / Bedrock / Vertex Claude requests (or JSON options, e.g. ``{"ttl": "1h"}``).
* ``LLM_COST_HOOKS_PROXY_DEDUP``: ``memory`` (this proxy process) or ``redis://...``
  (all replicas): requests with the same ``metadata.idempotency_key`` share one upstream
  call, and a finished answer is served again for ``LLM_COST_HOOKS_PROXY_DEDUP_TTL``
  seconds (default 60). ``LLM_COST_HOOKS_PROXY_DEDUP_DERIVE=true`` also deduplicates
  byte-identical requests without a key.
"""

import json
import os

from llm_cost_hooks.litellm import CostHooksLogger


def _env(name):
    return os.environ.get(name, "").strip()


def _guard():
    raw = _env("LLM_COST_HOOKS_PROXY_LIMITS")
    if not raw:
        return None
    from llm_cost_hooks.budget import Limit, SpendGuard

    limits = [Limit(**item) for item in json.loads(raw)]
    return SpendGuard(limits, store=_env("LLM_COST_HOOKS_PROXY_BUDGET_STORE") or None)


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


proxy_handler_instance = CostHooksLogger(
    guard=_guard(),
    context_budget=_context_budget(),
    prompt_cache=_prompt_cache(),
    dedup=_dedup(),
    derive_dedup_key=_env("LLM_COST_HOOKS_PROXY_DEDUP_DERIVE").lower() in ("1", "true", "yes", "on"),
)
