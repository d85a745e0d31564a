"""``llm-cost demo``: a support bot on real Banking77 customer queries, measured end to end.

Real LangChain chains (``prompt | chat model | parser``) on fake chat models that report the
usage a real provider would (counted with the real tokenizer), several tenants and
features, retries after injected timeouts, a LangChain cache for repeated questions, and a
cost report from the SQLite ledger. No network, no API key.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["DATA_HINT", "data_dir", "run_demo"]

DATA_HINT = (
    "The demo replays Banking77 (PolyAI, CC BY 4.0): put its test.csv.gz (columns text, category) in\n"
    "  ../shared/data/semantic_cache/banking77/  (relative to the repository root), or point\n"
    "  LLM_COST_HOOKS_DATA_DIR / --data at a folder with semantic_cache/banking77/test.csv.gz.\n"
    "  Source: https://github.com/PolyAI-LDN/task-specific-datasets (banking_data/test.csv)."
)


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the shared evaluation data lives: ``--data``, ``$LLM_COST_HOOKS_DATA_DIR``, or
    ``../shared/data`` next to the repository (or the current directory)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("LLM_COST_HOOKS_DATA_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent.parent
    for base in (here, Path.cwd()):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return here.parent / "shared" / "data"


def _load_queries(path: Path, limit: int) -> list[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    # Every k-th row: a deterministic sample spread over all intents.
    step = max(1, len(rows) // limit)
    return rows[::step][:limit]


def _bucket(text: str, n: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % n


def run_demo(
    *,
    ledger_path: str | os.PathLike[str] = "demo_out/llm_costs.db",
    data: str | os.PathLike[str] | None = None,
    limit: int = 400,
    out: Any = None,
) -> int:
    """Run the demo; returns a process exit code."""
    out = out or sys.stdout
    source = data_dir(data) / "semantic_cache" / "banking77" / "test.csv.gz"
    if not source.exists():
        print(f"No workload found at {source}.\n{DATA_HINT}", file=sys.stderr)
        return 2

    from langchain_core.caches import InMemoryCache
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from . import CostCallbackHandler, FakeChatModelWithUsage
    from ..ledger import format_rows

    queries = _load_queries(source, limit)
    ledger_path = Path(ledger_path)
    ledger_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger_path}{suffix}").unlink(missing_ok=True)
    handler = CostCallbackHandler(ledger=f"sqlite:///{ledger_path}", defaults={"prompt_version": "support_v14"})

    intents = {text: category for text, category in queries}

    def classify(messages: Any) -> str:
        return intents.get(messages[-1].content, "unknown")

    def answer(messages: Any) -> str:
        question = messages[-1].content
        topic = intents.get(question, "your request").replace("_", " ")
        return (
            f"Thanks for reaching out about {topic}. I've checked your account: here is what happens next, "
            "step by step, and what you can do in the app if you need it sooner."
        )

    # Timeouts on some calls, recovered by LangChain's with_retry: their cost stays in the task.
    flaky = [TimeoutError("upstream timed out") if i % 37 == 5 else None for i in range(len(queries) * 2)]
    classifier = FakeChatModelWithUsage(model_name="gpt-4o-mini", respond=classify, cache=InMemoryCache())
    answerer = FakeChatModelWithUsage(model_name="gpt-4o", respond=answer, errors=flaky, cached_fraction=0.3)
    summarizer = FakeChatModelWithUsage(model_name="claude-haiku-4-5", provider="anthropic",
                                        responses=["Customer asks about a card/account issue; answered with next steps."])

    classify_chain = (
        ChatPromptTemplate.from_messages([("system", "Classify the banking query into one of 77 intents. Answer with the intent id only."), ("human", "{q}")])
        | classifier | StrOutputParser()
    )
    answer_chain = (
        ChatPromptTemplate.from_messages([
            ("system", "You are ACME Bank's support assistant. Be accurate, brief and kind. Never ask for a full card number."),
            ("human", "{q}"),
        ])
        | answerer.with_retry(stop_after_attempt=3, wait_exponential_jitter=False) | StrOutputParser()
    )
    summary_chain = (
        ChatPromptTemplate.from_messages([("system", "Summarise the ticket in one line for the CRM."), ("human", "{q}")])
        | summarizer | StrOutputParser()
    )

    tenants = ["acme", "globex", "initech"]
    t0 = time.perf_counter()
    total = len(queries)
    for i, (text, _category) in enumerate(queries):
        tenant = tenants[_bucket(text, len(tenants))]
        meta = {"tenant_id": tenant, "user_id": f"user-{_bucket(text, 50)}"}
        # Every query is classified; some are asked twice (the cache answers), most get an
        # answer, and a share of tickets is summarised for the CRM.
        classify_chain.invoke({"q": text}, config={"callbacks": [handler], "metadata": {**meta, "feature": "intent_classification"}})
        if i % 5 == 0:
            classify_chain.invoke({"q": text}, config={"callbacks": [handler], "metadata": {**meta, "feature": "intent_classification"}})
        try:
            answer_chain.invoke({"q": text}, config={"callbacks": [handler], "metadata": {**meta, "feature": "support_answer"}})
        except TimeoutError:
            pass  # recorded as a failed task
        if i % 3 == 0:
            summary_chain.invoke({"q": text}, config={"callbacks": [handler], "metadata": {**meta, "feature": "ticket_summary"}})
        if (i + 1) % 50 == 0 or i + 1 == total:
            print(f"\rreplaying Banking77 queries: {i + 1}/{total}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    elapsed = time.perf_counter() - t0
    handler.flush()
    reports = handler.ledger.reports()

    print(f"Replayed {total} real Banking77 customer queries through 3 LangChain chains in {elapsed:.1f}s.", file=out)
    print(f"Ledger: {ledger_path}  (try: llm-cost report {ledger_path} --by tenant,feature)\n", file=out)
    for title, rows in (
        ("Cost by tenant", reports.totals(by="tenant")),
        ("Cost by feature and model", reports.totals(by="feature,model")),
        ("Tasks: cost per successful task (failed attempts and retries included)", reports.tasks(by="feature", failure_policy="root_error")),
        ("Cache savings", reports.cache_savings()),
    ):
        print(title, file=out)
        print(format_rows(rows), file=out)
        print(file=out)
    handler.tracker.close()
    return 0
