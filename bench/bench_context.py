"""Context trimming: how many of the user's earlier constraints survive a history budget.

Run: ``python -m bench context``. Data: MultiWOZ 2.1 validation dialogues
(``../shared/data/conversations/multiwoz21_val``); the rows are skipped, with the reason,
when the file is absent.

Each dialogue is replayed at every user turn: the request is a system prompt, all the
turns before, and that user turn, fitted into a history budget of 150 and 300 tokens.

*Constraint*: a ``(slot, value)`` of an ``*-Inform`` act of an earlier user turn whose
value is written in that turn's text (case-insensitive, whole words): "east", "4",
"friday", "19:45", "bishops stortford". Values the user did not write ("yes" for
parking, "dontcare") are not counted. *Kept*: the value appears, as whole words, in the
trimmed request. The anchor is LangChain's ``trim_messages(strategy="last",
start_on="human", include_system=True)`` on the same inputs with the same token counts.

Variants: ``drop`` (whole turns oldest-first, as ``trim_messages``), ``facts`` (the
default: the fact clauses of dropped user turns in one compact message), ``facts, no
folding`` (no older turns folded in when the line does not fit), ``pin`` (assistant
messages go first, then user messages without a value, then the oldest user messages).
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import Row, time_per_call

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LLM_COST_HOOKS_DATA_DIR", REPO / ".." / "shared" / "data"))
MULTIWOZ = DATA / "conversations" / "multiwoz21_val" / "val.json.zip"
SYSTEM = "You are a helpful travel desk assistant for Cambridge. Answer briefly and book only when asked."
MODEL = "gpt-4o-mini"
BUDGETS = (150, 300)
FACTS_PREFIX = "Earlier in this conversation I said: "


def _contains(haystack: str, value: str) -> bool:
    return re.search(r"(?<![a-z0-9])" + re.escape(value) + r"(?![a-z0-9])", haystack) is not None


def constraints_of(turn: dict[str, Any]) -> list[tuple[str, str]]:
    """The user's stated constraints in one MultiWOZ user turn (see the module docstring)."""
    text = turn["text"].lower()
    out = []
    for act, pairs in (turn.get("dialog_act") or {}).items():
        if not act.endswith("-Inform"):
            continue
        for slot, value in pairs:
            value = str(value).lower().strip()
            if value and value not in ("none", "?") and _contains(text, value):
                out.append((f"{act.split('-')[0]}.{slot}", value))
    return out


def cases(
    dialogues: list[tuple[str, dict[str, Any]]], *, last_only: bool = False
) -> list[tuple[list[dict[str, str]], list[tuple[str, str]]]]:
    """(request messages, earlier constraints) at every user turn that has earlier
    constraints, or only at the last user turn of each dialogue (the longest history)."""
    out = []
    for _, dialog in dialogues:
        log = dialog["log"]
        earlier: list[tuple[str, str]] = []
        mine = []
        for upto in range(0, len(log), 2):
            if earlier:
                messages = [{"role": "system", "content": SYSTEM}]
                messages += [
                    {"role": "user" if i % 2 == 0 else "assistant", "content": t["text"]}
                    for i, t in enumerate(log[: upto + 1])
                ]
                mine.append((messages, list(dict.fromkeys(earlier))))
            earlier += constraints_of(log[upto])
        out += mine[-1:] if last_only else mine
    return out


def _pin(budget: Any, history: int) -> Callable[[list[dict[str, str]]], list[dict[str, str]]]:
    from llm_cost_hooks.budget._facts import fact_clauses

    def trim(messages: list[dict[str, str]]) -> list[dict[str, str]]:
        sizes = [budget.count_message(m, MODEL) for m in messages]
        hist = [i for i, m in enumerate(messages) if m["role"] != "system"]
        last = hist[-1]
        total = sum(sizes[i] for i in hist)
        gone: set[int] = set()
        valueless = [
            i
            for i in hist
            if messages[i]["role"] == "user"
            and not any(f.strong for f in fact_clauses(messages[i]["content"]))
        ]
        order = (
            [i for i in hist if messages[i]["role"] == "assistant" and i != last - 1]
            + valueless
            + [i for i in hist if messages[i]["role"] == "user"]
            + [last - 1]
        )
        for i in order:
            if total <= history:
                break
            if i in gone or i == last:
                continue
            gone.add(i)
            total -= sizes[i]
        return [m for i, m in enumerate(messages) if i not in gone]

    return trim


def _langchain(budget: Any, history: int) -> Callable[[list[dict[str, str]]], list[dict[str, str]]]:
    from langchain_core.messages import convert_to_messages, convert_to_openai_messages
    from langchain_core.messages import trim_messages as lc_trim

    def counter(msgs: list[Any]) -> int:
        return sum(budget.count_message(m, MODEL) for m in convert_to_openai_messages(msgs))

    def trim(messages: list[dict[str, str]]) -> list[dict[str, str]]:
        system = budget.count_message(messages[0], MODEL)
        kept = lc_trim(
            convert_to_messages(messages),
            max_tokens=history + system,
            strategy="last",
            token_counter=counter,
            start_on="human",
            include_system=True,
        )
        return convert_to_openai_messages(kept)  # type: ignore[return-value]

    return trim


def _ours(history: int, **options: Any) -> Callable[[list[dict[str, str]]], list[dict[str, str]]]:
    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets

    fold = options.pop("fold", True)
    budget = ContextBudget(SegmentBudgets(history=history), model=MODEL, **options)
    budget._fold_turns = fold

    def trim(messages: list[dict[str, str]]) -> list[dict[str, str]]:
        return budget.apply(messages).messages

    return trim


