"""Audit: OpenAI service tiers (flex, priority) through the real clients (langchain-openai
Chat Completions and Responses, litellm) against a local server that answers like OpenAI
(``fake_providers.py``: the response's ``service_tier`` is the tier asked for). Every model
call must give one cost record with the server's tokens and the dollars of a hand
computation from LiteLLM's price map (each rate at its ``*_<tier>`` key, else the standard
key, as LiteLLM's cost calculator does); a tier the map has no rates for is billed at the
standard rates and flagged ``price_estimated``. LiteLLM's own price of the same call
(``response_cost``, or ``litellm.cost_per_token(..., service_tier=...)`` for LangChain
calls) is printed beside it.

Run from an empty directory with the wheel installed:  python audit.py [table.md]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import warnings
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import litellm  # noqa: E402
from fake_providers import ANTHROPIC_USAGE, OPENAI_MODELS, OPENAI_USAGE, start  # noqa: E402
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

from llm_cost_hooks.langchain import CostCallbackHandler  # noqa: E402
from llm_cost_hooks.litellm import CostHooksLogger, uninstall  # noqa: E402

URL, _srv = start()
LOOP = asyncio.new_event_loop()
arun = LOOP.run_until_complete
PM = litellm.model_cost
ROWS: list[dict[str, Any]] = []


def rate(entry: dict[str, Any], key: str, tier: str | None) -> float:
    if tier and f"{key}_{tier}" in entry:
        return float(entry[f"{key}_{tier}"])
    return float(entry[key])


def expect(model: str, tier: str | None) -> dict[str, Any]:
    """The provider's rule by hand: uncached input, cache reads, output (reasoning inside
    it, billed at the output rate: these models have no reasoning rate of their own)."""
    p, c, o, r, _, _ = OPENAI_USAGE[model]
    e = PM[model]
    priced = tier is None or f"input_cost_per_token_{tier}" in e
    usd = (
        (p - c) * rate(e, "input_cost_per_token", tier)
        + c * rate(e, "cache_read_input_token_cost", tier)
        + o * rate(e, "output_cost_per_token", tier)
    )
    how = (
        f"{p - c} x ${rate(e, 'input_cost_per_token', tier) * 1e6:g}/M + {c} cached x "
        f"${rate(e, 'cache_read_input_token_cost', tier) * 1e6:g}/M + {o} out ({r} reasoning) x "
        f"${rate(e, 'output_cost_per_token', tier) * 1e6:g}/M"
    )
    return {"model": model, "input": p, "output": o, "cache_read": c, "reasoning": r, "usd": usd,
            "estimated": not priced, "how": how}  # fmt: skip


def expect_anthropic(mode: str, estimated: bool = False) -> dict[str, Any]:
    """Claude Sonnet 4.5 with cache writes split by lifetime; ``estimated``: a LangChain
    stream, whose usage has no split: the writes at the 5-minute rate, flagged."""
    i, w5, w1, rd, o = ANTHROPIC_USAGE[mode]
    model = "claude-sonnet-4-5-20250929"
    e = PM[model]
    if estimated:
        w5, w1 = w5 + w1, 0
    usd = (i * e["input_cost_per_token"] + w5 * e["cache_creation_input_token_cost"]
           + w1 * e["cache_creation_input_token_cost_above_1hr"] + rd * e["cache_read_input_token_cost"]
           + o * e["output_cost_per_token"])  # fmt: skip
    how = (f"{i} x $3/M + {w5} 5m writes x $3.75/M + {w1} 1h writes x $6/M + {rd} cached x $0.30/M"
           f" + {o} out x $15/M")  # fmt: skip
    return {"model": model, "input": i + w5 + w1 + rd, "output": o, "cache_read": rd, "reasoning": 0,
            "usd": usd, "estimated": estimated, "how": how}  # fmt: skip


def litellm_price(model: str, tier: str | None) -> float:
    p, c, o, r, _, _ = OPENAI_USAGE[model]
    usage = litellm.Usage(
        prompt_tokens=p,
        completion_tokens=o,
        total_tokens=p + o,
        prompt_tokens_details={"cached_tokens": c},
        completion_tokens_details={"reasoning_tokens": r},
    )
    return float(sum(litellm.cost_per_token(model=model, usage_object=usage, service_tier=tier)))


def check(label: str, records: list[Any], exp: dict[str, Any], n: int, theirs: list[float]) -> None:
    problems: list[str] = []
    if len(records) != n:
        problems.append(f"{len(records)} records, expected {n}")
    for rec in records:
        got = {"model": rec.model, "input": rec.input_tokens, "output": rec.output_tokens,
               "cache_read": rec.cache_read_tokens, "reasoning": rec.reasoning_tokens}  # fmt: skip
        problems += [f"{k}={v!r} expected {exp[k]!r}" for k, v in got.items() if v != exp[k]]
        if abs(rec.cost_usd - exp["usd"]) > 1e-9:
            problems.append(f"usd={rec.cost_usd:.8f} expected {exp['usd']:.8f}")
        if rec.tokens_estimated or rec.price_estimated != exp["estimated"]:
            problems.append(f"price_estimated={rec.price_estimated} expected {exp['estimated']}")
    ours = sorted({round(r.cost_usd, 9) for r in records})
    ROWS.append({"case": label, "ok": not problems, "problems": sorted(set(problems)), "ours": ours,
                 "theirs": sorted({round(t, 9) for t in theirs}), "exp": exp,
                 "tags": sorted({r.tags.get("service_tier", "-") for r in records})})  # fmt: skip
    print(
        ("OK   " if not problems else "FAIL ")
        + label
        + ("" if not problems else "  " + "; ".join(sorted(set(problems)))),
        flush=True,
    )


def lc(label: str, fn: Any, exp: dict[str, Any], n: int = 1, theirs: list[float] | None = None) -> None:
    handler = CostCallbackHandler(ledger="memory://")
    try:
        fn(handler)
    except Exception as exc:
        ROWS.append({"case": label, "ok": False, "problems": [f"raised {type(exc).__name__}: {exc}"[:200]]})
        print(f"FAIL {label} raised {exc!r}"[:300], flush=True)
        return
    if theirs is None:
        tier = label.split("tier=")[1].split(")")[0]
        theirs = [litellm_price(exp["model"], None if tier == "default" else tier)]
    check(label, handler.records(), exp, n, theirs)


class Costs(CustomLogger):  # LiteLLM's own price of each call it logs
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        if kwargs.get("response_cost") is not None and (
            not kwargs.get("stream")
            or kwargs.get("complete_streaming_response")
            or kwargs.get("async_complete_streaming_response")
        ):
            self.seen.append(kwargs["response_cost"])

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self.log_success_event(kwargs, response_obj, start_time, end_time)


COSTS = Costs()  # one: LiteLLM keeps the first logger of a class it was given


def ll(label: str, fn: Any, exp: dict[str, Any]) -> None:
    logger, costs = CostHooksLogger(ledger="memory://"), COSTS
    costs.seen = []
    litellm.callbacks = [logger, costs]
    try:
        fn()
        time.sleep(0.5)  # stream success callbacks run on LiteLLM's thread pool
        arun(asyncio.sleep(0.5))
    except Exception as exc:
        uninstall(logger)
        ROWS.append({"case": label, "ok": False, "problems": [f"raised {type(exc).__name__}: {exc}"[:200]]})
        print(f"FAIL {label} raised {exc!r}"[:300], flush=True)
        return
    logger.flush()
    check(label, logger.records(), exp, 1, costs.seen)
    uninstall(logger)
    litellm.callbacks = []


def main() -> None:
    from langchain_openai import ChatOpenAI

    q = "What is the weather in Paris?"
    for alias in ("gpt-5", "o4-mini", "gpt-4o"):
        dated = OPENAI_MODELS[alias]
        for tier in ("flex", "priority", "default"):
            exp = expect(dated, None if tier == "default" else tier)

            def make(alias: str = alias, tier: str = tier, **kw: Any) -> Any:
                return ChatOpenAI(model=alias, base_url=URL + "/v1", api_key="sk-test", max_retries=0,
                                  service_tier=tier, **kw)  # fmt: skip

            def cfg(h: Any) -> dict[str, Any]:
                return {"callbacks": [h]}

            async def astream(h: Any, make: Any = make) -> None:
                async for _ in make(stream_usage=True).astream(q, config=cfg(h)):
                    pass

            name = f"ChatOpenAI({alias}, tier={tier})"
            lc(f"{name} invoke", lambda h, make=make: make().invoke(q, config=cfg(h)), exp)
            lc(f"{name} ainvoke", lambda h, make=make: arun(make().ainvoke(q, config=cfg(h))), exp)
            lc(
                f"{name} stream",
                lambda h, make=make: list(make(stream_usage=True).stream(q, config=cfg(h))),
                exp,
            )
            lc(f"{name} astream", lambda h, astream=astream: arun(astream(h)), exp)
            if alias == "gpt-5":
                lc(f"ChatOpenAI({alias}, responses, tier={tier}) invoke",
                   lambda h, make=make: make(use_responses_api=True).invoke(q, config=cfg(h)), exp)  # fmt: skip
                lc(f"ChatOpenAI({alias}, responses, tier={tier}) stream",
                   lambda h, make=make: list(make(use_responses_api=True).stream(q, config=cfg(h))), exp)  # fmt: skip

            msgs = [{"role": "user", "content": q}]
            oa = {"api_base": URL + "/v1", "api_key": "sk-test", "service_tier": tier}
            m = f"openai/{alias}"
            lname = f"litellm {m} tier={tier}"

            def sync_stream(m: str = m, oa: dict[str, Any] = oa) -> None:
                for _ in litellm.completion(model=m, messages=msgs, stream=True,
                                            stream_options={"include_usage": True}, **oa):  # fmt: skip
                    pass

            async def async_stream(m: str = m, oa: dict[str, Any] = oa) -> None:
                resp = await litellm.acompletion(model=m, messages=msgs, stream=True,
                                                 stream_options={"include_usage": True}, **oa)  # fmt: skip
                async for _ in resp:
                    pass

            ll(
                f"{lname} completion",
                lambda m=m, oa=oa: litellm.completion(model=m, messages=msgs, **oa),
                exp,
            )
            ll(
                f"{lname} acompletion",
                lambda m=m, oa=oa: arun(litellm.acompletion(model=m, messages=msgs, **oa)),
                exp,
            )
            ll(f"{lname} stream", sync_stream, exp)
            ll(f"{lname} astream", lambda async_stream=async_stream: arun(async_stream()), exp)

    # Anthropic: one request mixing 1-hour and 5-minute cache markers.
    from langchain_anthropic import ChatAnthropic
    from langchain_core.messages import HumanMessage, SystemMessage

    blocks = [{"type": "text", "text": f"Policy part {n}. " * 40,
               "cache_control": {"type": "ephemeral", **({"ttl": t} if t else {})}}
              for n, t in enumerate(("1h", None))]  # fmt: skip
    mixed = [SystemMessage(content=blocks), HumanMessage(content=q)]
    exact = expect_anthropic("mixed")

    def make_an(**kw: Any) -> Any:
        return ChatAnthropic(
            model="claude-sonnet-4-5", base_url=URL, api_key="sk-ant-test", max_retries=0, **kw
        )

    lc("ChatAnthropic(claude-sonnet-4-5, 1h+5m markers) invoke",
       lambda h: make_an().invoke(mixed, config={"callbacks": [h]}), exact, theirs=[])  # fmt: skip
    lc("ChatAnthropic(claude-sonnet-4-5, 1h+5m markers) stream",
       lambda h: list(make_an().stream(mixed, config={"callbacks": [h]})),
       expect_anthropic("mixed", estimated=True), theirs=[])  # fmt: skip
    lmixed = [{"role": "system", "content": blocks}, {"role": "user", "content": q}]
    an = {"api_base": URL, "api_key": "sk-ant-test"}

    def an_stream() -> None:
        for _ in litellm.completion(model="anthropic/claude-sonnet-4-5", messages=lmixed, stream=True, **an):
            pass

    ll("litellm anthropic/claude-sonnet-4-5 1h+5m markers completion",
       lambda: litellm.completion(model="anthropic/claude-sonnet-4-5", messages=lmixed, **an), exact)  # fmt: skip
    ll("litellm anthropic/claude-sonnet-4-5 1h+5m markers stream", an_stream, exact)

    ok = sum(r["ok"] for r in ROWS)
    print(f"\n{ok}/{len(ROWS)} cases right")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as out:
            out.write(
                "| case | ours ($) | LiteLLM ($) | hand ($) | hand computation | price_estimated expected | record tag service_tier | result |\n"
            )
            out.write("|---|---|---|---|---|---|---|---|\n")
            for r in ROWS:
                exp = r.get("exp") or {}
                out.write(
                    f"| {r['case']} | {', '.join(f'{x:.9f}' for x in r.get('ours', []))} | "
                    f"{', '.join(f'{x:.9f}' for x in r.get('theirs', []))} | "
                    f"{exp.get('usd', 0):.9f} | {exp.get('how', '')} | {exp.get('estimated', '')} | "
                    f"{', '.join(r.get('tags', []))} | {'OK' if r['ok'] else 'FAIL: ' + '; '.join(r['problems'])} |\n"
                )


if __name__ == "__main__":
    main()
