"""Request transforms applied before a LiteLLM call: context budgets and prompt-cache
breakpoints.

Both hooks of :class:`~llm_cost_hooks.litellm.CostHooksLogger` (the proxy's
``async_pre_call_hook`` and ``async_pre_call_deployment_hook``, which LiteLLM runs for
every ``acompletion`` and ``Router`` call) and the sync wrapper
(:func:`~llm_cost_hooks.litellm.prepared_completion`) call :func:`prepare_request`, so the
three entry points change a request the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._errors import BudgetExceeded, ConfigurationError

__all__ = ["PreparedRequest", "PromptCacheOptions", "prepare_request", "split_model"]

logger = logging.getLogger("llm_cost_hooks")


class PromptCacheOptions(BaseModel):
    """How the LiteLLM hooks place ``cache_control`` breakpoints
    (:func:`~llm_cost_hooks.prompt_cache.add_cache_breakpoints` options).

    ``CostHooksLogger(prompt_cache=True)`` uses the defaults; models that cache on
    their own (OpenAI, Gemini, DeepSeek) are left untouched whatever the options.

    >>> PromptCacheOptions(ttl="1h").ttl
    '1h'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttl: Literal["5m", "1h"] | None = None
    max_breakpoints: int | None = Field(default=None, ge=0)
    min_tokens: int | None = Field(default=None, ge=0)
    cache_documents: bool = True


@dataclass
class PreparedRequest:
    """What :func:`prepare_request` did to one request: the record tags (tokens trimmed
    per segment, output clamp, breakpoints placed) and the underlying results."""

    tags: dict[str, str] = field(default_factory=dict)
    trim: Any = None  # budget.TrimResult
    breakpoints: Any = None  # prompt_cache.BreakpointReport


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


def coerce_prompt_cache(value: Any) -> PromptCacheOptions | None:
    """``prompt_cache=`` of the logger: False/None (off), True (defaults), a dict or options."""
    if value is None or value is False:
        return None
    if value is True:
        return PromptCacheOptions()
    if isinstance(value, PromptCacheOptions):
        return value
    if isinstance(value, Mapping):
        return PromptCacheOptions(**value)
    raise ConfigurationError(
        f"prompt_cache must be True/False, a dict of options or PromptCacheOptions; got {type(value).__name__}."
    )


def _route(metadata: Mapping[str, Any] | None) -> str | None:
    route = (metadata or {}).get("route")
    return None if route is None else str(route)


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
    out = PreparedRequest()
    messages = kwargs.get("messages")
    if not isinstance(messages, list) or not messages:
        return out
    name, provider = split_model(str(model or kwargs.get("model") or ""), kwargs.get("custom_llm_provider"))
    route = _route(metadata)
    covers = getattr(context_budget, "covers", None)
    if context_budget is not None and (covers is None or covers(route)):
        key = "max_completion_tokens" if kwargs.get("max_completion_tokens") is not None else "max_tokens"
        requested = kwargs.get(key)
        try:
            result = context_budget.apply(
                messages,
                route=route,
                max_tokens=int(requested) if requested is not None else None,
                model=name or None,
            )
        except BudgetExceeded:
            raise
        except ConfigurationError as exc:
            # An unknown route / malformed message is the caller's to fix, but never a
            # reason to break the call: send it untrimmed and say why.
            logger.warning("llm-cost-hooks: request not fitted to its context budget: %s", exc)
        else:
            kwargs["messages"] = messages = result.messages
            if result.max_tokens is not None:
                kwargs[key] = result.max_tokens
            out.trim = result
            out.tags.update(result.tags())
    if prompt_cache is not None and name:
        try:
            from ..prompt_cache import add_cache_breakpoints

            tools = kwargs.get("tools")
            new_messages, new_tools, report = add_cache_breakpoints(
                messages,
                tools if isinstance(tools, list) else None,
                name,
                provider=provider,
                ttl=prompt_cache.ttl,
                max_breakpoints=prompt_cache.max_breakpoints,
                min_tokens=prompt_cache.min_tokens,
                cache_documents=prompt_cache.cache_documents,
                price_book=price_book,
            )
        except Exception as exc:
            logger.warning(
                "llm-cost-hooks: prompt-cache breakpoints not placed (%s: %s)", type(exc).__name__, exc
            )
        else:
            out.breakpoints = report
            if report.breakpoints:
                kwargs["messages"] = new_messages
                if new_tools is not None and isinstance(tools, list):
                    kwargs["tools"] = new_tools
                out.tags["prompt_cache.breakpoints"] = ",".join(b.segment for b in report.breakpoints)
                out.tags["prompt_cache.cacheable_tokens"] = str(report.cacheable_tokens)
    return out
