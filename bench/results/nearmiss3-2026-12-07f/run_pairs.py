"""Shipped defaults against a pair set (default: bench/data/cache_nearmiss_kinds3.jsonl). Run from
an empty directory with the installed wheel (or PYTHONPATH=<worktree>):
python run_pairs.py --pairs <file.jsonl> [--background] [--out results.json]

A copy of ../nearmiss-2026-12-07/run_pairs.py with the Banking77 neighbourhood added to the
LangChain settings (full+b77-keyed / full+b77-free: every stored question plus Banking77 train
questions, all 10,003 or a seeded sample of --b77-n, keyed by intent or each with its own
free-text answer).

Settings (all with the defaults, nothing calibrated):
  one-keyed / one-free : SemanticCache() as the quick start sets it up, one tenant per pair:
                         store the stored question (keyed: cache_scope(answer_key=...)), ask
                         the request.
  full-keyed / full-free: one tenant holding every stored question (each its own answer).
  full-keyed+b77       : the same plus Banking77 train (10,003 entries keyed by intent).
  repeated-keyed       : each stored question stored in five paddings under one key (the
                         neighbourhood the default policy serves from), one tenant for all.
  contrast-only        : contrast_flags(request, stored) == [] (what passes the veto).
A near-miss is "served" when any semantic hit is returned; a paraphrase is "served" when the
hit carries the stored question's answer.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAD = ["{q}", "Hi, {q}", "Quick question: {q}", "{q} Thanks!", "Hello there. {q}"]


def load(dev: str | None = None, pairs: str = "pairs.jsonl") -> list[dict]:
    if dev:  # minimal_pairs_dev/pairs.tsv: kind, stored, query; all near-misses
        with open(dev, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, dialect="excel-tab"))
        return [
            {
                "kind": r["kind"],
                "stored": r["stored"],
                "request": r["query"],
                "same_answer": False,
                "half": "fix",
            }
            for r in rows
        ]
    return [json.loads(x) for x in (HERE / pairs).read_text().splitlines()]  # absolute paths too


B77_N = 10_003  # --b77-n: the LangChain settings fill through real calls, which is slow


def _b77() -> list[tuple[str, str]]:
    import random

    path = Path("/work/shared/data/semantic_cache/banking77/train.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = [(x["text"], x["category"]) for x in csv.DictReader(f)]
    return rows if len(rows) <= B77_N else random.Random(0).sample(rows, B77_N)


def lc_settings(rows: list[dict], background: bool = False) -> dict[str, list[bool]]:
    from langchain_core.globals import set_llm_cache

    from llm_cost_hooks.langchain import (
        CostCallbackHandler,
        FakeChatModelWithUsage,
        SemanticCache,
        cache_scope,
    )

    out: dict[str, list[bool]] = {}
    stored = sorted({r["stored"] for r in rows})
    sid = {s: i for i, s in enumerate(stored)}
    b77 = _b77() if background else []
    for keyed in (True, False):
        for layout in ("one", "full", "full+b77") if background else ("one", "full"):
            cache = SemanticCache(path=":memory:")
            set_llm_cache(cache)
            handler = CostCallbackHandler(ledger="memory://")
            cfg = {"callbacks": [handler]}

            def model(ans: str) -> FakeChatModelWithUsage:
                return FakeChatModelWithUsage(model_name="gpt-4o", responses=[ans])

            def put(tenant: str, s: str) -> None:
                kw = {"answer_key": f"faq-{sid[s]}"} if keyed else {}
                with cache_scope(tenant=tenant, **kw):
                    model(f"answer {sid[s]}").invoke(s, config=cfg)

            if layout != "one":
                for s in stored:
                    put("all", s)
            if layout == "full+b77":
                for j, (text, intent) in enumerate(b77):
                    kw = {"answer_key": intent} if keyed else {}
                    with cache_scope(tenant="all", **kw):
                        ans = f"b77 {intent}" if keyed else f"b77 {intent} #{j}"
                        model(ans).invoke(text, config=cfg)
            served = []
            for i, r in enumerate(rows):
                tenant = f"p{i}" if layout == "one" else "all"
                if layout == "one":
                    put(tenant, r["stored"])
                with cache_scope(tenant=tenant):
                    msg = model("fresh answer").invoke(r["request"], config=cfg)
                meta = msg.response_metadata.get("llm_cost_hooks_cache", {})
                served.append(msg.content if meta.get("status") == "semantic" else None)
            out[f"{layout}-{'keyed' if keyed else 'free'}"] = served
            set_llm_cache(None)
    return out


def core_settings(rows: list[dict], background: bool) -> dict[str, list[bool]]:
    from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend
    from llm_cost_hooks.cache._contrast import contrast_flags
    from llm_cost_hooks.embeddings import default_embedder

    emb = default_embedder()
    stored = sorted({r["stored"] for r in rows})
    sid = {s: i for i, s in enumerate(stored)}
    out: dict[str, list[bool]] = {}
    sc = CacheScope(tenant="t")

    def new() -> CacheCore:
        return CacheCore(EmbeddedBackend(), embedder=emb, config=CacheConfig(), seed=0)

    def ask(core: CacheCore) -> list[bool]:
        res = []
        for r in rows:
            h = core.lookup(core.request(r["request"], llm_string="m", scope=sc))
            res.append(None if h is None else str(h.entry.answer))
        return res

    core = new()
    for s in stored:
        for p in PAD:
            t = p.format(q=s)
            core.update(
                core.request(t, llm_string="m", scope=CacheScope(tenant="t", answer_key=f"faq-{sid[s]}")),
                f"answer {sid[s]}",
            )
    out["repeated-keyed"] = ask(core)
    if background:
        path = Path("/work/shared/data/semantic_cache/banking77/train.csv.gz")
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            b = list(csv.DictReader(f))
        core = new()
        for s in stored:
            core.update(
                core.request(s, llm_string="m", scope=CacheScope(tenant="t", answer_key=f"faq-{sid[s]}")),
                f"answer {sid[s]}",
            )
        for x in b:
            core.update(
                core.request(
                    x["text"], llm_string="m", scope=CacheScope(tenant="t", answer_key=x["category"])
                ),
                f"b77 {x['category']}",
            )
        out["full-keyed+b77"] = ask(core)
    out["contrast-only"] = [
        None if contrast_flags(r["request"], r["stored"]) else f"answer {sid[r['stored']]}" for r in rows
    ]
    return out


def table(rows: list[dict], res0: dict[str, list]) -> str:
    """A near-miss counts as served when it gets its stored question's answer; a hit with
    another entry's answer is listed apart (judged by hand: it may be right)."""
    lines = []
    stored = sorted({r["stored"] for r in rows})
    sid = {s: i for i, s in enumerate(stored)}
    res = {n: [a == f"answer {sid[r['stored']]}" for r, a in zip(rows, v)] for n, v in res0.items()}
    others = {
        n: [(r, a) for r, a in zip(rows, v) if a is not None and a != f"answer {sid[r['stored']]}"]
        for n, v in res0.items()
    }
    kinds = sorted({r["kind"] for r in rows})
    for name, served in res.items():
        lines.append(f"\n## {name}: near-misses served / paraphrases served (per kind; fix half, check half)")
        tot = defaultdict(lambda: [0, 0])
        for k in kinds:
            cells = []
            for half in ("fix", "check"):
                nm = [
                    s
                    for r, s in zip(rows, served)
                    if r["kind"] == k and r["half"] == half and not r["same_answer"]
                ]
                pp = [
                    s
                    for r, s in zip(rows, served)
                    if r["kind"] == k and r["half"] == half and r["same_answer"]
                ]
                cells.append(f"{half}: NM {sum(nm)}/{len(nm)} PP {sum(pp)}/{len(pp)}")
                for key, lst in (("nm" + half, nm), ("pp" + half, pp)):
                    tot[key][0] += sum(lst)
                    tot[key][1] += len(lst)
            lines.append(f"{k:12s} " + " | ".join(cells))
        lines.append(
            "TOTAL        "
            + " | ".join(
                f"{h}: NM {tot['nm' + h][0]}/{tot['nm' + h][1]} PP {tot['pp' + h][0]}/{tot['pp' + h][1]}"
                for h in ("fix", "check")
            )
        )
        leaks = [
            f"  [{r['kind']}/{r['half']}] {r['stored']} -> {r['request']}"
            for r, s in zip(rows, served)
            if s and not r["same_answer"]
        ]
        if leaks:
            lines.append("near-misses served:")
            lines += leaks
        if others[name]:
            lines.append("hits with another entry's answer (request -> answer served):")
            lines += [
                f"  [{r['kind']}/{'P' if r['same_answer'] else 'NM'}] {r['request']} -> {a}"
                for r, a in others[name]
            ]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--background", action="store_true")
    ap.add_argument("--no-lc", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--pairs", default="../../data/cache_nearmiss_kinds3.jsonl", help="a JSONL pair file")
    ap.add_argument("--dev", help="judge minimal_pairs_dev/pairs.tsv instead (shown as the fix half)")
    ap.add_argument("--b77-n", type=int, default=B77_N, help="Banking77 questions in the LangChain settings")
    a = ap.parse_args()
    B77_N = a.b77_n
    rows = load(a.dev, a.pairs)
    t0 = time.time()
    res: dict[str, list] = {} if a.no_lc else lc_settings(rows, a.background)
    res.update(core_settings(rows, a.background))
    print(table(rows, res))
    print(f"\n({time.time() - t0:.0f}s)", file=sys.stderr)
    if a.out:
        Path(a.out).write_text(json.dumps(res))
