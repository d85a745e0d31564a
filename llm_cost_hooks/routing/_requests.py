"""Routing an OpenAI-shaped chat request (``messages``, ``tools``, ``metadata``) over tiers,
framework-free: the request a strategy reads, the decision counted and written into the
request's metadata (record tags, route, the shadow pair), and the shadow call planned from
it. The LiteLLM ``Router`` strategy drives these with its model groups as the tiers."""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from ._run import request_of
from ._strategies import RouteDecision, RouteRequest, RoutingStrategy

if TYPE_CHECKING:
    from ._shadow import ShadowMode

__all__ = [
    "PAIR_KEY",
    "SHADOW_CALL_KEY",
    "choose",
    "plan_shadow",
    "route_request",
    "tag_request",
    "wants_shadow",
]

#: Request metadata read back after the call (what was served, what was chosen).
PAIR_KEY = "llm_cost_hooks_shadow_pair"
#: Metadata of a shadow call itself: it is never shadowed again.
SHADOW_CALL_KEY = "llm_cost_hooks_shadow_call"
# The attribution a shadow call keeps of the user's call. Not the task or idempotency key
# (it is its own task; a key would hand it the user's deduplicated answer) nor a router's
# own keys (deployment, model group, retries).
_COPIED = ("tenant_id", "user_id", "feature", "prompt_version")


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
    """The :class:`~llm_cost_hooks.routing.RouteRequest` of a chat request."""
    msgs = list(messages or [])
    texts = [_text(m.get("content")) for m in msgs]
    last = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i].get("role") == "user"), None)
    kw = request_kwargs or {}
    metadata = kw.get("metadata") if isinstance(kw.get("metadata"), Mapping) else {}
    structured = bool(kw.get("tools") or kw.get("response_format") or kw.get("functions"))
    return request_of(texts, last, metadata, structured=structured)


def choose(
    strategy: RoutingStrategy,
    request: RouteRequest,
    tiers: list[str],
    serve: str | None,
    decisions: dict[str, int],
    would_choose: dict[str, int],
) -> tuple[RouteDecision, str]:
    """The strategy's decision and the tier that serves (``serve`` in shadow mode), counted
    in ``decisions`` (served) and ``would_choose`` (chosen while ``serve`` answered)."""
    decision = strategy.route(request, tiers)
    served = serve or decision.tier
    decisions[served] = decisions.get(served, 0) + 1
    if serve is not None:
        would_choose[decision.tier] = would_choose.get(decision.tier, 0) + 1
    return decision, served


def tag_request(
    request_kwargs: MutableMapping[str, Any],
    decision: RouteDecision,
    served: str,
    *,
    serve_mode: bool,
    pair: bool,
    owner: str | None = None,
) -> None:
    """Write the decision into the request's metadata: record tags (``routing.tier``,
    ``routing.reason``, and what the strategy would have chosen when another tier served),
    the route, and with ``pair`` the served / chosen pair a shadow hook reads back
    (``owner``: that hook's id, so another routing's hook leaves the request alone)."""
    md = request_kwargs.get("metadata")
    if not isinstance(md, dict):
        md = request_kwargs["metadata"] = {}
    tags = dict(md.get("cost_tags") or {})
    if served == decision.tier and not serve_mode:
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
    route = decision.as_metadata() if not serve_mode else {**decision.as_metadata(), "served": served}
    md["llm_cost_hooks_route"] = json.dumps(route)
    if pair:
        md[PAIR_KEY] = {"served": served, "choice": decision.tier, "owner": owner}


def wants_shadow(md: Mapping[str, Any] | None) -> bool:
    """True for the metadata of a routed request with a shadow pair (not a shadow call)."""
    if not md:
        return False
    return not md.get(SHADOW_CALL_KEY) and isinstance(md.get(PAIR_KEY), Mapping)


def plan_shadow(
    md: Mapping[str, Any], messages: Any, answer: Any, shadow: ShadowMode, tiers: list[str]
) -> dict[str, Any] | None:
    """The shadow call of a served request (``md``: its metadata), or None: the other tier
    (the strategy's choice when another tier served, else :meth:`ShadowMode.pick`'s), the
    messages to replay and the shadow call's own metadata (route ``shadow:<tier>``).
    ``md`` passed :func:`wants_shadow`."""
    if not isinstance(messages, list) or not messages:
        return None  # messages redacted from callbacks: nothing to replay
    pair = md[PAIR_KEY]
    served, choice = str(pair["served"]), str(pair["choice"])
    other = shadow.pick(served, tiers)
    if other is not None and shadow.tier is None and choice != served:
        other = choice  # what the router would have served: the most telling comparison
    if other is None:
        return None
    metadata = {k: md[k] for k in _COPIED if k in md}
    metadata.update(
        {
            "route": f"shadow:{other}",
            SHADOW_CALL_KEY: True,
            "cost_tags": {"routing.tier": other, "routing.reason": f"shadow of {served}"},
        }
    )
    return {"messages": messages, "served": served, "other": other, "answer": answer, "metadata": metadata}
