"""Process CPU of the exact-tier key (the old NFKC + casefold against the new
normalize_query) and of the semantic refusal check, per text, in interleaved rounds."""

from __future__ import annotations

import csv
import gzip
import re
import statistics
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from llm_cost_hooks.cache._scope import normalize_query as new  # noqa: E402
from llm_cost_hooks.cache._textkind import semantic_refusal  # noqa: E402

_WS = re.compile(r"\s+")


def old(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def main() -> None:
    data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data") / "semantic_cache"
    with gzip.open(data_dir / "banking77" / "test.csv.gz", "rt", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    with open(ROOT / "bench" / "data" / "cache_text_kinds.tsv", encoding="utf-8") as f:
        other = [r["query"] for r in csv.DictReader(f, delimiter="\t") if r["set"] in ("zh", "ru", "es")]
    runs = {
        "old": (old, texts),
        "new": (new, texts),
        "old_nonascii": (old, other),
        "new_nonascii": (new, other),
        "refusal": (semantic_refusal, texts),
    }
    res: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(7):
        for name, (fn, data) in runs.items():
            t = time.process_time()
            for _ in range(3):
                for x in data:
                    fn(x)
            res[name].append((time.process_time() - t) / (3 * len(data)) * 1e6)
    for k, v in res.items():
        print(
            f"{k:14s} median {statistics.median(v):.2f} us/text  min {min(v):.2f} max {max(v):.2f} (7 interleaved rounds)"
        )


if __name__ == "__main__":
    main()
