"""Our routing strategies on a ``litellm.Router``: its model groups are the tiers."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from litellm.types.router import CustomRoutingStrategyBase

from .._errors import ConfigurationError
from ..routing import RoutingStrategy
from ..routing._requests import choose, route_request, tag_request

if TYPE_CHECKING:
    from ..routing import ShadowMode

__all__ = ["CostAwareRouting"]


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
        decision, served = choose(
            self.strategy, request, self.tiers, self.serve, self.decisions, self.would_choose
        )
        if request_kwargs is not None:
            pair = self.shadow is not None and not request.structured
            owner = getattr(self.shadow_hook, "hook_id", None)
            tag_request(
                request_kwargs, decision, served, serve_mode=self.serve is not None, pair=pair, owner=owner
            )
        return self._deployment(served)

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
