"""Wrapped chat models behave like the model they wrap: a provider's own structured-output
method (JSON schema, not only function calling) and tools reach it through GuardedChatModel."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, PrivateAttr

from llm_cost_hooks import ConfigurationError
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import CostCallbackHandler, GuardedChatModel


class Person(BaseModel):
    """A person."""

    name: str
    age: int


class Provider(BaseChatModel):
    """Like ChatOpenAI: bind_tools formats tools, with_structured_output(method="json_schema")
    sends ``response_format``; it answers what it was asked for, with usage."""

    model_name: str = "gpt-4o-mini"
    _calls: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "provider"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self._calls.append(kw)
        if "response_format" in kw:
            msg = AIMessage(content=json.dumps({"name": "Ann", "age": 41}))
        elif kw.get("tools"):
            name = kw["tools"][0]["function"]["name"]
            msg = AIMessage(
                content="", tool_calls=[{"name": name, "args": {"name": "Bo", "age": 7}, "id": "c1"}]
            )
        else:
            msg = AIMessage(content="plain")
        msg.usage_metadata = {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25}
        msg.response_metadata = {"model_name": self.model_name}
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kw: Any) -> Runnable[Any, AIMessage]:
        if tool_choice is not None:
            kw["tool_choice"] = tool_choice
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kw)

    def with_structured_output(  # type: ignore[override]
        self, schema: Any, *, method: str = "function_calling", include_raw: bool = False, **kw: Any
    ) -> Runnable[Any, Any]:
        if method != "json_schema":
            return super().with_structured_output(schema, include_raw=include_raw)
        fmt = {"type": "json_schema", "json_schema": {"name": "Person", "schema": schema.model_json_schema()}}
        llm = self.bind(response_format=fmt)
        parser = PydanticOutputParser(pydantic_object=schema)
        if include_raw:
            return RunnableMap(raw=llm) | RunnablePassthrough.assign(parsed=lambda x: parser.invoke(x["raw"]))
        return llm | parser


def _guarded(inner: BaseChatModel) -> GuardedChatModel:
    return GuardedChatModel(inner=inner, guard=SpendGuard([Limit.usd_per_request(1.0)]))


@pytest.mark.parametrize("include_raw", [False, True])
def test_json_schema_structured_output_is_the_inner_models_own(include_raw: bool) -> None:
    bare, inner = Provider(), Provider()
    handler = CostCallbackHandler(ledger="memory://")
    want = bare.with_structured_output(Person, method="json_schema", include_raw=include_raw).invoke("who?")
    got = (
        _guarded(inner)
        .with_structured_output(Person, method="json_schema", include_raw=include_raw)
        .invoke("who?", config={"callbacks": [handler]})
    )
    parsed = (lambda x: x["parsed"]) if include_raw else (lambda x: x)
    assert parsed(got) == parsed(want) == Person(name="Ann", age=41)
    # the provider got the JSON schema, not a tool call in its place
    assert "response_format" in inner._calls[-1] and "tools" not in inner._calls[-1]
    [record] = handler.records()  # one call, through the guard
    assert (record.model, record.input_tokens, record.output_tokens) == ("gpt-4o-mini", 20, 5)


def test_function_calling_structured_output_and_tool_choice_pass_through() -> None:
    inner = Provider()
    guarded = _guarded(inner)
    assert guarded.with_structured_output(Person).invoke("who?") == Person(name="Bo", age=7)
    assert guarded.bind_tools([Person], tool_choice="Person").invoke("who?").tool_calls[0]["name"] == "Person"
    assert inner._calls[-1]["tool_choice"] == "Person"


class Opaque(Provider):
    """A provider whose structured output calls a model of its own, not this one."""

    def with_structured_output(self, schema: Any, **kw: Any) -> Runnable[Any, Any]:  # type: ignore[override]
        return Provider().with_structured_output(schema, **kw)


def test_structured_output_that_would_skip_the_guard_is_a_typed_error() -> None:
    with pytest.raises(ConfigurationError, match="cannot guard"):
        _guarded(Opaque()).with_structured_output(Person, method="json_schema")
