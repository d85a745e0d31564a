"""The llm-cost-hooks logger as a LiteLLM proxy callback.

``config.yaml`` names ``cost_hooks_callback.proxy_handler_instance``; LiteLLM loads this
file from the config's directory. Configuration comes from the environment:

* ``LLM_COST_HOOKS_LEDGER`` (and every other ``LLM_COST_HOOKS_*`` setting): where records go.
* ``LLM_COST_HOOKS_PROXY_LIMITS``: optional JSON list of spend limits enforced before each
  request, e.g. ``[{"metric": "usd", "amount": 25, "period": "day", "scope": "tenant"}]``
  (fields of ``llm_cost_hooks.budget.Limit``). A request over budget is rejected with the
  ``BudgetExceeded`` message.
* ``LLM_COST_HOOKS_PROXY_BUDGET_STORE``: ``redis://...`` to share budgets between proxy
  replicas (default: in this process).
"""

import json
import os

from llm_cost_hooks.litellm import CostHooksLogger


def _guard():
    raw = os.environ.get("LLM_COST_HOOKS_PROXY_LIMITS", "").strip()
    if not raw:
        return None
    from llm_cost_hooks.budget import Limit, SpendGuard

    limits = [Limit(**item) for item in json.loads(raw)]
    return SpendGuard(limits, store=os.environ.get("LLM_COST_HOOKS_PROXY_BUDGET_STORE") or None)


proxy_handler_instance = CostHooksLogger(guard=_guard())
