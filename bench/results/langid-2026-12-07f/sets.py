"""The language sets: hand-written foreign and English rows, the English development sets,
and the seeded split into tune and held-out rows (made before any rule was tuned)."""

from __future__ import annotations

import csv
import gzip
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DATA = Path("/work/shared/data/semantic_cache")


def _tsv(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return [(r[0], r[1]) for r in rows[1:]]


def hand_written() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return _tsv(HERE / "foreign.tsv"), _tsv(HERE / "english.tsv")


def dev_english() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for split in ("train", "test"):
        with gzip.open(DATA / "banking77" / f"{split}.csv.gz", "rt", encoding="utf-8") as f:
            out[f"banking77_{split}"] = [r["text"] for r in csv.DictReader(f)]
    with gzip.open(DATA / "hwu64" / "hwu64_kfold1.csv.gz", "rt", encoding="utf-8") as f:
        out["hwu64"] = [r["answer_from_user"] for r in csv.DictReader(f)]
    mrpc: list[str] = []
    for split in ("train", "test"):
        with gzip.open(DATA / "mrpc" / f"msr_paraphrase_{split}.txt.gz", "rt", encoding="utf-8-sig") as f:
            for line in list(f)[1:]:
                parts = line.rstrip("\n").split("\t")
                mrpc += parts[3:5]
    out["mrpc"] = mrpc
    with (DATA / "minimal_pairs_dev" / "pairs.tsv").open(encoding="utf-8") as f:
        out["minimal_pairs"] = [t for r in list(csv.reader(f, delimiter="\t"))[1:] for t in r[1:3]]
    ct = _tsv_rows(ROOT / "bench" / "data" / "cache_text_kinds.tsv")
    out["cachetext_unicode"] = [t for r in ct if r[0] == "unicode" for t in r[2:4]]
    hl = _tsv(ROOT / "bench" / "results" / "cachetext-2026-12-07e" / "heldout_language.tsv")
    out["cachetext_heldout_en"] = [t for lang, t in hl if lang == "en"]
    return out


def _tsv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]


def cachetext_foreign() -> list[tuple[str, str]]:
    """The Spanish, German and French rows the current rule was written on (not held out)."""
    ct = _tsv_rows(ROOT / "bench" / "data" / "cache_text_kinds.tsv")
    rows = [(r[0], t) for r in ct if r[0] in ("es", "de", "fr") for t in r[2:4]]
    hl = _tsv(ROOT / "bench" / "results" / "cachetext-2026-12-07e" / "heldout_language.tsv")
    return rows + [(lang, t) for lang, t in hl if lang != "en"]


def split(rows: list, seed: int = 20261207) -> tuple[list, list]:
    """Half to tune on, half held out: a seeded shuffle, fixed before any tuning."""
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    half = len(idx) // 2
    return [rows[i] for i in sorted(idx[:half])], [rows[i] for i in sorted(idx[half:])]
