"""An outsider's check of the cache on default settings, run against the installed wheel.

Near-misses written for this check (not the dev sets' sentences), tenant scope on every call
path of a LangChain chat model and of LiteLLM, exact repeats. Every answer is its own free
text (the model numbers its replies), so a served answer can be told from a paid one by its
text as well as by the cache status the cache puts in ``response_metadata``.

    python outsider_check.py            # prints one line per check and a summary; exit 1 on a failure
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from langchain_core.globals import set_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda, RunnableParallel
from langchain_core.tools import tool

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache, cache_scope

# kind, stored question, near-miss question (a different answer is right for each)
NEAR_MISSES: list[tuple[str, str, str]] = [
    (
        "negation",
        "How do I freeze my credit card in the app?",
        "How do I unfreeze my credit card in the app?",
    ),
    ("negation", "Why was my payment accepted?", "Why was my payment not accepted?"),
    ("negation", "Can I share my streaming account?", "Why can't I share my streaming account?"),
    ("negation", "How do I block this phone number?", "How do I unblock this phone number?"),
    ("negation", "How do I archive this conversation?", "How do I unarchive this conversation?"),
    ("negation", "Is my parcel insured?", "Is my parcel uninsured?"),
    (
        "negation",
        "Should I include tax in the invoice total?",
        "Should I exclude tax from the invoice total?",
    ),
    ("negation", "My phone is charging, is the cable fine?", "My phone is not charging, is the cable fine?"),
    ("negation", "How do I enable dark mode?", "How do I disable dark mode?"),
    ("negation", "How do I install the printer driver?", "How do I uninstall the printer driver?"),
    ("number", "What is the status of ticket 40021?", "What is the status of ticket 40093?"),
    ("number", "Refund order 7731 please.", "Refund order 7713 please."),
    ("number", "Set my alarm for 6:15.", "Set my alarm for 6:45."),
    ("number", "Is 37.5 degrees a fever?", "Is 39.5 degrees a fever?"),
    (
        "number",
        "How long is the warranty on a 2 year old laptop?",
        "How long is the warranty on a 5 year old laptop?",
    ),
    ("number", "Add 3 seats to our subscription.", "Add 30 seats to our subscription."),
    ("amount", "Send $25 to Maria.", "Send $2500 to Maria."),
    ("amount", "Can I withdraw 300 pounds today?", "Can I withdraw 3000 pounds today?"),
    ("amount", "Is a fee charged on a 50 euro top-up?", "Is a fee charged on a 5000 euro top-up?"),
    ("amount", "Pay 120 dollars off my credit card.", "Pay 1200 dollars off my credit card."),
    ("date", "Is the branch open on Tuesday?", "Is the branch open on Thursday?"),
    ("date", "Book the meeting room for tomorrow.", "Book the meeting room for today."),
    ("date", "What did I spend in January?", "What did I spend in July?"),
    ("date", "Move my appointment to the 3rd of May.", "Move my appointment to the 13th of May."),
    ("date", "Remind me on Saturday morning to call mum.", "Remind me on Sunday morning to call mum."),
    ("date", "What was the exchange rate in 2019?", "What was the exchange rate in 2023?"),
    ("name", "What is Oliver's phone number?", "What is Harriet's phone number?"),
    ("name", "How do I connect my account to PayPal?", "How do I connect my account to Revolut?"),
    ("name", "How tall is Mount Kilimanjaro?", "How tall is Mount Elbrus?"),
    ("name", "Open the Spotify app.", "Open the Netflix app."),
    (
        "name",
        "What time does the Lidl on Baker Street close?",
        "What time does the Aldi on Baker Street close?",
    ),
    ("name", "Who wrote Middlemarch?", "Who wrote Wuthering Heights?"),
    (
        "direction",
        "How much is a train ticket from Leeds to York?",
        "How much is a train ticket from York to Leeds?",
    ),
    ("direction", "Move money from savings to checking.", "Move money from checking to savings."),
    ("direction", "Translate this from Spanish to German.", "Translate this from German to Spanish."),
    ("direction", "How do I scroll up in the terminal?", "How do I scroll down in the terminal?"),
    ("direction", "How do I upload photos to the cloud?", "How do I download photos from the cloud?"),
    ("unit", "Convert 10 miles to kilometres.", "Convert 10 kilometres to miles."),
    ("unit", "How many grams in 2 cups of flour?", "How many grams in 2 tablespoons of flour?"),
    ("unit", "Set the oven to 200 Celsius.", "Set the oven to 200 Fahrenheit."),
    ("unit", "How many litres is 5 gallons?", "How many millilitres is 5 gallons?"),
    ("unit", "Is 70 kilograms a healthy weight?", "Is 70 pounds a healthy weight?"),
    ("antonym", "How do I increase the font size?", "How do I decrease the font size?"),
    (
        "antonym",
        "What are the advantages of a fixed-rate mortgage?",
        "What are the disadvantages of a fixed-rate mortgage?",
    ),
    ("antonym", "How do I speed up my laptop?", "How do I slow down my laptop?"),
    (
        "role",
        "What must the seller disclose before the sale?",
        "What must the buyer disclose before the sale?",
    ),
    ("role", "Can the employer cancel the contract?", "Can the employee cancel the contract?"),
    ("scope", "How do I reset my password?", "How do I reset my password for my child's account?"),
]

# Wordings that only pad a question: a keyed neighbourhood of agreeing entries, the case the
# default policy serves semantically. A near-miss must still be refused next to it.
PADDINGS = ["{q}", "Hi, {q}", "Quick question: {q}", "{q} Thanks!", "Hello there. {q}"]

failures: list[str] = []
lines: list[str] = []


def report(name: str, ok: bool, detail: str = "") -> None:
    line = f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else "")
    lines.append(line)
    print(line, flush=True)
    if not ok:
        failures.append(name)


_counter = itertools.count(1)
_lock = threading.Lock()


def _answer(messages: Any) -> str:
    with _lock:
        n = next(_counter)
    last = messages[-1].content if messages else ""
    return f"Reply #{n} to: {last}"


def chat_model(**kw: Any) -> FakeChatModelWithUsage:
    """The package's fake chat model: real token counts and usage, a fresh free-text answer
    per paid call, native streaming."""
    return FakeChatModelWithUsage(model_name="gpt-4o-mini", respond=_answer, **kw)


class NonStreamingChat(BaseChatModel):
    """A chat model without native streaming: LangChain's ``stream()`` then goes through
    ``invoke`` and the cache."""

    @property
    def _llm_type(self) -> str:
        return "outsider-non-streaming"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        text = _answer(messages)
        msg = AIMessage(
            content=text,
            usage_metadata={"input_tokens": 20, "output_tokens": 9, "total_tokens": 29},
            response_metadata={"model_name": "gpt-4o-mini"},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def status(msg: Any) -> str:
    meta = getattr(msg, "response_metadata", None) or {}
    return str((meta.get("llm_cost_hooks_cache") or {}).get("status", "miss"))


def text(msg: Any) -> str:
    if isinstance(msg, str):
        return msg
    return str(getattr(msg, "content", msg))


# ---------------------------------------------------------------- near-misses
def near_misses(cache: SemanticCache) -> None:
    model = chat_model()
    # one-entry partitions (a tenant per pair)
    served = []
    for i, (kind, stored, query) in enumerate(NEAR_MISSES):
        cfg: RunnableConfig = {"metadata": {"tenant_id": f"one-{i}"}}
        model.invoke(stored, config=cfg)
        got = model.invoke(query, config=cfg)
        if status(got) != "miss":
            served.append((kind, stored, query, status(got)))
    report(
        f"near-misses, one-entry cache: 0 of {len(NEAR_MISSES)} served",
        not served,
        f"served {len(served)}: {served[:3]}" if served else "",
    )
    # one full partition, free-text answers
    cfg = {"metadata": {"tenant_id": "full-free"}}
    for _, stored, _ in NEAR_MISSES:
        model.invoke(stored, config=cfg)
    served = [(k, s, q) for k, s, q in NEAR_MISSES if status(model.invoke(q, config=cfg)) != "miss"]
    report(
        f"near-misses, full cache, free-text answers: 0 of {len(NEAR_MISSES)} served",
        not served,
        str(served[:3]),
    )
    # one full partition, keyed answers, five padded wordings of each stored question
    for i, (_, stored, _) in enumerate(NEAR_MISSES):
        with cache_scope(tenant="full-keyed", answer_key=f"faq-{i}"):
            for pad in PADDINGS:
                model.invoke(pad.format(q=stored))
    served = []
    with cache_scope(tenant="full-keyed"):
        for k, s, q in NEAR_MISSES:
            got = model.invoke(q)
            if status(got) != "miss":
                served.append((k, s, q, status(got)))
    report(
        f"near-misses, full cache, keyed answers (5 wordings each): 0 of {len(NEAR_MISSES)} served",
        not served,
        f"served {len(served)}: {served[:4]}" if served else "",
    )
    # the control: a wording not stored, of a keyed question, is served (the semantic tier works)
    with cache_scope(tenant="full-keyed"):
        hits = sum(status(model.invoke(f"Hey, {s}")) == "semantic" for _, s, _ in NEAR_MISSES)
    lines.append(
        f"info keyed control: {hits} of {len(NEAR_MISSES)} unseen paddings ('Hey, ...') served semantically"
    )
    print(lines[-1])


# ---------------------------------------------------------------- tenant scope per path
Q = "Where is my order and when will it arrive?"


def check_path(
    name: str,
    call_a: Callable[[], Any],
    call_b: Callable[[], Any],
    uses_cache: bool = True,
    loses_tenant: bool = False,
) -> None:
    """A writes, B asks the same (must be a miss with B's own answer), A asks again (must
    be an exact hit: the path does reach the cache). A path that ``loses_tenant`` reaches the
    cache naming no tenant: in a cache that has seen tenants (require_tenant="auto", the
    default) it bypasses the cache, so A's repeat is paid too (a fresh answer, not served)."""
    a = call_a()
    b = call_b()
    a2 = call_a()
    leak = text(b) == text(a) or status(b) != "miss"
    if loses_tenant:
        bypassed = status(a2) == "miss" and text(a2) not in (text(a), text(b))
        report(
            f"scope: {name} (names no tenant: bypasses the cache)",
            not leak and bypassed,
            f"B={status(b)!r} A again={status(a2)!r}",
        )
    elif uses_cache:
        # a path returning a string (a tool) carries no cache status: its text tells
        served = text(a2) == text(a) and (isinstance(a2, str) or status(a2) == "exact")
        report(f"scope: {name}", not leak and served, f"B={status(b)!r} A again={status(a2)!r}")
    else:
        report(f"scope: {name} (cache not consulted)", not leak, f"B={status(b)!r} A again={status(a2)!r}")


