"""Every relative link of README.md, docs/*.md and the notebooks' markdown cells resolves,
and every #anchor names a heading of its target (slugs as mkdocs' toc makes them).

    python check_links.py CHECKOUT
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

repo = Path(sys.argv[1]).resolve()


def slug(text: str) -> str:  # markdown.extensions.toc.slugify
    text = re.sub(r"`|\*\*|\[(.*?)\]\(.*?\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    seen: dict[str, int] = {}
    out = set()
    for h in re.findall(r"^#+\s+(.*?)\s*#*$", text, flags=re.M):
        s = slug(h)
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}_{n}")
    out |= set(re.findall(r'id="([\w-]+)"', text))
    return out


def texts():
    for p in [
        repo / "README.md",
        *sorted((repo / "docs").glob("*.md")),
        *sorted((repo / "integrations").rglob("README.md")),
    ]:
        yield p, p.read_text(encoding="utf-8")
    for nb in sorted((repo / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        yield nb, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


bad = n = 0
for page, text in texts():
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        n += 1
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            print(f"MISSING {page.relative_to(repo)} -> {target}")
            bad += 1
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            print(f"NO ANCHOR {page.relative_to(repo)} -> {target}")
            bad += 1
print(f"{n} relative links, {bad} broken")
sys.exit(1 if bad else 0)
