"""Shared by the scripts here: a LangChain fake chat model with usage, and ledger counts."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage


def fake_model(n: int) -> GenericFakeChatModel:
    msgs = [
        AIMessage(
            "ok",
            usage_metadata={
                "input_tokens": 1200,
                "output_tokens": 150,
                "total_tokens": 1350,
                "input_token_details": {"cache_read": 200},
            },
            response_metadata={"model_name": "gpt-4o-mini"},
        )
        for _ in range(n)
    ]
    return GenericFakeChatModel(messages=iter(msgs))


def call(handler, model, tag: str) -> None:
    model.invoke(
        "hello",
        config={
            "callbacks": [handler],
            "metadata": {"ls_model_name": "gpt-4o-mini", "ls_provider": "openai", "tenant_id": tag},
        },
    )


def ledger_url(kind: str, work: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{work / 'costs.db'}"
    if kind == "jsonl":
        return f"jsonl:///{work / 'costs.jsonl'}"
    if kind == "pgdown":  # a PostgreSQL ledger whose server is down: records are set aside
        return "postgresql://postgres@127.0.0.1:9/llm_costs?connect_timeout=2"
    return os.environ["FORK_PG_URL"]


def counts(kind: str, work: Path) -> dict[str, object]:
    """Records per tenant, duplicates of request ids, dollars, dead-letter lines."""
    rows: list[tuple[str, str, float]] = []
    if kind == "sqlite":
        with sqlite3.connect(work / "costs.db") as c:
            rows = c.execute("SELECT request_id, tenant, cost_usd FROM cost_records").fetchall()
    elif kind == "jsonl":
        for line in (work / "costs.jsonl").read_text().splitlines():
            d = json.loads(line)
            if "task_outcome" not in d:
                rows.append((d["request_id"], d["tenant"], d["cost_usd"]))
    elif kind == "postgres":
        import psycopg

        with psycopg.connect(os.environ["FORK_PG_URL"]) as c:
            rows = c.execute("SELECT request_id, tenant, cost_usd FROM cost_records").fetchall()
    ids = [r[0] for r in rows]
    per: dict[str, int] = {}
    for _, t, _ in rows:
        per[t] = per.get(t, 0) + 1
    dead = 0
    for p in work.glob("*.dead-letter.jsonl"):
        dead += sum(1 for line in p.read_text().splitlines() if line.strip())
    return {
        "records": len(rows),
        "duplicates": len(ids) - len(set(ids)),
        "usd": round(sum(float(r[2] or 0) for r in rows), 6),
        "zero_usd": sum(1 for r in rows if not r[2]),
        "per_tenant": dict(sorted(per.items())),
        "dead_letter_lines": dead,
    }
