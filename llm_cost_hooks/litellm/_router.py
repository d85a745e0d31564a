"""Our routing strategies on a ``litellm.Router``: its model groups are the tiers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from litellm.types.router import CustomRoutingStrategyBase

from .._errors import ConfigurationError
from ..routing import RouteDecision, RouteRequest, RoutingStrategy

if TYPE_CHECKING:
    from ..routing import ShadowMode

__all__ = ["CostAwareRouting"]

#: Request metadata our hook reads back after the call (what was served, what was chosen).
PAIR_KEY = "llm_cost_hooks_shadow_pair"


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
    texts = [_text(m.get("content")) for m in msgs]
    last = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i].get("role") == "user"), None)
    kw = request_kwargs or {}
    metadata = kw.get("metadata") if isinstance(kw.get("metadata"), Mapping) else {}
    structured = bool(kw.get("tools") or kw.get("response_format") or kw.get("functions"))
    return RouteRequest(
        "\n".join(texts),
        metadata or {},
        structured=structured,
        query=None if last is None else texts[last],
        context=texts[last - 1] if last is not None and last > 0 else None,
    )


class CostAwareRouting(CustomRoutingStrategyBase):
    """Route each request of a ``litellm.Router`` to a model group (tier) chosen by one of
    our strategies (:class:`~llm_cost_hooks.routing.RuleRouter`, ``TrainedRouter``,
    ``BudgetTarget``, ...).

    ``tiers`` are the Router's model-group names, cheapest first. A request for
    ``entry_model`` (default ``"auto"``) is routed; a request naming a group directly goes
    to that group. The decision goes on the call's cost record as tags ``routing.tier`` and
    ``routing.reason`` (through ``metadata["cost_tags"]``).

    Shadow mode, to learn from your own traffic before the router serves it:

    * ``serve="large"`` serves every routed request from that tier and records what the
      strategy would have chosen: tag ``routing.would_choose`` on the cost record, counts
      in :attr:`would_choose`.
    * ``shadow=ShadowMode(judge, store=LEDGER_FILE)``: after a routed call succeeds, a
      budgeted share of requests also asks another tier (the strategy's choice when it
      differs from the tier served, else :meth:`ShadowMode.pick`'s), the judge scores both
      answers and the pair goes to the outcome table for ``llm-cost route train
      --from-ledger``. The extra call runs after the user's answer is returned, through
      this Router, as its own task on route ``shadow:<tier>``, so its spend shows apart.
      Requests with tools or structured output are not shadowed. This registers a hook in
      ``litellm.callbacks`` (:attr:`shadow_hook`).

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
        self,
        router: Any,
        strategy: RoutingStrategy,
        tiers: Sequence[str],
        *,
        entry_model: str = "auto",
        serve: str | None = None,
        shadow: ShadowMode | None = None,
        price_book: Any = None,
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
        if not isinstance(strategy, RoutingStrategy):
            raise ConfigurationError(
                f"strategy must be a llm_cost_hooks.routing strategy, got {type(strategy).__name__}."
            )
        strategy.check_tiers(tiers)
        if serve is not None and serve not in tiers:
            raise ConfigurationError(f"serve={serve!r} is not one of the tiers {tiers}.")
        self.router = router
        self.strategy = strategy
        self.tiers = tiers
        self.entry_model = entry_model
        self.serve = serve
        self._rr = itertools.count()
        self.decisions: dict[str, int] = {t: 0 for t in tiers}
        #: what the strategy chose per tier while ``serve`` answered (shadow mode)
        self.would_choose: dict[str, int] = {t: 0 for t in tiers}
        self.shadow = shadow
        self.shadow_hook: Any = None
        if shadow is not None:
            from ._router_shadow import attach_shadow_hook

            self.shadow_hook = attach_shadow_hook(self, shadow, price_book)
        router.set_custom_routing_strategy(self)

    def _deployment(self, group: str) -> dict[str, Any]:
        deployments = self.router.get_model_list(model_name=group) or []
        if not deployments:
            raise ConfigurationError(f"model group {group!r} has no deployments.")
        return deployments[next(self._rr) % len(deployments)]  # type: ignore[no-any-return]

    def _pick(self, model: str, messages: Any, request_kwargs: dict[str, Any] | None) -> dict[str, Any]:
        if model != self.entry_model:
            return self._deployment(model)
        request = route_request(messages, request_kwargs)
        decision = self.strategy.route(request, self.tiers)
        served = self.serve or decision.tier
        self.decisions[served] = self.decisions.get(served, 0) + 1
        if self.serve is not None:
            self.would_choose[decision.tier] = self.would_choose.get(decision.tier, 0) + 1
        if request_kwargs is not None:
            self._tag(request_kwargs, decision, served, request.structured)
        return self._deployment(served)

    def _tag(
        self, request_kwargs: dict[str, Any], decision: RouteDecision, served: str, structured: bool
    ) -> None:
        md = request_kwargs.get("metadata")
        if not isinstance(md, dict):
            md = request_kwargs["metadata"] = {}
        tags = dict(md.get("cost_tags") or {})
        if served == decision.tier and self.serve is None:
            tags.update({"routing.tier": served, "routing.reason": decision.reason[:200]})
        else:
            tags.update(
                {
                    "routing.tier": served,
                    "routing.reason": f"serve:{served}",
                    "routing.would_choose": decision.tier,
                    "routing.would_reason": decision.reason[:200],
                }
            )
        md["cost_tags"] = tags
        route = decision.as_metadata() if self.serve is None else {**decision.as_metadata(), "served": served}
        md["llm_cost_hooks_route"] = json.dumps(route)
        if self.shadow is not None and not structured:
            md[PAIR_KEY] = {"served": served, "choice": decision.tier}

    async def async_get_available_deployment(
        self,
        model: str,
        messages: Any = None,
        input: Any = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict | None = None,  # type: ignore[type-arg]
    ) -> Any:
        return self._pick(model, messages, request_kwargs)

    def get_available_deployment(
        self,
        model: str,
        messages: Any = None,
        input: Any = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict | None = None,  # type: ignore[type-arg]
    ) -> Any:
        return self._pick(model, messages, request_kwargs)
