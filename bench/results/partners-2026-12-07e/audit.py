"""Audit: real provider clients (langchain-openai, langchain-anthropic, litellm) against a
local server that answers like the providers; every model call must give one cost record
with the tokens the server reported, the dated model it returned, and the dollars of a
hand computation from LiteLLM's price map.

Run from an empty directory with the wheel installed:  python audit.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import warnings
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import litellm  # noqa: E402
from fake_providers import ANTHROPIC_USAGE, OPENAI_MODELS, OPENAI_USAGE, start  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from llm_cost_hooks.langchain import CostCallbackHandler  # noqa: E402
from llm_cost_hooks.litellm import CostHooksLogger, uninstall  # noqa: E402

URL, _srv = start()
# One event loop for every async case: the clients keep their async HTTP clients across calls.
LOOP = asyncio.new_event_loop()
arun = LOOP.run_until_complete
PM = litellm.model_cost
RESULTS: list[dict[str, Any]] = []


def expect_openai(model: str) -> dict[str, Any]:
    p, c, o, r, ai, ao = OPENAI_USAGE[model]
    e = PM[model]
    usd = (p - c - ai) * e["input_cost_per_token"] + c * e.get(
        "cache_read_input_token_cost", e["input_cost_per_token"]
    )
    usd += ai * e.get("input_cost_per_audio_token", 0) + (o - ao) * e["output_cost_per_token"]
    usd += ao * e.get("output_cost_per_audio_token", 0)
    return {
        "model": model,
        "input": p,
        "output": o,
        "cache_read": c,
        "cache_write": 0,
        "reasoning": r,
        "usd": usd,
    }


def expect_anthropic(model: str, mode: str) -> dict[str, Any]:
    i, w5, w1, rd, o = ANTHROPIC_USAGE[mode]
    e = PM[model]
    usd = (
        i * e["input_cost_per_token"]
        + w5 * e["cache_creation_input_token_cost"]
        + w1 * e["cache_creation_input_token_cost_above_1hr"]
        + rd * e["cache_read_input_token_cost"]
        + o * e["output_cost_per_token"]
    )
    return {
        "model": model,
        "input": i + w5 + w1 + rd,
        "output": o,
        "cache_read": rd,
        "cache_write": w5 + w1,
        "reasoning": 0,
        "usd": usd,
    }


def check(
    label: str, records: list[Any], exp: dict[str, Any] | None, n: int, *, estimated: bool = False
) -> None:
    problems = []
    if len(records) != n:
        problems.append(f"{len(records)} records, expected {n}")
    for rec in records:
        if estimated:
            if not rec.tokens_estimated:
                problems.append(
                    f"not flagged estimated (model={rec.model} in={rec.input_tokens} out={rec.output_tokens} ${rec.cost_usd})"
                )
            if rec.cost_usd <= 0:
                problems.append("estimated at $0")
            continue
        assert exp is not None
        got = {
            "model": rec.model,
            "input": rec.input_tokens,
            "output": rec.output_tokens,
            "cache_read": rec.cache_read_tokens,
            "cache_write": rec.cache_write_tokens,
            "reasoning": rec.reasoning_tokens,
        }
        for k, v in got.items():
            if v != exp[k]:
                problems.append(f"{k}={v!r} expected {exp[k]!r}")
        if abs(rec.cost_usd - exp["usd"]) > 1e-9:
            problems.append(f"usd={rec.cost_usd:.8f} expected {exp['usd']:.8f}")
        if rec.tokens_estimated or rec.price_estimated:
            problems.append(
                f"flags tokens_estimated={rec.tokens_estimated} price_estimated={rec.price_estimated}"
            )
    RESULTS.append(
        {
            "case": label,
            "ok": not problems,
            "problems": sorted(set(problems)),
            "usd": [round(r.cost_usd, 8) for r in records],
        }
    )
    print(
        ("OK   " if not problems else "FAIL ")
        + label
        + ("" if not problems else "  " + "; ".join(sorted(set(problems)))),
        flush=True,
    )


def run(label: str, fn: Any, exp: dict[str, Any] | None, n: int = 1, **kw: Any) -> None:
    handler = CostCallbackHandler(ledger="memory://")
    try:
        fn(handler)
    except Exception as exc:  # a crash is a finding too
        RESULTS.append(
            {"case": label, "ok": False, "problems": [f"raised {type(exc).__name__}: {exc}"[:300]]}
        )
        print(f"FAIL {label}  raised {type(exc).__name__}: {str(exc)[:300]}", flush=True)
        return
    check(label, handler.records(), exp, n, **kw)


class Weather(BaseModel):
    """The weather in a city."""

    city: str
    temperature_c: int


@tool
def get_weather(city: str) -> str:
    """The current weather of a city."""
    return f"21 C and sunny in {city}"


def agent_loop(model: Any, handler: Any, q: Any = "Weather in Paris?") -> None:
    try:
        from langchain.agents import create_agent
    except ImportError:
        create_agent = None
    cfg = {"callbacks": [handler]}
    if create_agent is not None:
        agent = create_agent(model, tools=[get_weather])
        agent.invoke({"messages": q if isinstance(q, list) else [{"role": "user", "content": q}]}, config=cfg)
        return
    bound = model.bind_tools([get_weather])
    msgs: list[Any] = list(q) if isinstance(q, list) else [("user", q)]
    ai = bound.invoke(msgs, config=cfg)
    msgs.append(ai)
    for call in ai.tool_calls:
        msgs.append(get_weather.invoke(call))
    bound.invoke(msgs, config=cfg)


def langchain_cases(
    name: str,
    make: Any,
    exp: dict[str, Any],
    *,
    default_stream_usage: bool = True,
    always_usage: bool = False,
    q: Any = "What is the weather in Paris?",
) -> None:

    def cfg(h: Any) -> dict[str, Any]:
        return {"callbacks": [h]}

    run(f"{name} invoke", lambda h: make().invoke(q, config=cfg(h)), exp)
    run(f"{name} ainvoke", lambda h: arun(make().ainvoke(q, config=cfg(h))), exp)
    # ChatOpenAI with a base_url asks for no stream usage unless stream_usage=True.
    run(
        f"{name} stream (default)",
        lambda h: list(make().stream(q, config=cfg(h))),
        exp if default_stream_usage else None,
        estimated=not default_stream_usage,
    )
    run(
        f"{name} stream stream_usage=True",
        lambda h: list(make(stream_usage=True).stream(q, config=cfg(h))),
        exp,
    )

    async def astream(h: Any) -> None:
        async for _ in make(stream_usage=True).astream(q, config=cfg(h)):
            pass

    run(f"{name} astream stream_usage=True", lambda h: arun(astream(h)), exp)
    run(f"{name} batch x3", lambda h: make().batch([q, q, q], config=cfg(h)), exp, 3)
    # The Responses API reports usage in every stream (response.completed) whatever stream_usage says.
    run(
        f"{name} stream stream_usage=False",
        lambda h: list(make(stream_usage=False).stream(q, config=cfg(h))),
        exp if always_usage else None,
        estimated=not always_usage,
    )
    run(f"{name} agent (2 model calls)", lambda h: agent_loop(make(), h, q), exp, 2)
    run(
        f"{name} with_structured_output",
        lambda h: make().with_structured_output(Weather).invoke(q, config=cfg(h)),
        exp,
    )
    run(f"{name} agent streamed", lambda h: agent_loop(make(streaming=True, stream_usage=True), h, q), exp, 2)


def main() -> None:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        ChatOpenAI = None
    from langchain_anthropic import ChatAnthropic

    if ChatOpenAI is not None:
        for alias in ("gpt-4o", "o4-mini"):
            dated = OPENAI_MODELS[alias]

            def make_oa(alias: str = alias, **kw: Any) -> Any:
                return ChatOpenAI(model=alias, base_url=URL + "/v1", api_key="sk-test", max_retries=0, **kw)

            langchain_cases(f"ChatOpenAI({alias})", make_oa, expect_openai(dated), default_stream_usage=False)

        def make_resp(**kw: Any) -> Any:
            return ChatOpenAI(
                model="gpt-4o",
                base_url=URL + "/v1",
                api_key="sk-test",
                max_retries=0,
                use_responses_api=True,
                **kw,
            )

        langchain_cases(
            "ChatOpenAI(gpt-4o, responses)", make_resp, expect_openai("gpt-4o-2024-08-06"), always_usage=True
        )
        from langchain.chat_models import init_chat_model

        run(
            "init_chat_model(openai:gpt-4o) invoke",
            lambda h: init_chat_model("openai:gpt-4o", base_url=URL + "/v1", api_key="sk-test").invoke(
                "hi", config={"callbacks": [h]}
            ),
            expect_openai("gpt-4o-2024-08-06"),
        )

    def make_an(**kw: Any) -> Any:
        return ChatAnthropic(
            model="claude-sonnet-4-5", base_url=URL, api_key="sk-ant-test", max_retries=0, **kw
        )

    from langchain_core.messages import HumanMessage, SystemMessage

    def cached(*ttls: str | None) -> list[Any]:
        """A request with a cached system prompt: one cache_control marker per TTL."""
        blocks = [
            {
                "type": "text",
                "text": f"Policy part {n}. " * 40,
                "cache_control": {"type": "ephemeral", **({"ttl": t} if t else {})},
            }
            for n, t in enumerate(ttls)
        ]
        return [SystemMessage(content=blocks), HumanMessage(content="What is the weather in Paris?")]

    dated = "claude-sonnet-4-5-20250929"
    for label, ttls, mode in (("5m", (None,), "5m"), ("1h", ("1h",), "1h"), ("1h+5m", ("1h", None), "mixed")):
        langchain_cases(
            f"ChatAnthropic(claude-sonnet-4-5, cache {label})",
            make_an,
            expect_anthropic(dated, mode),
            q=cached(*ttls),
        )

    # -- LiteLLM ------------------------------------------------------------------------
    msgs = [{"role": "user", "content": "What is the weather in Paris?"}]

    def lrun(label: str, fn: Any, exp: dict[str, Any] | None, n: int = 1, **kw: Any) -> None:
        logger = CostHooksLogger(ledger="memory://")
        litellm.callbacks = [logger]
        try:
            fn()
            import time

            time.sleep(0.5)  # success callbacks of streams run on LiteLLM's thread pool
            arun(asyncio.sleep(0.5))  # async success callbacks are tasks on the (idle) loop
        except Exception as exc:
            uninstall(logger)
            print(f"FAIL {label}  raised {type(exc).__name__}: {str(exc)[:300]}", flush=True)
            RESULTS.append(
                {"case": label, "ok": False, "problems": [f"raised {type(exc).__name__}: {str(exc)[:300]}"]}
            )
            return
        logger.flush()
        check(label, logger.records(), exp, n, **kw)
        uninstall(logger)

    oa = {"api_base": URL + "/v1", "api_key": "sk-test"}
    for alias in ("gpt-4o", "o4-mini", "gpt-4o-audio-preview"):
        exp = expect_openai(OPENAI_MODELS[alias])
        m = f"openai/{alias}"
        lrun(f"litellm.completion({m})", lambda: litellm.completion(model=m, messages=msgs, **oa), exp)
        lrun(
            f"litellm.acompletion({m})", lambda: arun(litellm.acompletion(model=m, messages=msgs, **oa)), exp
        )
        lrun(
            f"litellm.completion({m}) stream include_usage",
            lambda: list(
                litellm.completion(
                    model=m, messages=msgs, stream=True, stream_options={"include_usage": True}, **oa
                )
            ),
            exp,
        )

        async def astream(m: str = m) -> None:
            resp = await litellm.acompletion(
                model=m, messages=msgs, stream=True, stream_options={"include_usage": True}, **oa
            )
            async for _ in resp:
                pass

        lrun(f"litellm.acompletion({m}) stream include_usage", lambda: arun(astream()), exp)
        lrun(
            f"litellm.completion({m}) stream no usage (estimated)",
            lambda: list(litellm.completion(model=m, messages=msgs, stream=True, **oa)),
            None,
            estimated=True,
        )
    an = {"api_base": URL, "api_key": "sk-ant-test"}
    exp = expect_anthropic("claude-sonnet-4-5-20250929", "5m")
    m = "anthropic/claude-sonnet-4-5"
    lrun(f"litellm.completion({m})", lambda: litellm.completion(model=m, messages=msgs, **an), exp)
    lrun(f"litellm.acompletion({m})", lambda: arun(litellm.acompletion(model=m, messages=msgs, **an)), exp)
    lrun(
        f"litellm.completion({m}) stream",
        lambda: list(
            litellm.completion(
                model=m, messages=msgs, stream=True, stream_options={"include_usage": True}, **an
            )
        ),
        exp,
    )
    mixed = [
        {"role": "system", "content": [
            {"type": "text", "text": "Policy part 0. " * 40, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "Policy part 1. " * 40, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]  # fmt: skip
    exp_mixed = expect_anthropic("claude-sonnet-4-5-20250929", "mixed")
    lrun(
        f"litellm.completion({m}) cache 1h+5m",
        lambda: litellm.completion(model=m, messages=mixed, **an),
        exp_mixed,
    )
    lrun(f"litellm.completion({m}) cache 1h+5m stream", lambda: list(litellm.completion(
        model=m, messages=mixed, stream=True, **an)), exp_mixed)  # fmt: skip
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    lrun(
        f"litellm.completion({m}) tools",
        lambda: litellm.completion(model=m, messages=msgs, tools=tools, **an),
        exp,
    )
    lrun(
        "litellm.completion(openai/gpt-4o) tools",
        lambda: litellm.completion(model="openai/gpt-4o", messages=msgs, tools=tools, **oa),
        expect_openai("gpt-4o-2024-08-06"),
    )

    failed = [r for r in RESULTS if not r["ok"]]
    print(f"\n{len(RESULTS) - len(failed)}/{len(RESULTS)} cases OK")
    with open(os.environ.get("AUDIT_OUT", "audit_results.json"), "w") as f:
        json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    main()
