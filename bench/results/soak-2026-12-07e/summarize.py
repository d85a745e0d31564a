"""Table of a soak's samples: python summarize.py DIR [DIR...] (the --out JSON files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    for d in sys.argv[1:]:
        for f in sorted(Path(d).glob("*.json")):
            r = json.loads(f.read_text())
            s = r["samples"]
            picks = [s[1], s[len(s) // 2], s[-1]]  # the first sample after warm-up, middle, end
            print(f"\n### {d}/{f.stem} ({r['calls']} calls)")
            print("| | calls | s | RSS MB | gc objects | threads | fds | extra |")
            print("|---|---|---|---|---|---|---|---|")
            for name, p in zip(("start", "middle", "end"), picks):
                print(
                    f"| {name} | {p['calls']} | {p['seconds']} | {p['rss_kb'] / 1024:.1f} | {p['gc_objects']} "
                    f"| {p['threads']} | {p['fds']} | {p.get('extra', '')} |"
                )
            if r["growth"]:
                print("\nStructures larger at the end than at the start (start -> middle -> end):")
                for g in r["growth"][:8]:
                    print(f"- `{g['structure']}`: {g['start']} -> {g['middle']} -> {g['end']}")
            for line in r.get("tracemalloc_top") or []:
                print(f"    {line}")


if __name__ == "__main__":
    main()
