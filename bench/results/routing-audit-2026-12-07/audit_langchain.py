"""Routing and guards driven from outside: LangChain calls through RoutedChatModel and
GuardedChatModel, each checked for its cost records and its failure behaviour.

Run from the repository root:
    PYTHONPATH=$PWD LITELLM_LOCAL_MODEL_COST_MAP=True python bench/results/routing-audit-2026-12-07/audit_langchain.py
Prints one line per check (ok / FAIL) and exits 1 if any failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatResult
from pydantic import BaseModel

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, RoutedChatModel
from llm_cost_hooks.routing import (
    Cascade,
    HashingEmbedder,
    OutcomeDataset,
    Rule,
    RuleRouter,
    ShadowMode,
    TrainedRouter,
    train_router,
)

RESULTS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: Any = "") -> None:
    RESULTS.append((name, bool(ok), str(detail)))
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f"  -- {detail}"))


def run(name: str, fn: Any) -> None:
    try:
        fn()
    except Exception as exc:  # the check itself crashed: a finding
        check(name, False, f"raised {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")


class RateLimitError(Exception):
    pass


class BadRequestError(Exception):
    pass


class Failing(BaseChatModel):
    """A tier whose every call raises ``exc`` (what a provider outage looks like)."""

    model_name: str = "gpt-4o-mini"
    exc: Any = None

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        raise self.exc


def tiers(small: str = "Paris.", large: str = "Paris!") -> dict[str, Any]:
    return {
        "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[small]),
        "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=[large]),
    }


def records(h: CostCallbackHandler) -> list[Any]:
    return list(h.records())


def cfg(h: CostCallbackHandler, **md: Any) -> dict[str, Any]:
    return {"callbacks": [h], "metadata": md}


# -- one record per call, with the tier that answered ------------------------------------
def plain_calls() -> None:
    llm = RoutedChatModel(
        tiers=tiers(), strategy=RuleRouter([Rule(tier="large", keywords=["prove"])], default="small")
    )
    for mode in ("invoke", "ainvoke", "stream", "astream", "batch", "abatch"):
        h = CostCallbackHandler(ledger="memory://")
        q = "Prove it." if mode in ("stream", "abatch") else "Capital?"
        want = "large" if q.startswith("Prove") else "small"
        if mode == "invoke":
            llm.invoke(q, config=cfg(h))
            n = 1
        elif mode == "ainvoke":
            asyncio.run(llm.ainvoke(q, config=cfg(h)))
            n = 1
        elif mode == "stream":
            list(llm.stream(q, config=cfg(h)))
            n = 1
        elif mode == "astream":

            async def go() -> None:
                async for _ in llm.astream(q, config=cfg(h)):
                    pass

            asyncio.run(go())
            n = 1
        elif mode == "batch":
            llm.batch([q, q, q], config=cfg(h))
            n = 3
        else:
            asyncio.run(llm.abatch([q, q], config=cfg(h)))
            n = 2
        rs = records(h)
        check(
            f"{mode}: {n} record(s), route={want}",
            len(rs) == n and all(r.route == want for r in rs),
            [(r.model, r.route, r.cost_usd) for r in rs],
        )
        check(
            f"{mode}: records priced",
            all(r.cost_usd > 0 and r.input_tokens > 0 for r in rs),
            [(r.cost_usd, r.input_tokens) for r in rs],
        )


def cascade_records() -> None:
    llm = RoutedChatModel(tiers=tiers(small="I'm sorry, but I can't help with that."), strategy=Cascade())
    for mode in ("invoke", "ainvoke", "stream", "astream"):
        h = CostCallbackHandler(ledger="memory://")
        if mode == "invoke":
            msg = llm.invoke("Capital?", config=cfg(h))
        elif mode == "ainvoke":
            msg = asyncio.run(llm.ainvoke("Capital?", config=cfg(h)))
        elif mode == "stream":
            msg = None
            for c in llm.stream("Capital?", config=cfg(h)):
                msg = c if msg is None else msg + c
        else:

            async def go() -> Any:
                out = None
                async for c in llm.astream("Capital?", config=cfg(h)):
                    out = c if out is None else out + c
                return out

            msg = asyncio.run(go())
        rs = records(h)
        check(
            f"cascade {mode}: one record per tier, attempts 1,2",
            [(r.route, r.attempt) for r in rs] == [("small", 1), ("large", 2)],
            [(r.route, r.attempt) for r in rs],
        )
        check(f"cascade {mode}: answer from large", msg is not None and "Paris!" in str(msg.content), msg)


# -- failures ------------------------------------------------------------------------------
def failing_tiers() -> None:
    for exc in (
        TimeoutError("read timed out"),
        RateLimitError("429 rate limit"),
        BadRequestError("400 bad request"),
    ):
        name = type(exc).__name__
        t = tiers()
        t["small"] = Failing(model_name="gpt-4o-mini", exc=exc)
        for strategy, label in ((Cascade(), "cascade"), (RuleRouter([], default="small"), "rule")):
            llm = RoutedChatModel(tiers=t, strategy=strategy)
            for mode in ("invoke", "stream", "ainvoke"):
                h = CostCallbackHandler(ledger="memory://")
                try:
                    if mode == "invoke":
                        msg = llm.invoke("Capital?", config=cfg(h))
                    elif mode == "ainvoke":
                        msg = asyncio.run(llm.ainvoke("Capital?", config=cfg(h)))
                    else:
                        msg = None
                        for c in llm.stream("Capital?", config=cfg(h)):
                            msg = c if msg is None else msg + c
                    got = ("answer", msg.response_metadata["llm_cost_hooks_route"]["tier"])
                except Exception as e:
                    got = ("raised", type(e).__name__)
                rs = records(h)
                check(
                    f"{label} {mode} small raises {name}: answered by large", got == ("answer", "large"), got
                )
                check(
                    f"{label} {mode} small raises {name}: failed call recorded",
                    any(r.route == "small" and not r.success for r in rs)
                    and any(r.route == "large" and r.success for r in rs),
                    [(r.route, r.success, r.error_type) for r in rs],
                )


def failing_judge_and_store() -> None:
    d = tempfile.mkdtemp()

    def judge(request: Any, answers: Any) -> Any:
        raise RuntimeError("judge down")

    shadow = ShadowMode(judge, share=1.0, budget_usd=5.0, store=os.path.join(d, "l.db"), seed=0)
    llm = RoutedChatModel(tiers=tiers(), strategy=RuleRouter([], default="small"), shadow=shadow)
    h = CostCallbackHandler(ledger="memory://")
    msg = llm.invoke("What is 2 + 2?", config=cfg(h))
    rs = records(h)
    check("judge raises: user answered", msg.content == "Paris.", msg.content)
    check("judge raises: counted", shadow.stats.get("judge_errors") == 1, shadow.stats)
    check(
        "shadow call has its own record shadow:large",
        sorted(r.route for r in rs) == ["shadow:large", "small"],
        [(r.route, r.model) for r in rs],
    )

    def good_judge(request: Any, answers: Any) -> Any:
        return {t: 1.0 for t in answers}

    # the store's directory vanishes under it (disk gone): the answer stands, the outcome is set aside
    d2 = tempfile.mkdtemp()
    shadow2 = ShadowMode(good_judge, share=1.0, budget_usd=5.0, store=os.path.join(d2, "l.db"), seed=0)
    llm2 = RoutedChatModel(tiers=tiers(), strategy=RuleRouter([], default="small"), shadow=shadow2)
    shutil.rmtree(d2, ignore_errors=True)
    h = CostCallbackHandler(ledger="memory://")
    msg = llm2.invoke("What is 2 + 2?", config=cfg(h))
    check("shadow store fails: user answered", msg.content == "Paris.", msg.content)
    check(
        "shadow store fails: counted, not silent",
        shadow2.stats.get("write_errors") == 1
        and shadow2.store.failed == 1
        and len(shadow2.store.set_aside) == 1,
        (shadow2.stats, shadow2.store.failed),
    )
    rs = records(h)
    check(
        "shadow store fails: both calls recorded",
        sorted(r.route for r in rs) == ["shadow:large", "small"],
        [r.route for r in rs],
    )

    # the shadow tier itself fails
    t = tiers()
    t["large"] = Failing(model_name="gpt-4o", exc=TimeoutError("t/o"))
    shadow3 = ShadowMode(good_judge, share=1.0, budget_usd=5.0, store=os.path.join(d, "l3.db"), seed=0)
    llm3 = RoutedChatModel(tiers=t, strategy=RuleRouter([], default="small"), shadow=shadow3)
    h = CostCallbackHandler(ledger="memory://")
    msg = llm3.invoke("What is 2 + 2?", config=cfg(h))
    rs = records(h)
    check("shadow tier fails: user answered", msg.content == "Paris.", msg.content)
    check("shadow tier fails: counted", shadow3.stats.get("call_errors") == 1, shadow3.stats)
    check(
        "shadow tier fails: failed shadow call recorded",
        any(r.route == "shadow:large" and not r.success for r in rs),
        [(r.route, r.success) for r in rs],
    )

    # streamed answers are shadowed after their last chunk
    shadow5 = ShadowMode(good_judge, share=1.0, budget_usd=5.0, store=os.path.join(d, "l5.db"), seed=0)
    llm5 = RoutedChatModel(tiers=tiers(), strategy=RuleRouter([], default="small"), shadow=shadow5)
    h = CostCallbackHandler(ledger="memory://")
    text = "".join(str(c.content) for c in llm5.stream("What is 2 + 2?", config=cfg(h)))
    check(
        "stream shadow: answer, records small + shadow:large, outcome written",
        text == "Paris."
        and sorted(r.route for r in records(h)) == ["shadow:large", "small"]
        and shadow5.stats["written"] == 1,
        (text, [r.route for r in records(h)], shadow5.stats),
    )

    # async shadow
    shadow4 = ShadowMode(good_judge, share=1.0, budget_usd=5.0, store=os.path.join(d, "l4.db"), seed=0)
    llm4 = RoutedChatModel(tiers=tiers(), strategy=RuleRouter([], default="small"), shadow=shadow4)
    h = CostCallbackHandler(ledger="memory://")
    asyncio.run(llm4.ainvoke("What is 2 + 2?", config=cfg(h)))
    check(
        "async shadow: records small + shadow:large, outcome written",
        sorted(r.route for r in records(h)) == ["shadow:large", "small"] and shadow4.stats["written"] == 1,
        ([r.route for r in records(h)], shadow4.stats),
    )


def make_data(n: int) -> OutcomeDataset:
    import numpy as np

    prompts, q = [], []
    for i in range(n):
        if i % 2:
            prompts.append(f"Prove the conjecture number {i}.")
            q.append([0.0, 1.0])
        else:
            prompts.append(f"What is {i} plus {i + 1}?")
            q.append([1.0, 1.0])
    return OutcomeDataset(
        prompts=prompts, tiers=["small", "large"], quality=np.array(q), cost=np.tile([1e-4, 2e-3], (n, 1))
    )


def router_files() -> None:

    d = tempfile.mkdtemp()
    good = os.path.join(d, "good")
    train_router(make_data(80), HashingEmbedder(64), out=good)
    llm = RoutedChatModel(tiers=tiers(), strategy=TrainedRouter.load(good))
    msg = llm.invoke("What is 3 plus 4?")
    check(
        "saved router loads and routes",
        msg.response_metadata["llm_cost_hooks_route"]["tier"] in ("small", "large"),
        msg.response_metadata,
    )

    def broken(name: str, mutate: Any) -> None:
        path = os.path.join(d, name)
        shutil.copytree(good, path)
        mutate(path)
        try:
            TrainedRouter.load(path)
            got = "loaded"
        except Exception as e:
            got = f"{type(e).__name__}: {e}"
        check(
            f"router file {name}: typed ConfigurationError naming the file",
            got.startswith("RouterModelError") and path in got,
            got,
        )

    def corrupt_npz(p: str) -> None:
        with open(os.path.join(p, "router.npz"), "r+b") as fh:
            fh.seek(40)
            fh.write(b"\x00" * 200)

    def truncate_npz(p: str) -> None:
        with open(os.path.join(p, "router.npz"), "r+b") as fh:
            fh.truncate(100)

    def bad_json(p: str) -> None:
        with open(os.path.join(p, "router.json"), "w") as fh:
            fh.write("{not json")

    def future_version(p: str) -> None:
        j = os.path.join(p, "router.json")
        meta = json.loads(Path(j).read_text())
        meta["format_version"] = 99
        Path(j).write_text(json.dumps(meta))

    def missing_npz(p: str) -> None:
        os.remove(os.path.join(p, "router.npz"))

    def other_dim(p: str) -> None:
        j = os.path.join(p, "router.json")
        meta = json.loads(Path(j).read_text())
        meta["embedder"]["dim"] = 384
        Path(j).write_text(json.dumps(meta))

    for name, fn in (
        ("corrupt-npz", corrupt_npz),
        ("truncated-npz", truncate_npz),
        ("bad-json", bad_json),
        ("future-version", future_version),
        ("missing-npz", missing_npz),
    ):
        broken(name, fn)

    # trained on another embedder: given the wrong one explicitly
    try:
        TrainedRouter.load(good, embedder=HashingEmbedder(128))
        got = "loaded"
    except Exception as e:
        got = f"{type(e).__name__}: {e}"
    check("router trained on another embedder: typed error", got.startswith("RouterModelError"), got)

    # a router.json whose embedder dim disagrees with the arrays
    path = os.path.join(d, "other-dim")
    shutil.copytree(good, path)
    other_dim(path)
    try:
        r = TrainedRouter.load(path)
        RoutedChatModel(tiers=tiers(), strategy=r).invoke("What is 3 plus 4?")
        got = "answered"
    except Exception as e:
        got = f"{type(e).__name__}: {e}"
    check(
        "router.json embedder dim disagrees with arrays: typed error",
        got.startswith("ConfigurationError"),
        got,
    )


# -- tools and structured output -------------------------------------------------------------
class Answer_(BaseModel):
    city: str


def tools_and_structured() -> None:
    from langchain_core.tools import tool

    @tool
    def weather(city: str) -> str:
        """Weather in a city."""
        return "sunny"

    from langchain_core.messages import AIMessage

    def tool_tiers(name: str, args: dict[str, Any]) -> dict[str, Any]:
        call = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "call_1"}])
        return {
            "small": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[call]),
            "large": FakeChatModelWithUsage(model_name="gpt-4o", responses=[call]),
        }

    llm = RoutedChatModel(
        tiers=tool_tiers("weather", {"city": "Paris"}),
        strategy=RuleRouter([Rule(tier="large", keywords=["weather"])], default="small"),
    )
    h = CostCallbackHandler(ledger="memory://")
    msg = llm.bind_tools([weather]).invoke("What's the weather in Paris?", config=cfg(h))
    rs = records(h)
    check(
        "bind_tools: routed to large, one record",
        [r.route for r in rs] == ["large"],
        [(r.route, r.model) for r in rs],
    )
    check("bind_tools: tier saw the tools (tool call returned)", bool(getattr(msg, "tool_calls", None)), msg)

    llm_s = RoutedChatModel(
        tiers=tool_tiers("Answer_", {"city": "Paris"}),
        strategy=RuleRouter([Rule(tier="large", keywords=["weather"])], default="small"),
    )
    h = CostCallbackHandler(ledger="memory://")
    out = llm_s.with_structured_output(Answer_).invoke("Which city? Paris.", config=cfg(h))
    rs = records(h)
    check("with_structured_output: parsed value", isinstance(out, Answer_), out)
    check(
        "with_structured_output: one record route small",
        [r.route for r in rs] == ["small"],
        [(r.route, r.model) for r in rs],
    )

    cas = RoutedChatModel(tiers=tool_tiers("Answer_", {"city": "Paris"}), strategy=Cascade())
    h = CostCallbackHandler(ledger="memory://")
    out = cas.with_structured_output(Answer_, include_raw=True).invoke("Which city? Paris.", config=cfg(h))
    check("cascade structured include_raw: parsed", isinstance(out.get("parsed"), Answer_), out)
    h = CostCallbackHandler(ledger="memory://")
    out = asyncio.run(cas.with_structured_output(Answer_).ainvoke("Which city? Paris.", config=cfg(h)))
    check(
        "cascade structured async: parsed, records",
        isinstance(out, Answer_) and len(records(h)) >= 1,
        (out, [r.route for r in records(h)]),
    )
    h = CostCallbackHandler(ledger="memory://")
    chunks = list(llm.bind_tools([weather]).stream("What's the weather in Paris?", config=cfg(h)))
    msg = chunks[0]
    for c in chunks[1:]:
        msg = msg + c
    check(
        "bind_tools stream: tool call arrives, one record",
        bool(msg.tool_calls) and len(records(h)) == 1,
        (msg.tool_calls, [r.route for r in records(h)]),
    )


def main() -> int:
    for name, fn in (
        ("plain", plain_calls),
        ("cascade", cascade_records),
        ("failing tiers", failing_tiers),
        ("shadow failures", failing_judge_and_store),
        ("router files", router_files),
        ("tools", tools_and_structured),
    ):
        print(f"== {name}")
        run(name, fn)
    failed = [r for r in RESULTS if not r[1]]
    print(f"\n{len(RESULTS) - len(failed)} ok, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
