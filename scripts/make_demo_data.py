"""Write the compact demo data shipped in the package (llm_cost_hooks/_demo/data/) from the
full Banking77 and RouterBench files:

    python scripts/make_demo_data.py ../shared/data

Deterministic: fixed row selection by position, gzip without timestamps, so the same inputs
give byte-identical files. The rows are copied as they are (no text is changed or added).
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "llm_cost_hooks" / "_demo" / "data"

# (source path under the data folder, keep(row index) -> bool)
SUBSET = [
    ("semantic_cache/banking77/test.csv.gz", lambda i: True),  # the replayed tickets: all 3,080
    ("semantic_cache/banking77/train.csv.gz", lambda i: i % 4 == 0),  # warm cache + calibration: 2,501
    ("routing/routerbench_train/arc_challenge_train.csv.gz", lambda i: i % 3 != 2),
    ("routing/routerbench_train/winograde_train.csv.gz", lambda i: i % 3 != 2),
    ("routing/routerbench_train/mbpp_train.csv.gz", lambda i: i % 3 != 2),
]


def write_subset(src: Path, dst: Path, keep) -> int:
    with gzip.open(src, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for i, r in enumerate(reader) if keep(i)]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue().encode("utf-8"))
    return len(rows)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[0])
    for rel, keep in SUBSET:
        n = write_subset(root / rel, OUT / rel, keep)
        print(f"{rel}: {n:,} rows, {(OUT / rel).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
