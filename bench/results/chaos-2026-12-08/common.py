"""Helpers shared by the drill scripts: a real LangChain chain with a fake chat model that
reports usage, and counters read straight from the files (no code of the package)."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from pathlib import Path


class Lines(logging.Handler):
    """Keeps every log record of llm_cost_hooks so a drill can count them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def at_least(self, level: int) -> list[str]:
        return [f"{r.levelname} {r.getMessage()}" for r in self.records if r.levelno >= level]


def capture_logs() -> Lines:
    lines = Lines()
    log = logging.getLogger("llm_cost_hooks")
    log.addHandler(lines)
    log.setLevel(logging.DEBUG)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    return lines


def make_chain(handler):
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from llm_cost_hooks.langchain import FakeChatModelWithUsage

    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Within 3-5 business days."])
    chain = (
        ChatPromptTemplate.from_messages([("system", "Support bot."), ("human", "{q}")])
        | llm
        | StrOutputParser()
    )

    def call(i: int, **meta: str) -> str:
        md = {"tenant_id": "acme", "user_id": f"user-{i % 7}", **meta}
        if md["user_id"] is None:  # a call naming no user
            del md["user_id"]
        return chain.invoke({"q": f"question {i}"}, config={"callbacks": [handler], "metadata": md})

    return call


def sqlite_rows(db: str | Path) -> int:
    if not Path(db).exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("select count(*) from cost_records").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0
    finally:
        con.close()


def sqlite_request_ids(db: str | Path) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("select request_id from cost_records")]
    finally:
        con.close()


def dead_letter_lines(path: str | Path) -> int:
    p = Path(path)
    if not p.exists():
        return 0
    n = 0
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            if "record" in json.loads(line):
                n += 1
        except ValueError:
            pass
    return n


def verdict(name: str, ok: bool, detail: str) -> None:
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}", flush=True)


def fresh_dir(name: str) -> Path:
    base = Path(os.environ.get("CHAOS_TMP", "/tmp/chaos_run")) / name
    if base.exists():
        import shutil

        shutil.rmtree(base)
    base.mkdir(parents=True)
    os.chdir(base)
    return base
