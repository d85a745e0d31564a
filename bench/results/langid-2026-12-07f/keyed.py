"""Keyed answers (an FAQ id per stored question), the path the defaults do serve from:
each stored question of pairs.tsv (Latin-script languages past es/de/fr) in five wordings under one answer
key, then every query looked up. Counts near-miss / unrelated / different queries served
another question's answer, and same-meaning ones served theirs. Usage: keyed.py TSV."""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter

from llm_cost_hooks.cache import CacheConfig, CacheCore, CacheScope, EmbeddedBackend
from llm_cost_hooks.embeddings import default_embedder

PADS = {
    "nl": ["{q}", "Hallo, {q}", "Korte vraag: {q}", "{q} Bedankt.", "Goedemiddag. {q}"],
    "sv": ["{q}", "Hej, {q}", "En snabb fråga: {q}", "{q} Tack.", "God dag. {q}"],
    "id": ["{q}", "Halo, {q}", "Mau tanya: {q}", "{q} Terima kasih.", "Selamat siang. {q}"],
    "tl": ["{q}", "Hello po, {q}", "Tanong lang: {q}", "{q} Salamat po.", "Magandang araw. {q}"],
    "fi": ["{q}", "Hei, {q}", "Lyhyt kysymys: {q}", "{q} Kiitos.", "Hyvää päivää. {q}"],
    "sw": ["{q}", "Habari, {q}", "Swali fupi: {q}", "{q} Asante.", "Habari za mchana. {q}"],
    "vi": ["{q}", "Xin chào, {q}", "Cho tôi hỏi: {q}", "{q} Cảm ơn.", "Chào bạn. {q}"],
    "af": ["{q}", "Hallo, {q}", "Vinnige vraag: {q}", "{q} Dankie.", "Goeiemiddag. {q}"],
}
ESC = re.compile(r"\\u([0-9a-fA-F]{4})|\\n")


def unescape(t: str) -> str:
    return ESC.sub(lambda m: "\n" if m.group(0) == "\\n" else chr(int(m.group(1), 16)), t)


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["set"] in PADS]
    emb = default_embedder()
    for lang, pads in PADS.items():
        pairs = [(r["label"], unescape(r["stored"]), unescape(r["query"])) for r in rows if r["set"] == lang]
        stored = sorted({s for _, s, _ in pairs})
        core = CacheCore(EmbeddedBackend(), embedder=emb, config=CacheConfig(audit_sample_rate=0.0), seed=0)
        for i, q in enumerate(stored):
            for pad in pads:
                scope = CacheScope(tenant="t", answer_key=f"faq-{i}")
                core.update(core.request(pad.format(q=q), llm_string="m", scope=scope), f"answer {i}")
        c: Counter[str] = Counter()
        for label, s, q in pairs:
            c[label + "_n"] += 1
            hit = core.lookup(core.request(q, llm_string="m", scope=CacheScope(tenant="t")))
            if hit is None:
                continue
            own = f"answer {stored.index(q)}" if q in stored else None
            if hit.entry.answer == own:
                continue
            if label == "para" and hit.entry.answer == f"answer {stored.index(s)}":
                c["para"] += 1
            elif label != "para":
                c[label] += 1
                print("    WRONG", lang, label, s, "/", q)
        print(lang, " ".join(f"{k} {c[k]}/{c[k + '_n']}" for k in ("near", "unrel", "para")))


if __name__ == "__main__":
    main()