def evaluate(
    trim: Callable[[list[dict[str, str]]], list[dict[str, str]]], data: list[Any], history: int, budget: Any
) -> dict[str, float]:
    kept = total = over = system_lost = last_lost = prev_lost = line_tokens = folded_tokens = 0
    t0 = time.perf_counter()
    outputs = [trim(messages) for messages, _ in data]
    seconds = (time.perf_counter() - t0) / max(len(data), 1)
    for (messages, constraints), out in zip(data, outputs):
        text = "\n".join(str(m.get("content") or "") for m in out).lower()
        total += len(constraints)
        kept += sum(_contains(text, value) for _, value in constraints)
        hist = sum(budget.count_message(m, MODEL) for m in out if m["role"] != "system")
        over += hist > history
        system_lost += not out or out[0] != messages[0]
        last_lost += not out or out[-1] != messages[-1]
        prev_lost += len(messages) > 2 and messages[-2] not in out
        line = [m for m in out if str(m.get("content") or "").startswith(FACTS_PREFIX)]
        if line:
            line_tokens += budget.count_message(line[0], MODEL)
            folded_tokens += sum(
                budget.count_message(m, MODEL) for m in messages if m["role"] == "user" and m not in out
            )
    return {
        "kept": kept / max(total, 1),
        "over": over,
        "system_lost": system_lost,
        "last_lost": last_lost,
        "prev_kept": 1 - prev_lost / max(len(data), 1),
        "seconds": seconds,
        "constraints": total,
        "compression": line_tokens / folded_tokens if folded_tokens else None,
    }


def run(quick: bool = False) -> list[Row]:
    if not MULTIWOZ.exists():
        return [
            Row(
                "context",
                "constraints kept",
                float("nan"),
                "%",
                note=f"skipped: MultiWOZ data not found at {MULTIWOZ} (set LLM_COST_HOOKS_DATA_DIR)",
            )
        ]
    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets

    with zipfile.ZipFile(MULTIWOZ) as zf:
        dialogues = sorted(json.load(zf.open("val.json")).items())
    if quick:
        dialogues = dialogues[:100]
    views = {"every user turn": cases(dialogues), "last user turn": cases(dialogues, last_only=True)}
    counting = ContextBudget(SegmentBudgets(), model=MODEL)
    rows: list[Row] = []
    for (view, data), history in ((v, h) for v in views.items() for h in BUDGETS):
        anchor = evaluate(_langchain(counting, history), data, history, counting)
        variants = {
            "drop": _ours(history, keep_facts=False),
            "facts (default)": _ours(history),
            "facts, no folding": _ours(history, fold=False),
            "pin": _pin(counting, history),
        }
        note_base = (
            f"{len(dialogues)} dialogues, {len(data)} requests, {anchor['constraints']} earlier "
            f"constraints; trim_messages kept {anchor['kept']:.1%}, previous reply kept "
            f"{anchor['prev_kept']:.1%}"
        )
        for name, trim in variants.items():
            r = evaluate(trim, data, history, counting)
            default = name == "facts (default)"
            rows.append(
                Row(
                    "context",
                    f"kept @{history} tok, {view}, {name}",
                    100 * r["kept"],
                    "%",
                    "trim_messages",
                    100 * anchor["kept"],
                    target=">= 80% @150, never over, system + last user kept"
                    if default and history == 150
                    else "",
                    ok=(r["kept"] >= 0.8 and not r["over"] and not r["system_lost"] and not r["last_lost"])
                    if default and history == 150
                    else None,
                    note=(
                        f"over budget {r['over']}, system lost {r['system_lost']}, last user lost {r['last_lost']}, "
                        f"reply before the last user turn kept {r['prev_kept']:.1%}, "
                        f"{r['seconds'] * 1e3:.2f} ms/request"
                        + (
                            f", compact message = {r['compression']:.0%} of the user messages it replaces"
                            if r["compression"]
                            else ""
                        )
                        + (f"; {note_base}" if default else "")
                    ),
                )
            )
    rows += _speed_rows(quick)
    return rows


def _speed_rows(quick: bool) -> list[Row]:
    """Time of the compact message: the 100-turn conversation of ``bench budgets``, default
    vs ``keep_facts=False`` (the anchor), interleaved, with and without the count cache."""
    from bench.bench_budgets import _conversation
    from llm_cost_hooks.budget import ContextBudget, SegmentBudgets

    messages = _conversation(100)
    assert messages is not None
    budgets = SegmentBudgets(system=400, policy=500, history=1500, retrieved=3500, tools=1000, output=800)
    number = 20 if quick else 200
    rows = []
    for cache, label in ((4096, "token counts cached"), (0, "no caches")):
        on = ContextBudget(budgets, model=MODEL, cache_size=cache)
        off = ContextBudget(budgets, model=MODEL, cache_size=cache, keep_facts=False)
        t_on, t_off = [], []
        for _ in range(3):
            t_off.append(time_per_call(lambda: off.apply(messages, max_tokens=2000), number=number, warmup=3))
            t_on.append(time_per_call(lambda: on.apply(messages, max_tokens=2000), number=number, warmup=3))
        result = on.apply(messages, max_tokens=2000)
        rows.append(
            Row(
                "context",
                f"trim 100-turn conversation, {label}",
                1e3 * min(t_on),
                "ms",
                "same without keep_facts",
                1e3 * min(t_off),
                note=(
                    f"{result.report()['history']['facts_kept']} clauses kept from "
                    f"{result.dropped_messages} dropped messages; best of 3 interleaved rounds"
                ),
            )
        )
    return rows
