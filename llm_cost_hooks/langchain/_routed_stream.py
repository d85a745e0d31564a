"""Streaming a routed call: the chosen tier's chunks pass straight through; on an error
before the first chunk the :class:`~llm_cost_hooks.routing._tiers.StreamPlan` picks the
next tier (a spend-limit downgrade moves to a cheaper one). An answer that must pass
checks first is answered whole and replayed as one chunk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult

from ..routing import RouteDecision
from ._routed_run import prepare_call, tier_config, with_route

if TYPE_CHECKING:
    from ._routed import RoutedChatModel


def as_chunks(result: ChatResult) -> list[ChatGenerationChunk]:
    """A whole answer replayed as one chunk (a stream whose answer had to pass checks)."""
    msg = result.generations[0].message
    chunk = AIMessageChunk(
        content=msg.content,
        id=msg.id,
        response_metadata=dict(msg.response_metadata or {}),
        additional_kwargs=dict(msg.additional_kwargs or {}),
        usage_metadata=getattr(msg, "usage_metadata", None),
        tool_call_chunks=[
            tool_call_chunk(name=tc["name"], args=json.dumps(tc["args"]), id=tc.get("id"), index=i)
            for i, tc in enumerate(getattr(msg, "tool_calls", []) or [])
        ],
    )
    return [ChatGenerationChunk(message=chunk)]


def stream_tiers(
    owner: RoutedChatModel,
    decision: RouteDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    parent: Any,
    notify: Any,
    kwargs: Mapping[str, Any],
) -> Iterator[ChatGenerationChunk]:
    """The chunks of the first tier of the plan that starts answering."""
    plan = owner._plan.stream_plan(decision)
    while (tier := plan.next()) is not None:
        model, msgs, params, _ = prepare_call(owner, tier, kwargs, messages, plan.extras)
        started = False
        try:
            for piece in model.stream(
                msgs, config=tier_config(tier, plan.attempt, parent), stop=stop, **params
            ):
                if not started:
                    started = True
                    piece = with_route(piece, plan.started(tier))
                chunk = ChatGenerationChunk(message=piece)
                if notify:
                    notify.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        except Exception as exc:
            error = plan.failed(tier, exc, started)
            if error is not None:
                raise error from None


async def astream_tiers(
    owner: RoutedChatModel,
    decision: RouteDecision,
    messages: list[BaseMessage],
    stop: list[str] | None,
    parent: Any,
    notify: Any,
    kwargs: Mapping[str, Any],
) -> AsyncIterator[ChatGenerationChunk]:
    """Async :func:`stream_tiers`."""
    plan = owner._plan.stream_plan(decision)
    while (tier := plan.next()) is not None:
        model, msgs, params, _ = prepare_call(owner, tier, kwargs, messages, plan.extras)
        started = False
        try:
            async for piece in model.astream(
                msgs, config=tier_config(tier, plan.attempt, parent), stop=stop, **params
            ):
                if not started:
                    started = True
                    piece = with_route(piece, plan.started(tier))
                chunk = ChatGenerationChunk(message=piece)
                if notify:
                    await notify.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        except Exception as exc:
            error = plan.failed(tier, exc, started)
            if error is not None:
                raise error from None
