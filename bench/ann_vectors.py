"""Real text embeddings for the nearest-neighbour benchmark (100k vectors, cached).

Texts, in this order, deduplicated after :func:`normalize_query`: every question or user
utterance of the dev sets (Banking77, HWU64, MRPC sentences, MultiWOZ turns, RouterBench
and GSM8K prompts, MT-Bench turns), then, to reach the target count, sentences of the
real model responses stored with RouterBench and GSM8K. Everything is real text; nothing
is a noisy copy of another vector. Each text is embedded once with the cache's default
embedder; the vectors are cached under ``bench/.cache/`` (gitignored) in chunks of 4096 texts and reused.

``python -m bench.ann_vectors`` builds the cache (resumable: it saves every chunk);
``--shard k/n --threads 1`` in ``n`` processes side by side builds it ``n`` times faster
on ``n`` free cores.
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = ROOT / "bench" / ".cache"
TARGET = 100_000  # vectors in the index
QUERIES = 200  # held-out real texts searched against it
TOTAL = TARGET + QUERIES
_CHUNK = 4096
#: The cache's default embedder (vectors are cached under its name).
_DEFAULT_NAME = "all-MiniLM-L6-v2-onnx-int8"


def data_dir() -> Path:
    return Path(os.environ.get("LLM_COST_HOOKS_DATA_DIR", ROOT / ".." / "shared" / "data"))


def _csv(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f)


def _questions(d: Path) -> Iterator[tuple[str, str]]:
    """(source, text) of every question-like text: what users send."""
    sc = d / "semantic_cache"
    for name in ("train", "test"):
        p = sc / "banking77" / f"{name}.csv.gz"
        if p.is_file():
            for r in _csv(p):
                yield "banking77", r["text"]
    p = sc / "hwu64" / "hwu64_kfold1.csv.gz"
    if p.is_file():
        for r in _csv(p):
            yield "hwu64", r.get("answer_from_user") or r.get("answer_from_anno") or ""
    for name in ("train", "test"):
        p = sc / "mrpc" / f"msr_paraphrase_{name}.txt.gz"
        if p.is_file():
            with gzip.open(p, "rt", encoding="utf-8-sig") as f:
                for line in f:
                    cols = line.rstrip("\n").split("\t")
                    if len(cols) == 5 and cols[0] in ("0", "1"):
                        yield "mrpc", cols[3]
                        yield "mrpc", cols[4]
    p = d / "conversations" / "multiwoz21_val" / "val.json.zip"
    if p.is_file():
        with zipfile.ZipFile(p) as z:
            for dialogue in json.load(z.open("val.json")).values():
                for turn in dialogue.get("log", []):
                    yield "multiwoz", turn.get("text", "")
    rb = d / "routing" / "routerbench_train"
    for name in ("arc_challenge_train", "winograde_train", "mbpp_train"):
        p = rb / f"{name}.csv.gz"
        if p.is_file():
            for r in _csv(p):
                try:
                    parts = ast.literal_eval(r["prompt"])
                except (ValueError, SyntaxError):
                    parts = [r["prompt"]]
                for t in parts if isinstance(parts, list) else [parts]:
                    yield "routerbench", str(t)
    gm = d / "routing" / "routellm_gsm8k_mtbench"
    p = gm / "gsm8k_responses.csv.gz"
    if p.is_file():
        for r in _csv(p):
            yield "gsm8k", r["prompt"]
    p = gm / "mt_bench_question.jsonl.gz"
    if p.is_file():
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for line in f:
                for t in json.loads(line).get("turns", []):
                    yield "mtbench", t


_SENT = re.compile(r"(?<=[.!?])\s+|\n+")


def _response_sentences(d: Path) -> Iterator[tuple[str, str]]:
    """Sentences of the real model responses shipped with the routing sets."""
    rb = d / "routing" / "routerbench_train"
    for name in ("arc_challenge_train", "winograde_train", "mbpp_train"):
        p = rb / f"{name}.csv.gz"
        if p.is_file():
            for r in _csv(p):
                for col, val in r.items():
                    if col.endswith("|model_response") and val:
                        for s in _SENT.split(val.replace("\\n", "\n")):
                            yield "routerbench-responses", s
    p = d / "routing" / "routellm_gsm8k_mtbench" / "gsm8k_responses.csv.gz"
    if p.is_file():
        for r in _csv(p):
            for col, val in r.items():
                if col.endswith("_response") and val:
                    for s in _SENT.split(val):
                        yield "gsm8k-responses", s
    p = d / "routing" / "routellm_gsm8k_mtbench" / "mt_bench_judgements.jsonl.gz"
    if p.is_file():
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                for val in (row.get("user_prompt") or "", row.get("judgment") or ""):
                    for s in _SENT.split(val):
                        yield "mtbench-judged", s.strip("#*|<> ")
    p = d / "conversations" / "multiwoz21_val" / "val.json.zip"
    if p.is_file():
        with zipfile.ZipFile(p) as z:
            for dialogue in json.load(z.open("val.json")).values():
                for msg in (dialogue.get("goal") or {}).get("message") or []:
                    for s in _SENT.split(_TAG.sub("", str(msg))):
                        yield "multiwoz-goals", s


_TAG = re.compile(r"<[^>]+>")


def texts(target: int = TARGET) -> tuple[list[str], list[str]]:
    """Up to ``target`` distinct real texts and their sources (questions first)."""
    from llm_cost_hooks.cache import normalize_query

    seen: set[str] = set()
    out: list[str] = []
    src: list[str] = []
    d = data_dir()
    for gen in (_questions(d), _response_sentences(d)):
        for source, t in gen:
            t = t.strip()
            if len(t) < 12 or len(t) > 1000:  # fragments ("A)", code lines) and long prompts
                continue
            n = normalize_query(t)
            if n in seen:
                continue
            seen.add(n)
            out.append(t)
            src.append(source)
            if len(out) >= target:
                return out, src
    return out, src


def _chunk_file(chunk: list[str], emb_name: str) -> Path:
    # Content-addressed: a chunk's vectors are reused whatever the target or the other chunks.
    h = hashlib.sha256(("\n".join(chunk) + "\x00" + emb_name).encode()).hexdigest()[:20]
    return CACHE_DIR / f"ann_chunk_{h}.npy"


def _embedder(threads: int | None = None) -> Any:
    from llm_cost_hooks.embeddings import OnnxEmbedder, default_embedder

    # The cache's own embedder (same name, same vectors); a bulk build may pick its threads.
    return default_embedder() if threads is None else OnnxEmbedder(threads=threads)


def load(
    target: int = TOTAL, *, build: bool = False, shard: tuple[int, int] = (0, 1), threads: int | None = None
) -> tuple[np.ndarray, list[str]] | None:
    """The embedded vectors (float32, unit rows) of the first ``target`` texts and their
    sources; ``None`` when the data is absent or (unless ``build``) some chunk is not built
    yet. ``build`` embeds the missing chunks whose index is ``k`` modulo ``n`` for
    ``shard=(k, n)`` (run ``n`` builders side by side, then one ``load``)."""
    items, src = texts(target)
    if not items:
        return None
    emb = _embedder(threads) if build else None
    name = emb.name if emb is not None else _DEFAULT_NAME
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    parts: list[np.ndarray] = []
    missing = 0
    k, n = shard
    for ci, start in enumerate(range(0, len(items), _CHUNK)):
        chunk = items[start : start + _CHUNK]
        f = _chunk_file(chunk, name)
        if f.is_file():
            parts.append(np.load(f))
            continue
        if not build or ci % n != k:
            missing += 1
            continue
        assert emb is not None
        order = np.argsort([len(t) for t in chunk], kind="stable")  # similar lengths pad less
        vecs = np.zeros((len(chunk), emb.dim), np.float32)
        for i in range(0, len(chunk), 64):
            idx = order[i : i + 64]
            vecs[idx] = emb.embed([chunk[j] for j in idx])
        np.save(f, vecs)
        parts.append(vecs)
        print(
            f"[ann_vectors] chunk {ci} ({start + len(chunk):,}/{len(items):,})", file=sys.stderr, flush=True
        )
    if missing:
        return None
    return np.concatenate(parts), src


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shard", default="0/1", help="k/n: build chunks k, k+n, ... (run n side by side)")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads per builder")
    args = ap.parse_args()
    k, n = (int(x) for x in args.shard.split("/"))
    got = load(build=True, shard=(k, n), threads=args.threads)
    if got is None and n > 1:
        sys.exit(0)  # other shards still building
    if got is None:
        sys.exit("no dev data found under " + str(data_dir()))
    vecs, sources = got
    from collections import Counter

    print(len(vecs), dict(Counter(sources)))
