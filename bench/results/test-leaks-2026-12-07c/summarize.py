"""Counts of what leakcheck.py wrote: leaks by thread kind and by file, late-logs, files.

``python summarize.py out.jsonl``
"""

from __future__ import annotations

import collections
import json
import re
import sys


def kind(thread: str) -> str:
    # litellm-logging_3, Thread-14 (process_request_thread): numbered names of one kind.
    return re.sub(r"_\d+$|^Thread-\d+ ", "", thread)


def main(path: str) -> None:
    with open(path) as lines:
        rows = [json.loads(line) for line in lines]
    leaks = [r for r in rows if r["kind"] == "leak"]
    print(f"{path}: {len(leaks)} leaks, {sum(r['kind'] == 'late-log' for r in rows)} late-logs")
    for name, n in collections.Counter(kind(r["thread"]) for r in leaks).most_common():
        print(f"  {n:4d} {name}")
    by_file = collections.Counter((r["test"].split("::")[0], kind(r["thread"])) for r in leaks)
    for (file, name), n in sorted(by_file.items()):
        print(f"  {n:4d} {file} {name}")
    renewers = collections.Counter(
        (r.get("store"), r.get("held"), r.get("guard")) for r in leaks if "lease-renewer" in r["thread"]
    )
    print("  renewers (store, held, guard):", dict(renewers))
    for r in rows:
        if r["kind"] == "late-log":
            print(f"  late-log: {r['owner']} -> during {r['during']}: {r['level']} {r['msg'][:120]}")
        elif r["kind"] == "file":
            print(f"  file: {r['test']}: {r['files']}")


if __name__ == "__main__":
    main(sys.argv[1])