def scope_paths() -> None:
    m = chat_model()
    ns = NonStreamingChat()
    seq = itertools.count()

    def q() -> str:  # a new question per path, so paths never see each other's entries
        return f"{Q} (case {next(seq)})"

    def meta(t: str | None) -> RunnableConfig:
        return {"metadata": {"tenant_id": t}} if t is not None else {}

    x = q()
    check_path(
        "invoke(config=metadata)",
        lambda: m.invoke(x, config=meta("A")),
        lambda: m.invoke(x, config=meta("B")),
    )
    x = q()
    check_path(
        "ainvoke(config=metadata)",
        lambda: asyncio.run(m.ainvoke(x, config=meta("A"))),
        lambda: asyncio.run(m.ainvoke(x, config=meta("B"))),
    )
    x = q()
    check_path(
        "batch(one config)",
        lambda: m.batch([x], config=meta("A"))[0],
        lambda: m.batch([x], config=meta("B"))[0],
    )
    x = q()
    outs = m.batch([x, x], config=[meta("A"), meta("B")])  # both tenants in one batch, in parallel
    report(
        "scope: batch(per-input configs, A and B together)",
        text(outs[0]) != text(outs[1]),
        f"{status(outs[0])}/{status(outs[1])}",
    )
    x = q()
    check_path(
        "abatch(one config)",
        lambda: asyncio.run(m.abatch([x], config=meta("A")))[0],
        lambda: asyncio.run(m.abatch([x], config=meta("B")))[0],
    )
    x = q()
    outs = asyncio.run(m.abatch([x, x], config=[meta("A"), meta("B")]))
    report(
        "scope: abatch(per-input configs, A and B together)",
        text(outs[0]) != text(outs[1]),
        f"{status(outs[0])}/{status(outs[1])}",
    )

    def joined(chunks: list[Any]) -> AIMessage:
        return AIMessage(
            content="".join(text(c) for c in chunks),
            response_metadata=getattr(chunks[-1], "response_metadata", {}),
        )

    async def astream(model: Any, x: str, t: str) -> AIMessage:
        return joined([c async for c in model.astream(x, config=meta(t))])

    x = q()
    check_path(
        "stream (native streaming model)",
        lambda: joined(list(m.stream(x, config=meta("A")))),
        lambda: joined(list(m.stream(x, config=meta("B")))),
        uses_cache=False,
    )
    x = q()
    check_path(
        "astream (native streaming model)",
        lambda: asyncio.run(astream(m, x, "A")),
        lambda: asyncio.run(astream(m, x, "B")),
        uses_cache=False,
    )
    x = q()
    check_path(
        "stream (model without native streaming)",
        lambda: joined(list(ns.stream(x, config=meta("A")))),
        lambda: joined(list(ns.stream(x, config=meta("B")))),
    )
    x = q()
    check_path(
        "astream (model without native streaming)",
        lambda: asyncio.run(astream(ns, x, "A")),
        lambda: asyncio.run(astream(ns, x, "B")),
    )
    x = q()
    ma, mb = m.with_config(metadata={"tenant_id": "A"}), m.with_config(metadata={"tenant_id": "B"})
    check_path("with_config(metadata)", lambda: ma.invoke(x), lambda: mb.invoke(x))
    x = q()
    ma, mb = m.with_config(configurable={"tenant_id": "A"}), m.with_config(configurable={"tenant_id": "B"})
    check_path("with_config(configurable)", lambda: ma.invoke(x), lambda: mb.invoke(x), loses_tenant=True)
    x = q()
    check_path(
        "invoke(config=configurable)",
        lambda: m.invoke(x, config={"configurable": {"tenant_id": "A"}}),
        lambda: m.invoke(x, config={"configurable": {"tenant_id": "B"}}),
        loses_tenant=True,
    )
    x = q()
    bound = m.bind(stop=["\n\n"])
    check_path(
        "bind(...) then invoke",
        lambda: bound.invoke(x, config=meta("A")),
        lambda: bound.invoke(x, config=meta("B")),
    )
    x = q()
    check_path(
        "generate(metadata=)",
        lambda: m.generate([[HumanMessage(x)]], metadata={"tenant_id": "A"}).generations[0][0].message,
        lambda: m.generate([[HumanMessage(x)]], metadata={"tenant_id": "B"}).generations[0][0].message,
    )
    x = q()
    chain = ChatPromptTemplate.from_messages([("system", "You are a shop assistant."), ("human", "{q}")]) | m
    check_path(
        "chain prompt | model",
        lambda: chain.invoke({"q": x}, config=meta("A")),
        lambda: chain.invoke({"q": x}, config=meta("B")),
    )
    x = q()
    check_path(
        "chain.ainvoke",
        lambda: asyncio.run(chain.ainvoke({"q": x}, config=meta("A"))),
        lambda: asyncio.run(chain.ainvoke({"q": x}, config=meta("B"))),
    )
    x = q()
    par = RunnableParallel(answer=chain)
    check_path(
        "RunnableParallel branch",
        lambda: par.invoke({"q": x}, config=meta("A"))["answer"],
        lambda: par.invoke({"q": x}, config=meta("B"))["answer"],
    )
    x = q()
    retrying = chain.with_retry(stop_after_attempt=2)
    check_path(
        "chain.with_retry",
        lambda: retrying.invoke({"q": x}, config=meta("A")),
        lambda: retrying.invoke({"q": x}, config=meta("B")),
    )
    x = q()
    falling = chain.with_fallbacks([chain])
    check_path(
        "chain.with_fallbacks",
        lambda: falling.invoke({"q": x}, config=meta("A")),
        lambda: falling.invoke({"q": x}, config=meta("B")),
    )
    x = q()

    async def via_events(t: str) -> Any:
        out = None
        async for ev in ns.astream_events(x, config=meta(t), version="v2"):
            if ev["event"] == "on_chat_model_end":
                out = ev["data"]["output"]
        return out

    check_path(
        "astream_events (model without native streaming)",
        lambda: asyncio.run(via_events("A")),
        lambda: asyncio.run(via_events("B")),
    )

    @tool
    def ask_model(question: str) -> str:
        """Ask the model (no config passed on)."""
        return text(m.invoke(question))

    x = q()
    check_path(
        "tool calling a model (no config passed on)",
        lambda: ask_model.invoke(x, config=meta("A")),
        lambda: ask_model.invoke(x, config=meta("B")),
    )

    def outer_tool_chain(t: str) -> Any:
        # a chain step that calls a tool that calls the model: an agent's inner loop
        step = RunnableLambda(lambda question: ask_model.invoke(question))
        return step.invoke(x, config=meta(t))

    x = q()
    check_path("lambda -> tool -> model", lambda: outer_tool_chain("A"), lambda: outer_tool_chain("B"))
    x = q()
    passes = RunnableLambda(lambda v, config: m.invoke(v, config=config))
    check_path(
        "RunnableLambda passing its RunnableConfig",
        lambda: passes.invoke(x, config=meta("A")),
        lambda: passes.invoke(x, config=meta("B")),
    )
    x = q()
    inherits = RunnableLambda(lambda v: m.invoke(v))
    check_path(
        "RunnableLambda not passing config",
        lambda: inherits.invoke(x, config=meta("A")),
        lambda: inherits.invoke(x, config=meta("B")),
    )
    x = q()

    async def async_lambda(v: str) -> Any:
        return await m.ainvoke(v)

    alam = RunnableLambda(async_lambda)
    check_path(
        "async RunnableLambda not passing config",
        lambda: asyncio.run(alam.ainvoke(x, config=meta("A"))),
        lambda: asyncio.run(alam.ainvoke(x, config=meta("B"))),
    )

    # empty tenant vs default tenant (no tenant named) vs a named tenant. The cache has seen
    # tenants by now, so a call naming none bypasses it (require_tenant="auto", the default):
    # its repeat is paid again, never served another call's answer.
    x = q()
    none1 = m.invoke(x)
    empty = m.invoke(x, config=meta(""))
    named = m.invoke(x, config=meta("default"))
    none2 = m.invoke(x)
    empty2 = m.invoke(x, config=meta(""))
    ok = (
        status(empty) == "miss"
        and status(named) == "miss"
        and len({text(none1), text(empty), text(named), text(none2)}) == 4
        and status(none1) == "miss"
        and status(none2) == "miss"
        and status(empty2) == "exact"
        and text(empty2) == text(empty)
    )
    report(
        "scope: empty tenant and tenant 'default' are two partitions; no tenant bypasses the cache",
        ok,
    )
    # tenant given as an unhashable / structured value: scope cannot be read -> no hit, no write
    x = q()
    m.invoke(x, config=meta("A"))
    odd = m.invoke(x, config={"metadata": {"tenant_id": ["A"]}})
    odd2 = m.invoke(x, config={"metadata": {"tenant_id": ["A"]}})
    report(
        "scope: unreadable tenant (a list) bypasses the cache",
        status(odd) == "miss" and status(odd2) == "miss",
    )

    # a plain thread started inside tenant A's chain, calling the model without config
    x = q()

    def in_thread(t: str) -> Any:
        box: list[Any] = []

        def body(v: str) -> Any:
            th = threading.Thread(target=lambda: box.append(m.invoke(v)))
            th.start()
            th.join()
            return box[0]

        return RunnableLambda(body).invoke(x, config=meta(t))

    a, b = in_thread("A"), in_thread("B")
    lines.append(
        f"info plain thread (no context copied) inside tenant chains, model called without config: "
        f"A={status(a)} B={status(b)} B served A's answer={text(a) == text(b)} (the tenant does not travel; see docs)"
    )
    print(lines[-1])

    # the remedies the docs give for threads
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from langchain_core.runnables.config import ContextThreadPoolExecutor

    def remedy(name: str, run_in_thread: Callable[[str, RunnableConfig], Any]) -> None:
        x = q()

        def call(t: str) -> Any:
            return RunnableLambda(lambda v, config: run_in_thread(v, config)).invoke(x, config=meta(t))

        check_path(f"thread remedy: {name}", lambda: call("A"), lambda: call("B"))

    def pass_config(v: str, config: RunnableConfig) -> Any:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(m.invoke, v, config=config).result()

    def copy_ctx(v: str, config: RunnableConfig) -> Any:
        ctx = contextvars.copy_context()
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(ctx.run, m.invoke, v).result()

    def lc_pool(v: str, config: RunnableConfig) -> Any:
        with ContextThreadPoolExecutor(1) as pool:
            return pool.submit(m.invoke, v).result()

    remedy("pass config to the thread", pass_config)
    remedy("contextvars.copy_context().run", copy_ctx)
    remedy("ContextThreadPoolExecutor", lc_pool)


