"""LangChain adapter of provider prompt caching: a chain step that marks the stable
prefix with ``cache_control`` blocks (docs/prompt-caching.md); the planner is the core's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from .._errors import ConfigurationError
from ..prompt_cache._placement import (
    BreakpointOptions,
    BreakpointReport,
    MessageView,
    anthropic_tools,
    message_view,
)
from ._context import to_messages

__all__ = ["PromptCacheBreakpoints", "add_breakpoints_to_messages", "anthropic_tools_with_cache"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool", "function": "tool"}


def _view(message: BaseMessage) -> MessageView:
    tool_calls = [dict(tc) for tc in getattr(message, "tool_calls", None) or []]
    role = _ROLES.get(message.type, getattr(message, "role", "user"))
    return message_view({"role": role, "content": message.content, "tool_calls": tool_calls})


def anthropic_tools_with_cache(
    tools: Sequence[Any], *, ttl: Literal["5m", "1h"] | None = None, mark: bool = True
) -> list[dict[str, Any]]:
    """Tools as Anthropic tool dicts, the last one carrying a ``cache_control`` mark:
    ``ChatAnthropic(...).bind_tools(anthropic_tools_with_cache(tools))``.

    >>> def lookup(order_id: str) -> str:
    ...     '''Look an order up.'''
    ...     return ""
    >>> anthropic_tools_with_cache([lookup])[-1]["cache_control"]
    {'type': 'ephemeral'}
    """
    from langchain_core.utils.function_calling import convert_to_openai_tool

    return anthropic_tools(tools, lambda tool: convert_to_openai_tool(tool)["function"], ttl=ttl, mark=mark)


def add_breakpoints_to_messages(
    messages: Sequence[BaseMessage],
    model: str,
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
    provider: str | None = None,
    ttl: Literal["5m", "1h"] | None = None,
    max_breakpoints: int | None = None,
    min_tokens: int | None = None,
    cache_documents: bool = True,
    price_book: Any = None,
) -> tuple[list[BaseMessage], BreakpointReport]:
    """LangChain messages with breakpoints for ``model``, plus the report. ``tools``: the
    request's Anthropic-format tool dicts (one already marked uses up a breakpoint).

    >>> from langchain_core.messages import SystemMessage, HumanMessage
    >>> msgs, report = add_breakpoints_to_messages(
    ...     [SystemMessage("Policy. " * 800), HumanMessage("hi")], "claude-sonnet-4-5")
    >>> msgs[0].content[0]["cache_control"], msgs[1].content
    ({'type': 'ephemeral'}, 'hi')
    """
    options = BreakpointOptions(
        model, provider, ttl, max_breakpoints, min_tokens, cache_documents, price_book
    )
    return place_breakpoints(options, messages, tools)


def place_breakpoints(
    options: BreakpointOptions, messages: Sequence[BaseMessage], tools: Sequence[Mapping[str, Any]] | None
) -> tuple[list[BaseMessage], BreakpointReport]:
    """``messages`` with the breakpoints ``options`` place, and the report."""
    plan = options.plan([_view(m) for m in messages], tools)
    out = list(messages)
    for i, content in options.marked(plan, [m.content for m in messages]).items():
        out[i] = out[i].model_copy(update={"content": content})
    return out, plan.report


class PromptCacheBreakpoints(Runnable[Any, list[BaseMessage]]):
    """A chain step that places prompt-cache breakpoints for ``model`` (put it between the
    prompt and the chat model; ``tools`` and ``on_report``: docs/prompt-caching.md).

    >>> from langchain_core.prompts import ChatPromptTemplate
    >>> prompt = ChatPromptTemplate.from_messages([("system", "Policy. " * 800), ("human", "{q}")])
    >>> chain = prompt | PromptCacheBreakpoints(model="claude-sonnet-4-5")
    >>> chain.invoke({"q": "hi"})[0].content[0]["cache_control"]
    {'type': 'ephemeral'}
    """

    def __init__(
        self,
        model: str,
        *,
        provider: str | None = None,
        tools: Sequence[Any] | None = None,
        ttl: Literal["5m", "1h"] | None = None,
        max_breakpoints: int | None = None,
        min_tokens: int | None = None,
        cache_documents: bool = True,
        price_book: Any = None,
        on_report: Callable[[BreakpointReport], None] | None = None,
    ) -> None:
        options = BreakpointOptions(
            model, provider, ttl, max_breakpoints, min_tokens, cache_documents, price_book
        )
        self.options = options.checked("PromptCacheBreakpoints")
        self.on_report = on_report
        # Anthropic tool dicts, the last one marked when the tools alone are worth a breakpoint.
        self.tools: list[dict[str, Any]] = (
            options.tools(anthropic_tools_with_cache(tools, mark=False)) if tools else []
        )

    def __getattr__(self, name: str) -> Any:
        # The options read as the step's own attributes (step.model, step.ttl, ...).
        options = self.__dict__.get("options")
        if options is not None and name in BreakpointOptions.__dataclass_fields__:
            return getattr(options, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def bind_tools(self, chat_model: Any, **kwargs: Any) -> Runnable[Any, Any]:
        """``chat_model.bind_tools(...)`` with this step's tools (cache-marked when worth it)."""
        if not self.tools:
            raise ConfigurationError("PromptCacheBreakpoints(tools=[...]) was created without tools.")
        bound: Runnable[Any, Any] = chat_model.bind_tools(self.tools, **kwargs)
        return bound

    def _place(self, value: Any) -> list[BaseMessage]:
        out, report = place_breakpoints(
            self.options, to_messages(value, "PromptCacheBreakpoints"), self.tools
        )
        if self.on_report is not None:
            self.on_report(report)
        return out

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> list[BaseMessage]:
        return self._call_with_config(self._place, input, config, run_type="prompt")

    async def _aplace(self, value: Any) -> list[BaseMessage]:
        return self._place(value)

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        # Pure CPU work of microseconds: no executor hop.
        return await self._acall_with_config(self._aplace, input, config, run_type="prompt")
