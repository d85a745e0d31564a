"""Per-run CostCallbackHandler overhead ratios of foundation_ab.sh's output."""

import re
import sys

run = None
with open(sys.argv[1]) as f:
    lines = f.readlines()
for line in lines:
    if line.startswith("== run"):
        run = line.split(" (")[0][3:] + " | load " + line.split("load ")[1].split(";")[0]
        print(run)
    m = re.match(
        r"\[foundation/(cheap fixed-usage model|realistic model): CostCallbackHandler overhead \((caller-thread CPU|process CPU, all threads)\)\] 90% intervals from resampling the rounds: ratio ([\d.\-x]+), this ([\d.\-]+ µs)",
        line,
    )
    if m:
        print("   ", m.group(1)[:5], m.group(2)[:7], m.group(3), m.group(4))
    m = re.match(
        r"foundation\s+(cheap fixed-usage model|realistic model): CostCallbackHandler overhead \((caller-thread CPU|process CPU, all threads)\)\s+([\d.]+)\s+µs/call\s+UsageMetadataCallbackHandler overhead\s+([\d.]+)\s+([\d.]+x)",
        line,
    )
    if m:
        print("   ", m.group(1)[:5], m.group(2)[:7], f"{m.group(3)} vs anchor {m.group(4)} = {m.group(5)}")