def litellm_paths(tmp: str) -> None:
    import litellm

    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    litellm.cache = LiteLLMSemanticCache(path=os.path.join(tmp, "litellm_cache.db"))
    seq = itertools.count()

    def ask(t: Any, x: str, **kw: Any) -> Any:
        n = next(seq)
        return litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": x}],
            mock_response=f"LiteLLM reply #{n}",
            **({"metadata": {"tenant_id": t}} if t is not None else {}),
            **kw,
        )

    def content(r: Any) -> str:
        return str(r.choices[0].message.content)

    def path(name: str, a: Callable[[], Any], b: Callable[[], Any]) -> None:
        ra, rb, ra2 = a(), b(), a()
        report(
            f"litellm scope: {name}",
            content(rb) != content(ra) and content(ra2) == content(ra),
            f"A={content(ra)!r} B={content(rb)!r} A again={content(ra2)!r}",
        )

    x = f"{Q} (litellm 1)"
    path("completion(metadata=)", lambda: ask("A", x), lambda: ask("B", x))
    x = f"{Q} (litellm 2)"

    async def aask(t: str) -> Any:
        return await litellm.acompletion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": x}],
            mock_response=f"LiteLLM async reply #{next(seq)}",
            metadata={"tenant_id": t},
        )

    path("acompletion(metadata=)", lambda: asyncio.run(aask("A")), lambda: asyncio.run(aask("B")))
    x = f"{Q} (litellm 3)"

    def lmeta(t: str) -> Any:
        return litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": x}],
            mock_response=f"LiteLLM reply #{next(seq)}",
            litellm_metadata={"tenant_id": t},
        )

    path("completion(litellm_metadata=)", lambda: lmeta("A"), lambda: lmeta("B"))
    x = f"{Q} (litellm 4)"
    r_none = ask(None, x)
    r_empty = ask("", x)
    report("litellm scope: empty tenant vs no tenant", content(r_none) != content(r_empty))
    x = f"{Q} (litellm 5)"
    with cache_scope(tenant="A"):
        ra = ask(None, x)
    with cache_scope(tenant="B"):
        rb = ask(None, x)
    report("litellm scope: cache_scope(tenant=...)", content(ra) != content(rb))
    x = f"{Q} (litellm 6)"
    path(
        "completion(user=) with per-user metadata",
        lambda: ask("A", x, user="u1"),
        lambda: ask("B", x, user="u1"),
    )
    x = f"{Q} (litellm 7)"

    def streamed(t: str) -> Any:
        chunks = litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": x}],
            mock_response=f"LiteLLM streamed reply #{next(seq)}",
            metadata={"tenant_id": t},
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        return type(
            "R", (), {"choices": [type("C", (), {"message": type("M", (), {"content": text})()})()]}
        )()

    path("completion(stream=True)", lambda: streamed("A"), lambda: streamed("B"))
    x = f"{Q} (litellm 8)"
    router = litellm.Router(
        model_list=[{"model_name": "support", "litellm_params": {"model": "gpt-4o-mini"}}]
    )

    def routed(t: str) -> Any:
        return router.completion(
            model="support",
            messages=[{"role": "user", "content": x}],
            mock_response=f"Router reply #{next(seq)}",
            metadata={"tenant_id": t},
            caching=True,
        )

    path("Router.completion(metadata=)", lambda: routed("A"), lambda: routed("B"))
    # exact repeat under one tenant served; near-misses under one tenant not
    served = 0
    for i, (_, s, qn) in enumerate(NEAR_MISSES[:20]):
        ask(f"nm-{i}", s)
        r = ask(f"nm-{i}", qn)
        served += content(r).startswith("LiteLLM reply #") and content(r) == content(ask(f"nm-{i}", s))
    report("litellm near-misses, one-entry cache: 0 of 20 served", served == 0, f"served {served}")
    litellm.cache = None


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="outsider_")
    cache = SemanticCache(path=os.path.join(tmp, "llm_cache.db"))  # the defaults, in a temp dir
    set_llm_cache(cache)
    m = chat_model()
    first = m.invoke("How do I order a new card?", config={"metadata": {"tenant_id": "acme"}})
    again = m.invoke("how do I order a new  card?", config={"metadata": {"tenant_id": "acme"}})
    other = m.invoke("How do I order a new card?", config={"metadata": {"tenant_id": "globex"}})
    report("exact repeat (case, spaces) served", status(again) == "exact" and text(again) == text(first))
    report(
        "the same question under another tenant not served",
        status(other) == "miss" and text(other) != text(first),
    )
    near_misses(cache)
    scope_paths()
    st = cache.stats
    lines.append(f"info LangChain cache stats: {st}")
    print(lines[-1])
    set_llm_cache(None)
    litellm_paths(tmp)
    print(f"\n{len(failures)} failed: {failures}" if failures else "\nall checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
