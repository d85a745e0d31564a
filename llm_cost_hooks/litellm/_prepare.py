"""Request transforms applied before a LiteLLM call: context budgets and prompt-cache
breakpoints.

Both hooks of :class:`~llm_cost_hooks.litellm.CostHooksLogger` (the proxy's
``async_pre_call_hook`` and ``async_pre_call_deployment_hook``, which LiteLLM runs for
every ``acompletion`` and ``Router`` call) and its sync ``completion`` call
:func:`prepare_request`, so the three entry points change a request the same way. The
work itself is the core's (``llm_cost_hooks.budget._requests``); this module adds
LiteLLM's provider prefixes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..budget._requests import PreparedRequest, PromptCacheOptions, coerce_prompt_cache, fit_request

__all__ = ["PreparedRequest", "PromptCacheOptions", "coerce_prompt_cache", "prepare_request", "split_model"]


def split_model(model: str, provider: str | None = None) -> tuple[str, str | None]:
    """``("claude-sonnet-4-5", "anthropic")`` from ``"anthropic/claude-sonnet-4-5"``;
    the name unchanged when it has no known provider prefix.

    >>> split_model("anthropic/claude-sonnet-4-5")
    ('claude-sonnet-4-5', 'anthropic')
    """
    if "/" in model:
        head, tail = model.split("/", 1)
        if head == provider:
            return tail, provider
        if provider is None:
            import litellm

            if head in litellm.provider_list:
                return tail, head
    return model, provider


def prepare_request(
    kwargs: dict[str, Any],
    *,
    model: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    context_budget: Any = None,
    prompt_cache: PromptCacheOptions | None = None,
    price_book: Any = None,
) -> PreparedRequest:
    """Fit ``kwargs`` (a LiteLLM ``completion`` request, changed in place) into the
    route's :class:`~llm_cost_hooks.budget.ContextBudget` (messages trimmed,
    ``max_tokens`` clamped to the output budget) and then place prompt-cache breakpoints
    on the trimmed request for models that need them.

    ``model`` is the model the request goes to (the proxy's deployment model, which may
    differ from ``kwargs["model"]``, a model-group name); the route comes from
    ``metadata["route"]``; a route without budgets (and no default) is left alone.
    Context-budget errors (``oversize="raise"``) propagate; a
    failure of the breakpoint placement is logged and the request goes out unmarked.

    >>> from llm_cost_hooks.budget import ContextBudget, SegmentBudgets
    >>> req = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 900}
    >>> prepare_request(req, context_budget=ContextBudget(SegmentBudgets(output=100))).tags
    {'budget.output.clamped_from': '900', 'budget.output.max_tokens': '100'}
    >>> req["max_tokens"]
    100
    """
    messages = kwargs.get("messages")
    if not isinstance(messages, list) or not messages:
        return PreparedRequest()
    name, provider = split_model(str(model or kwargs.get("model") or ""), kwargs.get("custom_llm_provider"))
    return fit_request(
        kwargs,
        name,
        provider,
        metadata=metadata,
        context_budget=context_budget,
        prompt_cache=prompt_cache,
        price_book=price_book,
    )
