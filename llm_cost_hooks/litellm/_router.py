"""Our routing strategies on a ``litellm.Router``: its model groups are the tiers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from litellm.types.router import CustomRoutingStrategyBase

from .._errors import ConfigurationError
from ..routing import RouteRequest, RoutingStrategy

__all__ = ["CostAwareRouting"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, Mapping) and isinstance(b.get("text"), str)
        )
    return ""


def route_request(
    messages: Sequence[Mapping[str, Any]] | None, request_kwargs: Mapping[str, Any] | None
) -> RouteRequest:
    """The :class:`~llm_cost_hooks.routing.RouteRequest` of a LiteLLM chat request."""
    msgs = list(messages or [])
    text = "\n".join(_text(m.get("content")) for m in msgs)
    query = next((_text(m.get("content")) for m in reversed(msgs) if m.get("role") == "user"), None)
    kw = request_kwargs or {}
    metadata = kw.get("metadata") if isinstance(kw.get("metadata"), Mapping) else {}
    structured = bool(kw.get("tools") or kw.get("response_format") or kw.get("functions"))
    return RouteRequest(text, metadata or {}, structured=structured, query=query)


class CostAwareRouting(CustomRoutingStrategyBase):
    """Route each request of a ``litellm.Router`` to a model group (tier) chosen by one of
    our strategies (:class:`~llm_cost_hooks.routing.RuleRouter`, ``TrainedRouter``,
    ``BudgetTarget``, ...).

    ``tiers`` are the Router's model-group names, cheapest first. A request for
    ``entry_model`` (default ``"auto"``) is routed; a request naming a group directly goes
    to that group. The decision goes on the call's cost record as tags ``routing.tier`` and
    ``routing.reason`` (through ``metadata["cost_tags"]``).

    >>> import litellm
    >>> from llm_cost_hooks.routing import Rule, RuleRouter
    >>> router = litellm.Router(model_list=[
    ...     {"model_name": "small", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "s"}},
    ...     {"model_name": "large", "litellm_params": {"model": "gpt-4o", "mock_response": "l"}}])
    >>> routing = CostAwareRouting(router, RuleRouter([Rule(tier="small", feature=["faq"])], default="large"),
    ...                            tiers=["small", "large"])
    >>> router.completion(model="auto", messages=[{"role": "user", "content": "hi"}],
    ...                   metadata={"feature": "faq"}).choices[0].message.content
    's'
    """

    def __init__(
        self, router: Any, strategy: RoutingStrategy, tiers: Sequence[str], *, entry_model: str = "auto"
    ) -> None:
        tiers = list(tiers)
        if not tiers:
            raise ConfigurationError(
                "tiers must name at least one model group of the Router, cheapest first."
            )
        groups = set(router.get_model_names())
        missing = [t for t in tiers if t not in groups]
        if missing:
            raise ConfigurationError(
                f"tiers {missing} are not model groups of this Router (its groups: {sorted(groups)})."
            )
        strategy.check_tiers(tiers)
        self.router = router
        self.strategy = strategy
        self.tiers = tiers
        self.entry_model = entry_model
        self._rr = itertools.count()
        self.decisions: dict[str, int] = {t: 0 for t in tiers}
        router.set_custom_routing_strategy(self)

    def _deployment(self, group: str) -> dict[str, Any]:
        deployments = self.router.get_model_list(model_name=group) or []
        if not deployments:
            raise ConfigurationError(f"model group {group!r} has no deployments.")
        return deployments[next(self._rr) % len(deployments)]

    def _pick(self, model: str, messages: Any, request_kwargs: dict[str, Any] | None) -> dict[str, Any]:
        if model != self.entry_model:
            return self._deployment(model)
        decision = self.strategy.route(route_request(messages, request_kwargs), self.tiers)
        self.decisions[decision.tier] = self.decisions.get(decision.tier, 0) + 1
        if request_kwargs is not None:
            md = request_kwargs.get("metadata")
            if not isinstance(md, dict):
                md = request_kwargs["metadata"] = {}
            tags = dict(md.get("cost_tags") or {})
            tags.update({"routing.tier": decision.tier, "routing.reason": decision.reason[:200]})
            md["cost_tags"] = tags
            md["llm_cost_hooks_route"] = json.dumps(decision.as_metadata())
        return self._deployment(decision.tier)

    async def async_get_available_deployment(
        self,
        model: str,
        messages: Any = None,
        input: Any = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict | None = None,
    ) -> Any:
        return self._pick(model, messages, request_kwargs)

    def get_available_deployment(
        self,
        model: str,
        messages: Any = None,
        input: Any = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict | None = None,
    ) -> Any:
        return self._pick(model, messages, request_kwargs)
