"""Run every code block of README.md and docs/*.md as a user would, from the installed wheel.

Each ```python block runs in a fresh interpreter of the given venv, in its own empty
directory. Each line of a ```bash block is run with the venv's ``bin`` first on PATH, in an
empty directory, unless it matches a SKIP rule (the reason is printed). ``pip install .``
lines are checked against the wheel's extras instead of being run.

    python run_docs.py --venv /tmp/dr2-venv --docs /work/wt/docsrun2 > results.txt
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PathDistribution
from pathlib import Path

# Commands that cannot run on this machine as written, and why.
SKIP = [
    (r"^bash scripts/", "a repository script (needs the source checkout, not the wheel)"),
    (r"^pip install -e ", "an editable install of the source checkout"),
    (r"@db\.internal|postgresql://\.\.\.", "names a PostgreSQL host of the reader's own"),
    (r"^export ", "sets a variable for the reader's own services"),
    (r"^ruff |^mypy", "a developer command on the source checkout"),
    (
        r"^litellm --config ",
        "starts the LiteLLM proxy from the checkout's integrations/: run_proxy.sh runs it",
    ),
    (r"^for f in pods/", "loops over the reader's own pod ledgers"),
    (r"\.\.\.|\[--|\|", "a usage synopsis, not a command"),
    (r"--base origin/main|--base REV", "needs a git checkout with prompt files and a ledger"),
    (
        r"^llm-cost (route train|route eval|cache calibrate) ",
        "reads the reader's data file: run_cli.sh runs it on public data",
    ),
]


def blocks(page: Path) -> list[tuple[int, str, str]]:
    text = page.read_text(encoding="utf-8")
    found = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
        found.append((text[: m.start()].count("\n") + 1, m.group(1), m.group(2)))
    return found


def extras_of(venv: Path) -> set[str]:
    for dist in (venv / "lib").glob("python*/site-packages/llm_cost_hooks-*.dist-info"):
        return set(PathDistribution(dist).metadata.get_all("Provides-Extra") or [])
    raise SystemExit("llm_cost_hooks is not installed in " + str(venv))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", type=Path, required=True)
    ap.add_argument("--docs", type=Path, required=True, help="the checkout whose pages to read")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args()
    py = args.venv / "bin" / "python"
    env = {
        **os.environ,
        "PATH": f"{args.venv / 'bin'}:{os.environ['PATH']}",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ORT_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("PYTHONPATH", None)
    extras = extras_of(args.venv)
    pages = [args.docs / "README.md", *sorted((args.docs / "docs").glob("*.md"))]
    counts = {"ok": 0, "FAIL": 0, "skip": 0}
    for page in pages:
        name = page.relative_to(args.docs)
        for line, lang, code in blocks(page):
            if lang == "python":
                with tempfile.TemporaryDirectory(prefix="docsrun-") as cwd:
                    t0 = time.monotonic()
                    out = subprocess.run(
                        [str(py), "-c", code],
                        cwd=cwd,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=args.timeout,
                    )
                    took = time.monotonic() - t0
                status = "ok" if out.returncode == 0 else "FAIL"
                counts[status] += 1
                print(f"{status:4} {name}:{line} python ({took:.1f} s)")
                if status == "FAIL":
                    print("     " + "\n     ".join(out.stderr.strip().splitlines()[-6:]))
                continue
            if lang not in ("bash", "sh", "console"):
                continue
            for i, raw in enumerate(code.splitlines()):
                cmd = raw.split("  #")[0].strip()
                if not cmd:
                    continue
                where = f"{name}:{line + 1 + i}"
                pip = re.match(r"^pip install ['\"]?(?:\.|llm-cost-hooks)(?:\[([\w,-]+)\])?['\"]?$", cmd)
                if pip:
                    wanted = set((pip.group(1) or "").split(",")) - {""}
                    unknown = wanted - extras
                    status = "FAIL" if unknown else "ok"
                    counts[status] += 1
                    print(
                        f"{status:4} {where} {cmd!r}: extras {sorted(wanted) or '-'}"
                        + (f" not in the wheel: {sorted(unknown)}" if unknown else " exist in the wheel")
                    )
                    continue
                reason = next((why for pat, why in SKIP if re.search(pat, cmd)), None)
                if reason:
                    counts["skip"] += 1
                    print(f"skip {where} {cmd!r}: {reason}")
                    continue
                with tempfile.TemporaryDirectory(prefix="docsrun-") as cwd:
                    out = subprocess.run(
                        cmd,
                        shell=True,
                        cwd=cwd,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=args.timeout,
                    )
                status = "ok" if out.returncode == 0 else "FAIL"
                counts[status] += 1
                print(f"{status:4} {where} {cmd!r} (exit {out.returncode})")
                if status == "FAIL":
                    print("     " + "\n     ".join((out.stderr or out.stdout).strip().splitlines()[-4:]))
    print(f"\n{counts['ok']} ok, {counts['FAIL']} failed, {counts['skip']} skipped")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
