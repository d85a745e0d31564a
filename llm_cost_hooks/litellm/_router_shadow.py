"""Shadow mode of :class:`~llm_cost_hooks.litellm.CostAwareRouting`: after a routed call
succeeds, a budgeted share of requests also asks another tier through the same Router;
the user's judge scores both answers and the pair goes to the
:class:`~llm_cost_hooks.routing.ShadowStore` outcome table."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litellm.integrations.custom_logger import CustomLogger

from .._errors import ConfigurationError, UnknownModelError
from ..routing._requests import PAIR_KEY, plan_shadow, route_request, wants_shadow
from ._state import in_callbacks, registry_id
from ._usage import output_text, usage_from_litellm

if TYPE_CHECKING:
    from ..routing import ShadowMode
    from ._router import CostAwareRouting


def attach_shadow_hook(routing: CostAwareRouting, shadow: ShadowMode, price_book: Any) -> ShadowHook:
    """Check ``shadow`` against the routing's tiers and register its hook in
    ``litellm.callbacks``."""
    import litellm

    from ..routing import ShadowMode

    if not isinstance(shadow, ShadowMode):
        raise ConfigurationError(
            f"shadow must be a llm_cost_hooks.routing.ShadowMode, got {type(shadow).__name__}."
        )
    if shadow.tier is not None and shadow.tier not in routing.tiers:
        raise ConfigurationError(f"ShadowMode tier {shadow.tier!r} is not one of the tiers {routing.tiers}.")
    hook = ShadowHook(routing, shadow, price_book)
    if isinstance(litellm.callbacks, list):
        litellm.callbacks.append(hook)
    else:
        litellm.callbacks = [hook]
    return hook


class ShadowHook(CustomLogger):
    """The LiteLLM success callback that makes the shadow call and records the pair."""

    def __init__(self, routing: CostAwareRouting, shadow: ShadowMode, price_book: Any) -> None:
        super().__init__()
        self.routing = routing
        self.shadow = shadow
        self.price_book = price_book
        self._seen: deque[str] = deque(maxlen=4096)  # call ids handled (sync and async events)
        self._lock = threading.Lock()
        # Unique per hook (see registry_id): without it, a second routing's hook would
        # never be added to LiteLLM's internal lists and that routing would shadow nothing.
        self.hook_id = registry_id(self)
        self._listed = False  # seen in litellm.callbacks (see _detached)

    def _detached(self) -> bool:
        """True once the hook was taken out of ``litellm.callbacks``: LiteLLM still calls
        it from its internal lists, but the documented way to stop shadowing must stop it."""
        if in_callbacks(self):
            self._listed = True
            return False
        return self._listed

    # -- which requests, which tier -------------------------------------------------------------
    def _job(self, kwargs: Mapping[str, Any], response: Any) -> dict[str, Any] | None:
        lp = kwargs.get("litellm_params") or {}
        md = lp.get("metadata") if isinstance(lp.get("metadata"), Mapping) else None
        if md is None or not wants_shadow(md):
            return None
        owner = md[PAIR_KEY].get("owner")
        if owner is not None and owner != self.hook_id:
            return None  # routed by another CostAwareRouting: its own hook shadows it
        call_id = str(kwargs.get("litellm_call_id") or id(response))
        with self._lock:
            if call_id in self._seen:
                return None
            self._seen.append(call_id)
        return plan_shadow(md, kwargs.get("messages"), response, self.shadow, self.routing.tiers)

    def _call(self, job: Mapping[str, Any]) -> dict[str, Any]:
        return {"model": job["other"], "messages": job["messages"], "metadata": dict(job["metadata"])}

    # -- litellm callbacks ---------------------------------------------------------------------
    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        job = self._safe_job(kwargs, response_obj)
        if job is None:
            return
        try:
            out = self.routing.router.completion(**self._call(job))
        except Exception as exc:
            self.shadow.call_failed(job["other"], exc)
            return
        self._record(job, out)

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        job = self._safe_job(kwargs, response_obj)
        if job is None:
            return
        try:
            out = await self.routing.router.acompletion(**self._call(job))
        except Exception as exc:
            self.shadow.call_failed(job["other"], exc)
            return
        self._record(job, out)

    def _safe_job(self, kwargs: Any, response: Any) -> dict[str, Any] | None:
        try:
            if self._detached():
                return None
            return self._job(kwargs or {}, response)
        except Exception as exc:  # a malformed event must never surface in the user's call
            self.shadow.call_failed("?", exc)
            return None

    # -- the judged pair -------------------------------------------------------------------------
    def _model_of(self, tier: str) -> str | None:
        deployments = self.routing.router.get_model_list(model_name=tier) or []
        return (deployments[0].get("litellm_params") or {}).get("model") if deployments else None

    def _cost(self, tier: str, response: Any) -> float:
        """Dollars of one call: the price book's price of the tier's model, else LiteLLM's."""
        usage = usage_from_litellm(getattr(response, "usage", None))
        model = self._model_of(tier)
        if usage is not None and model:
            from ..pricing import PriceBook

            try:
                return float((self.price_book or PriceBook.default()).cost(usage, model).total)
            except UnknownModelError:
                pass
        hidden = getattr(response, "_hidden_params", None) or {}
        return float(hidden.get("response_cost") or 0.0)

    def _record(self, job: Mapping[str, Any], out: Any) -> None:
        served, other = job["served"], job["other"]
        try:
            request = route_request(job["messages"], None)
            answers = {served: output_text(job["answer"]), other: output_text(out)}
            costs = {served: self._cost(served, job["answer"]), other: self._cost(other, out)}
            models = {t: self._model_of(t) for t in answers}
        except Exception as exc:
            self.shadow.call_failed(other, exc)
            return
        # A shadow call LiteLLM's cache answered was billed nothing; ``costs`` keeps the
        # tier's price, which is what the router learns from.
        hit = bool((getattr(out, "_hidden_params", None) or {}).get("cache_hit"))
        self.shadow.record(
            request.query or request.text,
            request.context,
            answers,
            costs,
            models,
            explored=other,
            spent_usd=0.0 if hit else None,
        )
