"""A provider-like chat model: bind_tools formats tools (OpenAI shape), tool_choice and
response_format travel as kwargs, answers carry tool_calls and usage_metadata, streaming
yields tool_call_chunks. Records every call it gets."""

from __future__ import annotations

import json

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel

CALLS: list[dict] = []


class Prov(BaseChatModel):
    model_name: str = "gpt-4o-mini"
    tag: str = ""

    @property
    def _llm_type(self):
        return "prov"

    @property
    def _identifying_params(self):
        return {"model_name": self.model_name}

    def _answer(self, messages, **kw):
        CALLS.append(
            {
                "model": self.model_name,
                "tag": self.tag,
                "kw": {k: v for k, v in kw.items()},
                "n": len(messages),
                "content": messages[-1].content,
            }
        )
        tools = kw.get("tools") or []
        rf = kw.get("response_format")
        last = messages[-1]
        text_in = sum(len(str(m.content)) for m in messages)
        if rf is not None:
            props = rf["json_schema"]["schema"].get("properties", {})
            content = json.dumps({k: ("x" if v.get("type") == "string" else 1) for k, v in props.items()})
            msg = AIMessage(content=content)
        elif tools and not isinstance(last, ToolMessage):
            choice = kw.get("tool_choice")
            fn = tools[0]["function"]
            if isinstance(choice, str) and choice not in ("auto", "any", "required", "none"):
                fn = next(t["function"] for t in tools if t["function"]["name"] == choice)
            elif isinstance(choice, dict):
                fn = next(t["function"] for t in tools if t["function"]["name"] == choice["function"]["name"])
            args = {
                k: ("Paris" if v.get("type") == "string" else 3)
                for k, v in fn["parameters"].get("properties", {}).items()
            }
            msg = AIMessage(
                content="", tool_calls=[{"name": fn["name"], "args": args, "id": f"call_{len(CALLS)}"}]
            )
        elif isinstance(last, ToolMessage):
            msg = AIMessage(content=f"The tool said: {last.content}")
        else:
            msg = AIMessage(content=f"{self.tag or self.model_name} answer #{len(CALLS)}")
        msg.usage_metadata = {
            "input_tokens": 10 + text_in // 4 + 20 * len(tools),
            "output_tokens": 7,
            "total_tokens": 17 + text_in // 4 + 20 * len(tools),
        }
        msg.response_metadata = {
            "model_name": self.model_name,
            "finish_reason": "tool_calls" if msg.tool_calls else "stop",
        }
        return msg

    def _generate(self, messages, stop=None, run_manager=None, **kw):
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages, **kw))])

    def _stream(self, messages, stop=None, run_manager=None, **kw):
        msg = self._answer(messages, **kw)
        if msg.tool_calls:
            for i, tc in enumerate(msg.tool_calls):
                a = json.dumps(tc["args"])
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content="",
                        tool_call_chunks=[{"name": tc["name"], "args": a[:5], "id": tc["id"], "index": i}],
                    )
                )
                yield ChatGenerationChunk(
                    message=AIMessageChunk(
                        content="", tool_call_chunks=[{"name": None, "args": a[5:], "id": None, "index": i}]
                    )
                )
        else:
            for w in str(msg.content).split(" "):
                yield ChatGenerationChunk(message=AIMessageChunk(content=w + " "))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=msg.usage_metadata,
                response_metadata=msg.response_metadata,
                chunk_position="last",
            )
        )

    def bind_tools(self, tools, *, tool_choice=None, **kw):
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kw["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kw)

    def with_structured_output(self, schema, *, method="function_calling", include_raw=False, **kw):
        is_pyd = isinstance(schema, type) and issubclass(schema, BaseModel)
        if method == "json_schema":
            js = schema.model_json_schema() if is_pyd else schema
            name = js.get("title", "schema")
            llm = self.bind(
                response_format={"type": "json_schema", "json_schema": {"name": name, "schema": js}},
                ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
            )
            parser = PydanticOutputParser(pydantic_object=schema) if is_pyd else JsonOutputParser()
        else:
            name = convert_to_openai_tool(schema)["function"]["name"]
            llm = self.bind_tools(
                [schema],
                tool_choice=name,
                ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
            )
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)
                if is_pyd
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        if include_raw:
            pa = RunnablePassthrough.assign(
                parsed=lambda x: parser.invoke(x["raw"]), parsing_error=lambda _: None
            )
            return RunnableMap(raw=llm) | pa
        return llm | parser


class NoTools(Prov):
    """A model that cannot take tools (BaseChatModel's bind_tools)."""

    bind_tools = BaseChatModel.bind_tools
    with_structured_output = BaseChatModel.with_structured_output
