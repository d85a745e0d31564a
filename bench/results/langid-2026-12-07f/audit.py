"""What the semantic cache serves on text kinds the English dev sets lack, through real
LangChain calls against an installed wheel (see README.md for how it is run).

Each stored question gets its own free-text answer (a chat model that answers every
question with a distinct text, as an LLM app stores its replies). Pairs from
bench/data/cache_text_kinds.tsv plus built conversations (multi-turn follow-ups, long
messages, system prompts, tool results, images) are looked up:

* one-entry: each pair in its own partition (a feature per pair), the stored question alone;
* full: every stored question of a set in one partition, then each query.

Modes: ``default`` (SemanticCache() settings) and ``pair95`` (the documented opt-in
``DecisionPolicy(pair_threshold=0.95)``). Prints served counts per set and label, and the
served pairs. ``--cosines`` prints the embedder's cosine per label for the language sets.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from langchain_core.globals import set_llm_cache
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from llm_cost_hooks.cache import CacheConfig, DecisionPolicy
from llm_cost_hooks.langchain import SemanticCache, cache_scope


class DistinctAnswers(BaseChatModel):
    """Answers each conversation with its own text (same identifying params for all)."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "distinct-answers"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": "gpt-4o-mini"}

    @staticmethod
    def answer(messages: Any) -> str:
        h = hashlib.sha1(repr([m.content for m in messages]).encode()).hexdigest()[:10]
        return f"Answer {h}: a reply written for this question only."

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any) -> ChatResult:
        self.calls += 1
        msg = AIMessage(
            content=self.answer(messages),
            usage_metadata={"input_tokens": 20, "output_tokens": 12, "total_tokens": 32},
            response_metadata={"model_name": "gpt-4o-mini"},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


_ESC = re.compile(r"\\u([0-9a-fA-F]{4})|\\n")


def unescape(s: str) -> str:
    return _ESC.sub(lambda m: "\n" if m.group(0) == "\\n" else chr(int(m.group(1), 16)), s)


def tsv_sets(path: Path) -> dict[str, list[tuple[str, list[Any], list[Any]]]]:
    sets: dict[str, list[tuple[str, list[Any], list[Any]]]] = defaultdict(list)
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            sets[r["set"]].append(
                (r["label"], [HumanMessage(unescape(r["stored"]))], [HumanMessage(unescape(r["query"]))])
            )
    return sets


def built_sets() -> dict[str, list[tuple[str, list[Any], list[Any]]]]:
    """Conversations: multi-turn follow-ups, long text, system prompts, tools, images."""
    out: dict[str, list[tuple[str, list[Any], list[Any]]]] = defaultdict(list)
    sys_a = SystemMessage("You are a bank assistant.")
    convs = [
        ("Can I get a refund for order 1234?", "Yes, within 30 days."),
        ("Do you ship to Norway?", "No, not yet."),
        ("Is my card blocked?", "Yes, since yesterday."),
        ("Which plan is cheaper, Basic or Pro?", "Basic."),
        ("Do you have the blue one or the red one in stock?", "Only the red one."),
    ]
    follow = ["yes", "no", "ok", "why?", "and the other one?", "thanks", "2", "3"]
    for i, (q1, a1) in enumerate(convs):
        for f in follow:
            q2, a2 = convs[(i + 1) % len(convs)]
            out["multiturn"].append(
                (
                    "differ",
                    [sys_a, HumanMessage(q1), AIMessage(a1), HumanMessage(f)],
                    [sys_a, HumanMessage(q2), AIMessage(a2), HumanMessage(f)],
                )
            )
    words = (
        "the customer wrote that the delivery was late and the box was damaged when it arrived "
        "so they would like to know what options they have "
    ).split()
    base = " ".join(words[i % len(words)] for i in range(400))  # well past 256 tokens
    for a, b in [("refund", "replacement"), ("1234", "5678"), ("Monday", "Friday"), ("accept", "reject")]:
        out["long"].append(
            (
                "differ",
                [HumanMessage(f"{base}. Should we {a} it?")],
                [HumanMessage(f"{base}. Should we {b} it?")],
            )
        )
        out["long"].append(
            ("differ", [HumanMessage(f"{base} order {a}")], [HumanMessage(f"{base} order {b}")])
        )
    q = "What is the refund window?"
    out["sysprompt"].append(
        (
            "differ",
            [SystemMessage("You sell shoes."), HumanMessage(q)],
            [SystemMessage("You sell cars."), HumanMessage(q)],
        )
    )
    out["sysprompt"].append(
        (
            "differ",
            [SystemMessage("Answer in French."), HumanMessage(q)],
            [SystemMessage("Answer in German."), HumanMessage(q)],
        )
    )
    call = {"name": "get_order", "args": {"id": "1234"}, "id": "c1", "type": "tool_call"}
    for r1, r2 in [
        ('{"status": "shipped"}', '{"status": "cancelled"}'),
        ('{"total": 100}', '{"total": 5000}'),
    ]:
        out["tool"].append(
            (
                "differ",
                [
                    HumanMessage("Where is order 1234?"),
                    AIMessage("", tool_calls=[call]),
                    ToolMessage(r1, tool_call_id="c1"),
                ],
                [
                    HumanMessage("Where is order 1234?"),
                    AIMessage("", tool_calls=[call]),
                    ToolMessage(r2, tool_call_id="c1"),
                ],
            )
        )
    img = lambda url: HumanMessage(  # noqa: E731
        content=[
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": url}},
        ]
    )
    out["image"].append(
        ("differ", [img("https://example.com/cat.png")], [img("https://example.com/dog.png")])
    )
    out["image"].append(("differ", [img("data:image/png;base64,AAAA")], [img("data:image/png;base64,BBBB")]))
    return out


def served(cache: SemanticCache, model: DistinctAnswers, msgs: list[Any], feature: str) -> str:
    """``miss``, or the tier that served another question's answer (``exact`` / ``semantic``).
    A hit carrying this very question's answer (the same conversation stored by an earlier
    pair of the full cache) counts as a miss: nothing wrong was served."""
    with cache_scope(tenant="audit", feature=feature):
        r = model.invoke(msgs)
    m = r.response_metadata.get("llm_cost_hooks_cache")
    if not m or r.content == model.answer(msgs):
        return "miss"
    return str(m["status"])


def run(mode: str, sets: dict[str, list[Any]]) -> dict[str, Any]:
    cfg = CacheConfig(default=DecisionPolicy(pair_threshold=0.95)) if mode == "pair95" else None
    results: dict[str, Any] = {}
    for how in ("one", "full"):
        cache = SemanticCache(path=":memory:", config=cfg) if cfg else SemanticCache(path=":memory:")
        set_llm_cache(cache)
        model = DistinctAnswers()
        for name, pairs in sets.items():
            counts: Counter[str] = Counter()
            shown = []
            feat = lambda i: f"{name}-{i}" if how == "one" else name  # noqa: E731
            for i, (_, stored, _q) in enumerate(pairs):
                served(cache, model, stored, feat(i))
            for i, (label, stored, query) in enumerate(pairs):
                counts[f"{label}_n"] += 1
                st = served(cache, model, query, feat(i))
                if st != "miss":
                    counts[label] += 1
                    counts[f"{label}_{st}"] += 1
                    shown.append((label, st, str(stored[-1].content)[:70], str(query[-1].content)[:70]))
            results[f"{how}/{name}"] = {"counts": dict(counts), "served": shown}
        set_llm_cache(None)
    return results


def cosines(sets: dict[str, list[Any]]) -> None:
    from llm_cost_hooks.cache import CacheCore

    emb = CacheCore().embedder
    for name in ("es", "de", "fr", "zh", "ru"):
        by: dict[str, list[float]] = defaultdict(list)
        for label, s, q in sets[name]:
            a, b = emb.embed_one(str(s[-1].content)), emb.embed_one(str(q[-1].content))
            by[label].append(float((a * b).sum()))
        print(
            name, {k: (round(min(v), 3), round(sum(v) / len(v), 3), round(max(v), 3)) for k, v in by.items()}
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv", type=Path)
    ap.add_argument("--modes", nargs="+", default=["default", "pair95"])
    ap.add_argument("--cosines", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sets = {**tsv_sets(args.tsv), **built_sets()}
    if args.cosines:
        cosines(sets)
    allres = {}
    for mode in args.modes:
        res = run(mode, sets)
        allres[mode] = res
        for key, r in res.items():
            c = r["counts"]
            line = ", ".join(
                f"{lab} {c.get(lab, 0)}/{c[lab + '_n']}"
                for lab in ("near", "unrel", "para", "same", "differ")
                if lab + "_n" in c
            )
            print(f"{mode:8s} {key:18s} served: {line}")
            for s in r["served"]:
                if s[0] in ("near", "unrel", "differ"):
                    print("    WRONG", s)
    if args.json:
        args.json.write_text(json.dumps(allres, ensure_ascii=False, indent=1), encoding="utf-8")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
