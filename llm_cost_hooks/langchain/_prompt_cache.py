"""LangChain adapter of provider prompt caching: a chain step that marks the stable
prefix with ``cache_control`` blocks (docs/prompt-caching.md); the planner is the core's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from .._errors import ConfigurationError
from ..prompt_cache import resolve_cache_rule
from ..prompt_cache._placement import (
    BreakpointReport,
    MessageView,
    _cache_control,
    anthropic_tool,
    marked_content,
    message_view,
    plan_breakpoints,
    tools_worth_marking,
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
    """Tools as Anthropic tool dicts, the last one carrying a ``cache_control`` mark.

    langchain-anthropic passes Anthropic-format tool dicts through unchanged (OpenAI-format
    ones lose extra keys), so this is how a tool-prefix breakpoint reaches the API:
    ``ChatAnthropic(...).bind_tools(anthropic_tools_with_cache(tools))``.

    >>> def lookup(order_id: str) -> str:
    ...     '''Look an order up.'''
    ...     return ""
    >>> anthropic_tools_with_cache([lookup])[-1]["cache_control"]
    {'type': 'ephemeral'}
    """
    from langchain_core.utils.function_calling import convert_to_openai_tool

    out: list[dict[str, Any]] = []
    for tool in tools:
        if isinstance(tool, Mapping) and {"name", "input_schema"} <= set(tool):
            out.append({k: v for k, v in tool.items() if k != "cache_control"})
            continue
        out.append(anthropic_tool(convert_to_openai_tool(tool)["function"]))
    if out and mark:
        out[-1]["cache_control"] = _cache_control(ttl)
    return out


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
    """LangChain messages with breakpoints for ``model``, plus the report.

    ``tools`` are the request's tool dicts (Anthropic format; a tool already carrying
    ``cache_control`` uses up one of the provider's breakpoints). This is the hook a
    router calls once it knows which model a request goes to.

    >>> from langchain_core.messages import SystemMessage, HumanMessage
    >>> msgs, report = add_breakpoints_to_messages(
    ...     [SystemMessage("Policy. " * 800), HumanMessage("hi")], "claude-sonnet-4-5")
    >>> msgs[0].content[0]["cache_control"], msgs[1].content
    ({'type': 'ephemeral'}, 'hi')
    """
    views = [_view(m) for m in messages]
    plan = plan_breakpoints(
        views,
        list(tools or []),
        model,
        provider=provider,
        price_book=price_book,
        max_breakpoints=max_breakpoints,
        min_tokens=min_tokens,
        cache_documents=cache_documents,
    )
    out = list(messages)
    cc = _cache_control(ttl)
    for block in plan.marks:
        if block.location != "messages":
            continue  # tool marks travel with the bound tools, not the messages
        message = out[block.index]
        new_content = marked_content(message.content, block.content_index, cc)
        out[block.index] = message.model_copy(update={"content": new_content})
    return out, plan.report


class PromptCacheBreakpoints(Runnable[Any, list[BaseMessage]]):
    """A chain step that places prompt-cache breakpoints for ``model``.

    Put it between the prompt and the chat model. ``tools`` (the tools you bind) are
    counted as the first segment of the prefix; when they alone reach the model's
    minimum cacheable length, :meth:`bind_tools` binds them with a breakpoint on the last
    one, and the step leaves one breakpoint fewer for the messages. ``on_report`` is
    called with each request's :class:`~llm_cost_hooks.prompt_cache.BreakpointReport`.

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
        if not isinstance(model, str) or not model:
            raise ConfigurationError(
                "PromptCacheBreakpoints needs model='<the chat model's name>', e.g. 'claude-sonnet-4-5'."
            )
        if ttl not in (None, "5m", "1h"):
            raise ConfigurationError(f"ttl must be '5m' or '1h', got {ttl!r}.")
        self.model = model
        self.provider = provider
        self.ttl = ttl
        self.max_breakpoints = max_breakpoints
        self.min_tokens = min_tokens
        self.cache_documents = cache_documents
        self.price_book = price_book
        self.on_report = on_report
        self.rule = resolve_cache_rule(model, provider, price_book=price_book)
        self.tools: list[dict[str, Any]] = []
        if tools:
            plain = anthropic_tools_with_cache(tools, mark=False)
            mark = tools_worth_marking(plain, model, self.rule, min_tokens)
            self.tools = anthropic_tools_with_cache(tools, ttl=ttl, mark=mark)

    @property
    def InputType(self) -> Any:
        return Any

    @property
    def OutputType(self) -> Any:
        return list[BaseMessage]

    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return name or "PromptCacheBreakpoints" + (suffix or "")

    def bind_tools(self, chat_model: Any, **kwargs: Any) -> Runnable[Any, Any]:
        """``chat_model.bind_tools(...)`` with this step's tools (cache-marked when worth it)."""
        if not self.tools:
            raise ConfigurationError("PromptCacheBreakpoints(tools=[...]) was created without tools.")
        bound: Runnable[Any, Any] = chat_model.bind_tools(self.tools, **kwargs)
        return bound

    def _place(self, value: Any) -> list[BaseMessage]:
        messages = to_messages(value, "PromptCacheBreakpoints")
        out, report = add_breakpoints_to_messages(
            messages,
            self.model,
            tools=self.tools,
            provider=self.provider,
            ttl=self.ttl,
            max_breakpoints=self.max_breakpoints,
            min_tokens=self.min_tokens,
            cache_documents=self.cache_documents,
            price_book=self.price_book,
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
