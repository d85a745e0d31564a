"""LangChain glue for context budgets (trim messages, a chain step) and for runs: tags on
a run's cost record (:func:`annotate_run`) and a streaming run's own run
(:class:`StreamRunChatModel`). Segment annotations are read from a message's
``additional_kwargs`` (e.g. ``{"segment": "retrieved", "score": 0.82}``) and removed
before the request is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManager, AsyncCallbackManagerForLLMRun, CallbackManager
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    convert_to_messages,
    convert_to_openai_messages,
)
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import ConfigDict

from .._errors import ConfigurationError
from ..budget import ContextBudget, TrimResult
from ..tracking._calls import annotate_run

__all__ = ["ContextBudgetRunnable", "StreamRunChatModel", "annotate_run", "trim_messages"]

_ANNOTATIONS = ("segment", "score")


def _openai_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    dicts = convert_to_openai_messages(list(messages))
    if len(dicts) != len(messages):  # conversion is 1:1 today; be safe if it ever is not
        dicts = [convert_to_openai_messages([m])[0] for m in messages]
    out: list[dict[str, Any]] = []
    for message, d in zip(messages, dicts):
        d = dict(d)
        for key in _ANNOTATIONS:
            value = message.additional_kwargs.get(key, message.response_metadata.get(key))
            if value is not None:
                d[key] = value
        out.append(d)
    return out


def _strip(message: BaseMessage, content: Any = None) -> BaseMessage:
    update: dict[str, Any] = {}
    if any(k in message.additional_kwargs for k in _ANNOTATIONS):
        update["additional_kwargs"] = {
            k: v for k, v in message.additional_kwargs.items() if k not in _ANNOTATIONS
        }
    if content is not None:
        update["content"] = content
    return message.model_copy(update=update) if update else message


def trim_messages(
    budget: ContextBudget,
    messages: Sequence[BaseMessage],
    *,
    route: str | None = None,
    max_tokens: int | None = None,
    model: str | None = None,
) -> tuple[list[BaseMessage], TrimResult]:
    """Apply a :class:`ContextBudget` to LangChain messages; returns the kept messages
    (cut ones copied with their new content) and the :class:`TrimResult`.

    >>> from langchain_core.messages import HumanMessage, SystemMessage
    >>> from llm_cost_hooks.budget import SegmentBudgets
    >>> msgs, result = trim_messages(ContextBudget(SegmentBudgets(output=100)),
    ...     [SystemMessage("Be brief."), HumanMessage("hi")], max_tokens=900)
    >>> len(msgs), result.max_tokens
    (2, 100)
    """
    result = budget.apply(_openai_dicts(messages), route=route, max_tokens=max_tokens, model=model)
    out = [_strip(messages[i], result.replaced.get(i)) for i in result.kept]
    for position, added in sorted(result.inserted.items()):  # the compact facts message
        out.insert(position, convert_to_messages([added])[0])
    return out, result


def to_messages(value: Any, owner: str) -> list[BaseMessage]:
    """A chain step's input (a prompt value, a string, a message or a list of messages) as
    messages; ``owner`` names the step in the error for anything else."""
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, str):
        return [HumanMessage(value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, Sequence):
        return convert_to_messages(value)
    raise ConfigurationError(
        f"{owner} takes a prompt value, a string or a list of messages; got {type(value).__name__}."
    )


class ContextBudgetRunnable(RunnableSerializable[LanguageModelInput, list[BaseMessage]]):
    """A chain step that fits the messages into a :class:`ContextBudget` and tags the
    enclosing run (``budget.trimmed.<segment>``). ``step | chat_model`` returns a
    ``GuardedChatModel``, which also clamps ``max_tokens`` (see docs/budgets.md).

    >>> from llm_cost_hooks.budget import SegmentBudgets
    >>> step = ContextBudgetRunnable(budget=ContextBudget(SegmentBudgets(history=20)))
    >>> [m.content for m in step.invoke([("human", "an old question " * 10), ("ai", "ok"), ("human", "new?")])]
    ['new?']
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    budget: ContextBudget
    route: str | None = None
    model: str | None = None

    def _trim(self, value: LanguageModelInput, run_manager: Any, config: RunnableConfig) -> list[BaseMessage]:
        route = (config.get("metadata") or {}).get("route") or self.route
        messages, result = trim_messages(
            self.budget, to_messages(value, "ContextBudgetRunnable"), route=route, model=self.model
        )
        tags = result.tags()
        if tags and run_manager is not None:
            annotate_run(run_manager, tags)
            if run_manager.parent_run_id is not None:
                annotate_run(run_manager, tags, run_manager.parent_run_id)
        return messages

    def invoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        return self._call_with_config(self._trim, input, config, run_type="chain")

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[BaseMessage]:
        return self.invoke(input, config, **kwargs)  # CPU only, well under a millisecond

    def __or__(self, other: Any) -> Any:
        if isinstance(other, BaseChatModel):
            from ._budget import GuardedChatModel

            return GuardedChatModel(inner=other, context_budget=self.budget, route=self.route)
        return super().__or__(other)


