"""Canary check: no prompt or answer text leaves through logs, spans, metrics or ledger rows
unless content capture is turned on.

Runs a broad set of features in one process with unique canary strings in the prompts, the
system message, a tool call's arguments and the answers, captures every log record (DEBUG,
all loggers, tracebacks and repr of args), every span (attributes, events, status) and metric
point (attributes) from in-memory OpenTelemetry providers, and every row of the SQLite ledgers
and dead-letter files, then searches them all for the canaries.

    python bench/results/canary-2026-12-07/canary.py            # default: expect no canary
    python bench/results/canary-2026-12-07/canary.py --capture  # opt-in: content on spans
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROMPT = "CANARY-PROMPT-7f3a"
SYSTEM = "CANARY-SYSTEM-2d8e"
TOOLARG = "CANARY-TOOLARG-5c19"
ANSWER = "CANARY-ANSWER-91bc"
CANARIES = (PROMPT, SYSTEM, TOOLARG, ANSWER)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[tuple[str, str]] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record whose args do not format still counts
            text = f"{record.msg!r} {record.args!r}"
        extra = repr(record.args) + " " + repr(getattr(record, "alert", ""))
        if record.exc_info and record.exc_info[1] is not None:
            extra += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.texts.append((record.name, text + "\n" + extra))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--capture", action="store_true", help="opt in to content capture")
    ap.add_argument("--verbose", action="store_true", help="print our own log lines")
    args = ap.parse_args()
    if args.capture:
        os.environ["LLM_COST_HOOKS_CAPTURE_CONTENT"] = "true"

    cap = Capture()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(cap)
    for name in list(logging.root.manager.loggerDict):
        lg = logging.getLogger(name)
        lg.setLevel(logging.DEBUG)
        lg.disabled = False

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])

    from langchain_core.globals import set_llm_cache
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
    from langchain_core.prompts import ChatPromptTemplate

    from llm_cost_hooks.budget import (
        AlertManager,
        ContextBudget,
        Limit,
        LoggingSink,
        SegmentBudgets,
        SpendGuard,
    )
    from llm_cost_hooks.dedup import CircuitBreaker, RetryBudget, SingleFlight
    from llm_cost_hooks.langchain import (
        CostCallbackHandler,
        FakeChatModelWithUsage,
        GuardedChatModel,
        RoutedChatModel,
        SemanticCache,
    )
    from llm_cost_hooks.routing import RuleRouter, ShadowMode
    from llm_cost_hooks.telemetry import OTelObserver

    for name in list(logging.root.manager.loggerDict):  # loggers created by the imports
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).disabled = False

    tmp = Path(tempfile.mkdtemp(prefix="canary-"))
    ledger = str(tmp / "ledger.db")
    observer = OTelObserver(tracer_provider=tp, meter_provider=mp)
    handler = CostCallbackHandler(ledger=ledger, observers=[observer])
    cfg: dict[str, Any] = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "feature": "canary"}}
    done: list[str] = []
    failed: list[str] = []

    def step(name: str, fn: Any) -> None:
        try:
            fn()
            done.append(name)
        except Exception as exc:  # a step's own failure is reported, the run goes on
            failed.append(f"{name}: {type(exc).__name__}")

    history = [
        SystemMessage(f"You are terse. {SYSTEM}"),
        HumanMessage(f"Look up {PROMPT}"),
        AIMessage("", tool_calls=[{"name": "lookup", "args": {"q": TOOLARG}, "id": "call_1"}]),
        ToolMessage(f"found {TOOLARG}", tool_call_id="call_1"),
        HumanMessage(f"And now answer {PROMPT}"),
    ]

    def fake(text: str = f"Sure: {ANSWER}", name: str = "gpt-4o-mini") -> FakeChatModelWithUsage:
        return FakeChatModelWithUsage(model_name=name, responses=[text] * 50)

    prompt = ChatPromptTemplate.from_messages([("system", f"Be kind. {SYSTEM}"), ("human", "{q}")])
    chain = prompt | fake()
    step("chain.invoke", lambda: chain.invoke({"q": f"what is {PROMPT}?"}, config=cfg))
    step("chain.stream", lambda: list(chain.stream({"q": f"stream {PROMPT}"}, config=cfg)))
    step("chain.batch", lambda: chain.batch([{"q": f"b1 {PROMPT}"}, {"q": f"b2 {PROMPT}"}], config=cfg))
    step("model.invoke history+tool call", lambda: fake().invoke(history, config=cfg))
    step("chain.ainvoke", lambda: asyncio.run(chain.ainvoke({"q": f"async {PROMPT}"}, config=cfg)))

    # Semantic cache: miss, exact hit, semantic (paraphrase) lookup, with verification of every
    # would-be hit by an equivalence check that raises quoting both answers, and an audit log.
    from llm_cost_hooks.cache import CacheConfig

    def quoting_equivalence(new: str, old: str) -> bool:
        raise ValueError(f"cannot compare {new!r} with {old!r}")

    cache = SemanticCache(
        path=str(tmp / "cache.db"),
        config=CacheConfig(verify_share=1.0, audit_sample_rate=1.0),
        equivalence=quoting_equivalence,
        audit_path=str(tmp / "audit.jsonl"),
    )
    set_llm_cache(cache)
    cm = fake(name="gpt-4o")
    step("cache miss", lambda: cm.invoke(f"Tell me about {PROMPT} please", config=cfg))
    step("cache exact hit", lambda: cm.invoke(f"Tell me about {PROMPT} please", config=cfg))
    step("cache semantic", lambda: cm.invoke(f"Please tell me about {PROMPT}", config=cfg))
    step("cache semantic 2", lambda: cm.invoke(f"Tell me about {PROMPT}, please!", config=cfg))

    # Similarity alone, no verification: a paraphrase is served as a semantic hit and goes to
    # the audit log (texts hashed unless content capture is on).
    from llm_cost_hooks.cache import DecisionPolicy

    set_llm_cache(
        SemanticCache(
            path=str(tmp / "cache3.db"),
            config=CacheConfig(
                default=DecisionPolicy(kind="similarity", threshold=0.5), audit_sample_rate=1.0
            ),
            audit_path=str(tmp / "audit3.jsonl"),
        )
    )
    step(
        "cache semantic hit, audited",
        lambda: [
            cm.invoke(q, config=cfg)
            for q in (
                f"Tell me about {PROMPT} please",
                f"Please tell me about {PROMPT}",
                f"Tell me about {PROMPT}, please!",
            )
        ],
    )

    # A cache entry that no longer reads back (its stored message does not validate): dropped.
    def corrupt_entry() -> None:
        db = tmp / "cache4.db"
        set_llm_cache(SemanticCache(path=str(db), semantic=False))
        cm.invoke(f"corrupt {PROMPT}", config=cfg)

        def bad(o: Any) -> Any:
            if isinstance(o, dict):
                return {k: {"x": v} if k == "content" and ANSWER in str(v) else bad(v) for k, v in o.items()}
            return [bad(v) for v in o] if isinstance(o, list) else o

        with sqlite3.connect(db) as con:
            entry_id, data = con.execute("select id, data from entries").fetchone()
            entry = json.loads(data)
            answer = json.loads(entry["answer"])
            answer["native"]["langchain"] = json.dumps(bad(json.loads(answer["native"]["langchain"])))
            entry["answer"] = json.dumps(answer)
            con.execute("update entries set data = ? where id = ?", (json.dumps(entry), entry_id))
        set_llm_cache(SemanticCache(path=str(db), semantic=False))
        cm.invoke(f"corrupt {PROMPT}", config=cfg)

    step("cache, corrupt entry", corrupt_entry)

    class QuotingEmbedder:  # a user's embedder whose error quotes the text it was given
        name = "quoting"
        dim = 8

        def embed(self, texts: Any) -> Any:
            raise RuntimeError(f"cannot embed {list(texts)!r}")

        def embed_one(self, text: str) -> Any:
            raise RuntimeError(f"cannot embed {text!r}")

    set_llm_cache(SemanticCache(path=str(tmp / "cache2.db"), embedder=QuotingEmbedder()))
    step("cache, failing embedder", lambda: [cm.invoke(f"embed {PROMPT}", config=cfg) for _ in range(2)])
    set_llm_cache(None)

    # Routing: rule router + shadow mode (every request shadowed).
    def judge(request: Any, answers: dict[str, str]) -> dict[str, float]:
        return {tier: 1.0 for tier in answers}

    routed = RoutedChatModel(
        tiers={"small": fake(name="gpt-4o-mini"), "large": fake(name="gpt-4o")},
        strategy=RuleRouter([], default="small"),
        shadow=ShadowMode(judge, share=1.0, budget_usd=5.0, store=str(tmp / "shadow.db"), seed=0),
    )
    step("routed+shadow", lambda: [routed.invoke(f"route {PROMPT} {i}", config=cfg) for i in range(3)])

    def bad_judge(request: Any, answers: dict[str, str]) -> dict[str, float]:
        raise ValueError(f"judge cannot read {request!r} {answers!r}")

    routed_bad = RoutedChatModel(
        tiers={"small": fake(name="gpt-4o-mini"), "large": fake(name="gpt-4o")},
        strategy=RuleRouter([], default="small"),
        shadow=ShadowMode(bad_judge, share=1.0, budget_usd=5.0, store=str(tmp / "shadow2.db"), seed=0),
    )
    step("routed+failing judge", lambda: routed_bad.invoke(f"route {PROMPT}", config=cfg))

    # Guard: a budget that refuses, alerts to the log sink; a breaker that opens.
    guard = SpendGuard(
        [Limit.usd(0.0000001, per="day", scope="tenant")],
        alerts=AlertManager([LoggingSink()], log=True, span_events=True),
    )
    guarded = GuardedChatModel(inner=fake(), guard=guard)
    step("guard refuses", lambda: guarded.invoke(f"spend {PROMPT}", config=cfg))

    class Echo400(Exception):
        pass

    class Raising(FakeChatModelWithUsage):
        def _generate(self, messages: Any, *a: Any, **k: Any) -> Any:
            text = " ".join(str(m.content) for m in messages)
            raise Echo400(f"400 Bad Request: invalid input {text!r}")

    breaker = GuardedChatModel(
        inner=Raising(model_name="gpt-4o-mini", responses=["x"]),
        breaker=CircuitBreaker(failure_threshold=1),
        retry=RetryBudget(max_attempts=2),
    )
    for i in range(3):
        step(f"breaker call {i}", lambda: breaker.invoke(f"fail {PROMPT}", config=cfg))
    step(
        "raising model in chain",
        lambda: (prompt | Raising(model_name="gpt-4o", responses=["x"])).invoke(
            {"q": f"raise {PROMPT}"}, config=cfg
        ),
    )

    # Dedup and context budget that trims.
    flight = SingleFlight(result_ttl=60)
    dd = GuardedChatModel(inner=fake(), dedup=flight)
    step("dedup x2", lambda: [dd.invoke(f"dedup {PROMPT}", config=cfg) for _ in range(2)])
    budget = ContextBudget(SegmentBudgets(history=30), model="gpt-4o-mini")
    trimmed = GuardedChatModel(inner=fake(), context_budget=budget)
    long_history = [SystemMessage(f"sys {SYSTEM}")] + [
        HumanMessage(f"turn {i} {PROMPT} " + "words " * 20)
        if i % 2 == 0
        else AIMessage(f"reply {ANSWER} {i}")
        for i in range(8)
    ]
    step("context trim", lambda: trimmed.invoke(long_history, config=cfg))

    # A ledger whose path fails: a directory where the file should be.
    bad = tmp / "bad.db"
    bad.mkdir()

    def bad_ledger() -> None:
        h = CostCallbackHandler(ledger=str(bad), observers=[observer])
        fake().invoke(f"bad ledger {PROMPT}", config={"callbacks": [h]})
        h.flush()

    step("failing ledger", bad_ledger)

    # A ledger that opens, then rejects every write: the records go to the dead-letter file.
    def dead_letters() -> None:
        h = CostCallbackHandler(ledger=str(tmp / "dl.db"), observers=[observer])

        def reject(records: Any, outcomes: Any) -> None:
            raise ValueError("store rejected the batch")

        h.tracker.ledger._write_batch = reject  # type: ignore[attr-defined]
        chain.invoke({"q": f"dead letter {PROMPT}"}, config={**cfg, "callbacks": [h]})
        h.flush()

    step("ledger write fails -> dead-letter file", dead_letters)

    handler.flush()

    # LiteLLM: success, failure, cache hit.
    import litellm

    from llm_cost_hooks.litellm import CostHooksLogger, LiteLLMSemanticCache, uninstall

    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).disabled = False
    lledger = str(tmp / "litellm.db")
    cl = CostHooksLogger(ledger=lledger, observers=[OTelObserver(tracer_provider=tp, meter_provider=mp)])
    litellm.callbacks = [cl]
    msgs = [
        {"role": "system", "content": f"sys {SYSTEM}"},
        {"role": "user", "content": f"card {PROMPT}"},
    ]
    step(
        "litellm success",
        lambda: litellm.completion(model="gpt-4o-mini", messages=msgs, mock_response=f"ok {ANSWER}"),
    )
    step(
        "litellm failure",
        lambda: litellm.completion(
            model="gpt-4o-mini", messages=msgs, mock_response=Exception(f"400 invalid input {PROMPT}")
        ),
    )
    litellm.cache = LiteLLMSemanticCache(path=str(tmp / "lcache.db"), semantic=False)
    for i in range(2):
        step(
            f"litellm cached {i}",
            lambda: litellm.completion(
                model="gpt-4o-mini", messages=msgs, mock_response=f"cached {ANSWER}", caching=True
            ),
        )
    litellm.cache = None
    cl.flush()
    uninstall(cl)

    tp.force_flush()
    metrics = reader.get_metrics_data()

    # ---- search ----
    found: dict[str, list[str]] = {}

    def search(where: str, text: str) -> None:
        for c in CANARIES:
            if c in text:
                found.setdefault(where, []).append(c)

    for name, text in cap.texts:
        where = f"log {name}: {text.splitlines()[0][:110]}"
        search(where, text)
    for s in spans.get_finished_spans():
        search(f"span '{s.name}' attributes", json.dumps(dict(s.attributes or {}), default=str))
        for e in s.events:
            search(f"span '{s.name}' event {e.name}", json.dumps(dict(e.attributes or {}), default=str))
        search(f"span '{s.name}' status", str(s.status.description))
    if metrics is not None:
        for rm in metrics.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        search(f"metric {m.name}", json.dumps(dict(p.attributes or {}), default=str))
    stores = {
        "ledger.db",
        "litellm.db",
        "shadow.db",
        "shadow2.db",
        "audit.jsonl",
        "audit3.jsonl",
        "dl.db",
        "dl.db.dead-letter.jsonl",
    }
    for f in sorted(tmp.rglob("*")):
        if not f.is_file():
            continue
        if f.suffix == ".db" or f.name.endswith(".db-wal"):
            if f.suffix != ".db":
                continue
            try:
                con = sqlite3.connect(f)
                for (table,) in con.execute("select name from sqlite_master where type='table'"):
                    for row in con.execute(f'select * from "{table}"'):
                        search(
                            f"file {f.name} table {table}" + ("" if f.name in stores else " (cache store)"),
                            repr(row),
                        )
                con.close()
            except sqlite3.Error:
                search(f"file {f.name} (raw)", f.read_bytes().decode("latin-1"))
        else:
            search(f"file {f.name}", f.read_bytes().decode("latin-1"))

    print(
        f"capture_content={'on' if args.capture else 'off'}; steps run: {len(done)}; "
        f"steps that raised (expected for refusals/faults): {failed}"
    )
    print(f"captured: {len(cap.texts)} log records, {len(spans.get_finished_spans())} spans")
    print("files searched:", sorted(f.name for f in tmp.rglob("*") if f.is_file()))
    if args.verbose:
        for name, text in cap.texts:
            if name.startswith("llm_cost_hooks"):
                print("  ours:", text.splitlines()[0][:160])

    def kind(where: str) -> str:
        if "(cache store)" in where or "routing_outcomes" in where:
            return "documented store"  # the cache keeps its entries; shadow mode its requests
        if where.startswith("log ") and not where.startswith(("log llm_cost_hooks", "log root")):
            return "third party"  # LiteLLM's own DEBUG lines, not ours
        if args.capture and (where.startswith("span ") or "audit" in where):
            return "opt-in"
        return "UNEXPECTED"

    counts: dict[str, int] = {}
    for where, hits in sorted(found.items()):
        k = kind(where)
        counts[k] = counts.get(k, 0) + 1
        print(f"[{k}] {where}: {sorted(set(hits))}")
    print("summary:", counts or "no canary found")
    if args.capture:
        content = [w for w in found if w.startswith("span ") and "attributes" in w]
        print(f"opt-in: {len(content)} span attribute sets hold content")
        if not content:
            return 1
    return 1 if counts.get("UNEXPECTED") else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
