"""A fake chat model that reports realistic usage, for tests, demos and benchmarks; the
replies and their usage are the core's (``tokens._reply``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

if TYPE_CHECKING:
    from ..tokens._reply import ReplyScript

__all__ = ["FakeChatModelWithUsage"]


def stream_message(
    message: AIMessage, run_manager: CallbackManagerForLLMRun | None
) -> Iterator[ChatGenerationChunk]:
    """``message`` streamed word by word (reported to ``run_manager``), then, like OpenAI
    with ``stream_usage``, a last chunk without content carrying its tool calls, usage
    and response metadata."""
    words = message.text.split(" ") if message.text else []
    for i, word in enumerate(words):
        piece = word if i == 0 else " " + word
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece, id=message.id))
        if run_manager:
            run_manager.on_llm_new_token(piece, chunk=chunk)
        yield chunk
    yield ChatGenerationChunk(
        message=message_chunk(message, content="", additional_kwargs={}, chunk_position="last")
    )


def message_chunk(message: BaseMessage, **fields: Any) -> AIMessageChunk:
    """``message`` as one stream chunk, its tool calls as tool-call chunks (``fields``
    replace the message's own)."""
    values: dict[str, Any] = {
        "content": message.content,
        "id": message.id,
        "response_metadata": dict(message.response_metadata or {}),
        "additional_kwargs": dict(message.additional_kwargs or {}),
        "usage_metadata": getattr(message, "usage_metadata", None),
        "tool_call_chunks": tool_chunks(getattr(message, "tool_calls", None) or []),
    }
    return AIMessageChunk(**{**values, **fields})


def tool_chunks(tool_calls: Sequence[Any]) -> list[Any]:
    """A message's tool calls as the tool-call chunks a stream carries."""
    return [
        tool_call_chunk(name=tc["name"], args=json.dumps(tc["args"]), id=tc.get("id"), index=i)
        for i, tc in enumerate(tool_calls)
    ]


class AnswerChatModel(BaseChatModel):
    """A chat model that answers each request with one whole message (:meth:`_reply`),
    streamed word by word by ``stream()``."""

    def _reply(self, messages: list[BaseMessage], stream: bool) -> AIMessage:
        raise NotImplementedError

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, stream=False))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from stream_message(self._reply(messages, stream=True), run_manager)


Responder = Callable[[Sequence[BaseMessage]], "str | AIMessage"]


def _new_script() -> ReplyScript:
    # The token counter loads with the first fake model, not with every adapter import.
    from ..tokens._reply import ReplyScript

    return ReplyScript()


class FakeChatModelWithUsage(AnswerChatModel):
    """Answers from a script and reports the usage a real provider would.

    Prompt and answer tokens are counted with the model's real tokenizer (offline), so
    costs look like a real bill. ``cached_fraction`` reports that share of the prompt
    as cache reads; ``reasoning_tokens`` adds hidden reasoning output. ``errors`` raises
    the given exceptions on the matching calls (``None`` means succeed).

    >>> model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris."])
    >>> model.invoke("Capital of France?").usage_metadata["output_tokens"]
    2
    """

    model_name: str = "gpt-4o-mini"
    provider: str = "openai"
    responses: list[Any] = Field(default_factory=lambda: ["OK."])
    respond: Responder | None = None
    cached_fraction: float = 0.0
    reasoning_tokens: int = 0
    errors: list[BaseException | None] = Field(default_factory=list)
    report_usage: bool = True
    temperature: float | None = None
    max_tokens: int | None = None

    _script: ReplyScript = PrivateAttr(default_factory=_new_script)

    @property
    def _llm_type(self) -> str:
        return "fake-chat-model-with-usage"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.model_name
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        return params

    @property
    def call_count(self) -> int:
        return self._script.calls

    def _reply(self, messages: list[BaseMessage], stream: bool) -> AIMessage:
        """The next reply, with the usage and metadata a provider reports."""
        from ..tokens._reply import reply_usage, usage_metadata

        reply = self._script.next(messages, self.responses, self.respond, self.errors)
        reply = reply.model_copy() if isinstance(reply, AIMessage) else AIMessage(content=str(reply))
        if self.report_usage:
            usage = reply_usage(
                convert_to_openai_messages(list(messages)),
                reply.text if isinstance(reply.content, (str, list)) else str(reply.content),
                self.model_name,
                tool_calls=reply.tool_calls,
                reasoning_tokens=self.reasoning_tokens,
                cached_fraction=self.cached_fraction,
            )
            reply.usage_metadata = cast(UsageMetadata, usage_metadata(usage))
        reply.response_metadata = {
            **reply.response_metadata,
            "model_name": self.model_name,
            "finish_reason": "tool_calls" if reply.tool_calls else "stop",
        }
        if reply.id is None and not stream:
            reply.id = f"chatcmpl-fake-{self._script.calls}"
        return reply

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        # tool_choice too is bound, as a provider sends it: it changes the answer (and its cache key).
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)