# -- a stream's run ------------------------------------------------------------------------
# LangChain's stream()/astream() do not hand _stream a run manager. The chat models that
# need their run while streaming (its metadata, its id for record tags and child runs) set
# the run id in advance and pass this stand-in through the call's kwargs.
STREAM_KEY = "_llm_cost_hooks_stream_run"


class StreamRun:
    """What ``_stream`` needs of its run when LangChain's ``stream()`` passes no run
    manager: the run's metadata, its id, the handlers (for record tags) and callbacks for
    child runs."""

    __slots__ = (
        "async_",
        "config",
        "handlers",
        "inheritable_handlers",
        "metadata",
        "parent_run_id",
        "run_id",
    )

    def __init__(
        self, config: RunnableConfig, metadata: Mapping[str, Any], handlers: list[Any], async_: bool
    ) -> None:
        self.config = config
        self.run_id = config["run_id"]
        self.metadata = metadata
        self.handlers = handlers
        self.inheritable_handlers: list[Any] = []
        self.parent_run_id = None
        self.async_ = async_

    def __repr__(self) -> str:  # it travels in the call's kwargs (and so its invocation params)
        return f"<stream run {self.run_id}>"


def child_manager(run: Any) -> Any:
    """Callbacks for a child run of a model run, or of a stream's :class:`StreamRun` (LLM
    run managers have no get_child(); this mirrors ParentRunManager.get_child)."""
    if isinstance(run, StreamRun):
        cls = AsyncCallbackManager if run.async_ else CallbackManager
        config = run.config
        manager = cls.configure(
            config.get("callbacks"), None, False, config.get("tags"), None, config.get("metadata"), None
        )
        manager.parent_run_id = run.run_id
        return manager
    cls = AsyncCallbackManager if isinstance(run, AsyncCallbackManagerForLLMRun) else CallbackManager
    manager = cls(handlers=[], parent_run_id=run.run_id)
    manager.set_handlers(run.inheritable_handlers)
    manager.add_tags(run.inheritable_tags)
    manager.add_metadata(run.inheritable_metadata)
    return manager


def stream_run(
    model: BaseChatModel, config: RunnableConfig | None, async_: bool
) -> tuple[RunnableConfig, StreamRun]:
    import uuid

    from langchain_core.runnables.config import ensure_config

    out = ensure_config(config)  # a fresh dict: ours to change
    out["run_id"] = out.get("run_id") or uuid.uuid4()  # the run LangChain starts gets this id
    callbacks = out.get("callbacks")
    handlers = (
        list(callbacks)
        if isinstance(callbacks, list)
        else [
            *(getattr(callbacks, "handlers", None) or []),
            *(getattr(callbacks, "inheritable_handlers", None) or []),
        ]
    )
    if isinstance(model.callbacks, list):
        handlers += model.callbacks
    metadata = {**(model.metadata or {}), **(out.get("metadata") or {})}
    return out, StreamRun(out.copy(), metadata, handlers, async_)


class StreamRunChatModel(BaseChatModel):
    """A chat model whose ``_stream`` / ``_astream`` find their run (:class:`StreamRun`)
    in ``kwargs[STREAM_KEY]`` when called through ``stream()`` / ``astream()``."""

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        config, kwargs[STREAM_KEY] = stream_run(self, config, async_=False)
        yield from super().stream(input, config, stop=stop, **kwargs)

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        config, kwargs[STREAM_KEY] = stream_run(self, config, async_=True)
        async for chunk in super().astream(input, config, stop=stop, **kwargs):
            yield chunk

    @staticmethod
    def _run_of(run_manager: Any, kwargs: dict[str, Any]) -> Any:
        """The run of a ``_stream`` call (its manager, else the stand-in), taken out of kwargs."""
        shim = kwargs.pop(STREAM_KEY, None)
        return run_manager if run_manager is not None else shim
