"""Print the process-CPU rows of the raw outputs here: ``python summary.py */*.txt``."""

import re
import sys

ROWS = [
    (
        "cheap: ours / anchor",
        r"cheap fixed-usage model: CostCallbackHandler overhead \(process CPU, all threads\)",
    ),
    (
        "realistic: ours / anchor",
        r"realistic model: CostCallbackHandler overhead \(process CPU, all threads\)",
    ),
    ("OTel, SQLite, cheap", r"SQLite ledger, cheap model: telemetry overhead \(process CPU, all threads\)"),
    (
        "OTel, SQLite, realistic",
        r"SQLite ledger, realistic model: telemetry overhead \(process CPU, all threads\)",
    ),
    (
        "OTel, memory://, cheap",
        r"memory:// ledger, cheap model: telemetry overhead \(process CPU, all threads\)",
    ),
    (
        "OTel, memory://, realistic",
        r"memory:// ledger, realistic model: telemetry overhead \(process CPU, all threads\)",
    ),
]

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    loads = [
        line.split("load average:")[1].split(",")[0].strip() for line in lines if "load average:" in line
    ]
    done = [line.strip() for line in lines if " done in " in line]
    print(f"{path}: load {loads[0]} -> {loads[-1]}; {'; '.join(done)}")
    for name, pattern in ROWS:
        for line in lines:
            if re.match(r"^(foundation|telemetry)\s+" + pattern + r"\s", line):
                cols = re.split(r"\s{2,}", line.strip())
                value, anchor, ratio = cols[2], cols[5], cols[6]
                spread = ""
                for note in lines:
                    if note.startswith("[") and re.search(pattern + r"\]", note):
                        m = re.search(
                            r"(ratio [\d.]+-[\d.]+x|interval from resampling the rounds [-+\d. to]+us)", note
                        )
                        spread = m.group(1) if m else ""
                shown = ratio if name.endswith("anchor") else f"+{value} us"
                print(f"    {name:28s} {shown:>12s}  (value {value}, anchor {anchor})  {spread}")
