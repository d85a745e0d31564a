"""Time and peak RSS of the common report views over one ledger, for one or two builds of
the package, interleaved (A, B, A, B ...) and repeated.

python views.py LEDGER --repeat 3 [--build NAME=PYTHONPATH ...] [--only VIEW,...]

Each build runs ``/tmp/ls-venv/bin/python`` (the wheel's venv) from an empty directory;
a build's PYTHONPATH (empty: the installed wheel) selects the package under test. Wall
time, user+system CPU and peak RSS come from ``/usr/bin/time``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone

PY = "/tmp/ls-venv/bin/python"

HANDLER = (
    "import sys; from llm_cost_hooks.langchain import CostCallbackHandler; "
    "h = CostCallbackHandler(ledger=sys.argv[1]); rows = h.report(by=sys.argv[2]); "
    "print(len(rows)); h.tracker.ledger.close()"
)


def views(ledger: str, html: str) -> dict[str, list[str]]:
    week = (datetime.now(timezone.utc) - timedelta(days=7)).date().isoformat()
    cli = [PY, "-m", "llm_cost_hooks.cli", "report", ledger]
    return {
        "by tenant,feature": cli + ["--by", "tenant,feature"],
        "by day": cli + ["--by", "day"],
        "show tasks": cli + ["--show", "tasks"],
        "show cache": cli + ["--show", "cache"],
        "since 7 days, by tenant,feature": cli + ["--since", week, "--by", "tenant,feature"],
        "html": cli + ["--html", html, "--show", "totals"],
        "handler.report(tenant)": [PY, "-c", HANDLER, ledger, "tenant"],
    }


def run(cmd: list[str], pythonpath: str, cwd: str) -> tuple[float, float, int, int]:
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=pythonpath)
    with tempfile.NamedTemporaryFile("r") as out:
        p = subprocess.run(
            ["/usr/bin/time", "-o", out.name, "-f", "%e %U %S %M"] + cmd,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall, user, system, rss = out.read().split()[-4:]
    return float(wall), float(user) + float(system), int(rss), p.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ledger")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--build", action="append", default=[])
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    builds = dict(b.split("=", 1) for b in a.build) or {"wheel": ""}
    cwd = tempfile.mkdtemp(prefix="ls-views-")
    html = os.path.join(cwd, "report.html")
    table = views(a.ledger, html)
    only = [v for v in a.only.split(";") if v]
    results: dict[tuple[str, str], list[tuple[float, float, int, int]]] = {}
    for _ in range(a.repeat):
        for name, cmd in table.items():
            if only and name not in only:
                continue
            for build, pp in builds.items():
                results.setdefault((name, build), []).append(run(cmd, pp, cwd))
    print(f"ledger {a.ledger}; {a.repeat} runs each, interleaved; load {os.getloadavg()}")
    print("| view | build | wall s (median, min-max) | CPU s (median) | peak RSS MB (max) | exit |")
    print("|---|---|---|---|---|---|")
    for (name, build), rs in results.items():
        walls = [r[0] for r in rs]
        print(
            f"| {name} | {build} | {statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}) | "
            f"{statistics.median(r[1] for r in rs):.2f} | {max(r[2] for r in rs) / 1024:.0f} | "
            f"{sorted({r[3] for r in rs})} |"
        )
    sys.stdout.flush()
    subprocess.run(["rm", "-rf", cwd], check=False)


if __name__ == "__main__":
    main()
