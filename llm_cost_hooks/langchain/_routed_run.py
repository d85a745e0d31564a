"""LangChain run plumbing of :class:`~llm_cost_hooks.langchain.RoutedChatModel`: tier
calls as child runs of the router's run (also when streaming: its :class:`StreamRun`), LangChain messages read
into the routing core's request and :class:`~llm_cost_hooks.routing.Answer`, and each
tier's call prepared (tools, structured output, prompt-cache breakpoints)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable, RunnableConfig

from .._records import TokenUsage
from ..routing import Answer, RouteRequest
from ..routing._run import RoutedRun, request_of, tier_answer
from ..routing._tiers import CallExtras, tier_bound, tier_params
from ..tracking._usage import model_name_of, usage_of_message
from ._callback import ROUTE_MARKER_KEY
from ._context import child_manager
from ._fake import message_chunk

if TYPE_CHECKING:
    from ._routed import RoutedChatModel

TOOLS_KW = "_llm_cost_hooks_tools"
STRUCT_KW = "_llm_cost_hooks_structured"
PARSED_KEY = "llm_cost_hooks_parsed"


def message_text(message: BaseMessage) -> str:
    try:
        return message.text if isinstance(message.text, str) else str(message.text())
    except Exception:  # content blocks a text() of this langchain_core cannot read
        return str(message.content)


def route_request(
    messages: Sequence[BaseMessage], metadata: Mapping[str, Any] | None, *, structured: bool
) -> RouteRequest:
    """What a strategy sees of these messages (see :func:`~llm_cost_hooks.routing._run.request_of`)."""
    last = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)), None)
    return request_of([message_text(m) for m in messages], last, metadata, structured=structured)


def read_answer(message: Any) -> tuple[str, TokenUsage | None]:
    """A tier's answer as shadow mode's judge reads it: its text and usage."""
    return message_text(message), usage_of_message(message)


def child_config(run: Mapping[str, Any], run_manager: Any) -> RunnableConfig:
    """The config of a child run of ``run_manager``'s run (``run``: its metadata, name, tags)."""
    config = cast(RunnableConfig, dict(run))
    if run_manager is not None:
        config["callbacks"] = child_manager(run_manager)
    return config


def answer_of(
    tier: str, out: Any, structured: bool, params: Mapping[str, Any], run: RoutedRun
) -> tuple[AIMessage, Answer]:
    """A tier's output as the message to return and the :class:`Answer` the checks read
    (structured output: the raw message, with the parsed value kept beside it)."""
    pair = None
    message = out
    if structured:
        message = out["raw"].model_copy()
        pair = (out.get("parsed"), out.get("parsing_error"))
        parsed_payload = {"parsed": pair[0], "parsing_error": pair[1]}
        message.additional_kwargs = {**message.additional_kwargs, PARSED_KEY: parsed_payload}
    answer = tier_answer(
        tier,
        message_text(message),
        message,
        response_metadata=message.response_metadata,
        tool_calls=getattr(message, "tool_calls", None) or [],
        params=params,
        structured=pair,
        request=run.request.query,
    )
    return message, answer


def with_route(message: Any, route: Mapping[str, Any]) -> Any:
    """A copy of ``message`` (or chunk) carrying the route metadata."""
    message = message.model_copy()
    message.response_metadata = {**(message.response_metadata or {}), ROUTE_MARKER_KEY: dict(route)}
    return message


def prepare_call(
    owner: RoutedChatModel,
    tier: str,
    kwargs: Mapping[str, Any],
    messages: list[BaseMessage],
    extras: CallExtras,
) -> tuple[Runnable[Any, Any], list[BaseMessage], dict[str, Any], Any]:
    """(runnable to call, messages to send, call kwargs, structured-output schema) for one
    call of ``tier``: the router's defaults under call-time kwargs, tools and structured
    output bound to the tier, prompt-cache breakpoints placed for its model."""
    defaults = {"temperature": owner.temperature, "max_tokens": owner.max_tokens}
    params, (tools, structured) = tier_params(kwargs, defaults, TOOLS_KW, STRUCT_KW)
    base = owner.tiers[tier]
    if structured is not None and params:
        # with_structured_output returns a chain that takes no call kwargs: set the
        # parameters the tier declares as fields on a copy of it instead.
        fields = type(base).model_fields
        base = base.model_copy(update={k: v for k, v in params.items() if k in fields})
        model: Runnable[Any, Any] = owner._wrap(tier, base)
    else:
        model = owner._guarded.get(tier, base)
    chat: Any = model
    if tools is not None:
        model = tier_bound(tier, "tools", lambda: chat.bind_tools(tools[0], **tools[1]))
    schema = structured[0] if structured is not None else None
    if structured is not None:
        build = chat.with_structured_output
        model = tier_bound(
            tier, "structured output", lambda: build(schema, include_raw=True, **structured[1])
        )
        params = {}
    if owner.prompt_cache:
        messages = _place_breakpoints(owner, tier, messages, tools, extras)
    return model, messages, params, schema


def _place_breakpoints(
    owner: RoutedChatModel, tier: str, messages: list[BaseMessage], tools: Any, extras: CallExtras
) -> list[BaseMessage]:
    """Provider prompt-cache breakpoints for the chosen tier's model (none for providers
    that cache implicitly). A failure here never breaks the call."""
    options = dict(owner.prompt_cache) if isinstance(owner.prompt_cache, Mapping) else {}
    name, provider = model_name_of(owner.tiers[tier])

    def place() -> tuple[list[BaseMessage], Any]:
        from ..prompt_cache._placement import BreakpointOptions
        from ._prompt_cache import anthropic_tools_with_cache, place_breakpoints

        tool_dicts = anthropic_tools_with_cache(tools[0], mark=False) if tools else None
        return place_breakpoints(BreakpointOptions(name, provider, **options), messages, tool_dicts)

    return extras.place(tier, name, place, messages)


def as_chunks(result: ChatResult) -> list[AIMessageChunk]:
    """A whole answer replayed as one chunk (a stream whose answer had to pass checks)."""
    return [message_chunk(result.generations[0].message)]
