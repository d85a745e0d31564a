"""Scenario 1b: the disk stays full until the process exits (RLIMIT_FSIZE in a child,
SIGXFSZ ignored). 1b: the dead-letter file still fits: the queued records are set aside, and a
fresh process replays them. 1d: the dead-letter file has room for part of them (60 records
queued, files limited to the size of the ledger's WAL). 1c: nothing more can be written
anywhere (the temp folder too): the records are counted as lost and the log says so."""

from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import dead_letter_lines, fresh_dir, sqlite_rows, verdict

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import os, sys, resource, signal, logging
sys.path.insert(0, sys.argv[1])
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from common import make_chain
from llm_cost_hooks.langchain import CostCallbackHandler
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
handler = CostCallbackHandler(ledger="sqlite:///llm_costs.db")
call = make_chain(handler)
for i in range(40):
    call(i)
handler.flush()
limit = max(os.path.getsize(p) for p in os.listdir(".") if p.startswith("llm_costs.db"))
if sys.argv[2] == "nothing":
    limit = 1  # not even a new line in a new file
    open(os.path.join(os.environ["TMPDIR"], "llm-cost-hooks-dead-letter-%d.jsonl" % os.getuid()), "a").close()
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
for i in range(40, {"nothing": 100, "partial": 100, "aside": 60}[sys.argv[2]]):  # aside: 20 fit under the limit
    call(i)
print("calls done", flush=True)
"""

REPLAY = r"""
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from llm_cost_hooks.ledger import SQLiteLedger, replay_dead_letters
ledger = SQLiteLedger("llm_costs.db")
print("replayed", replay_dead_letters(ledger.dead_letter_path, ledger))
ledger.close()
"""


def run(mode: str) -> None:
    work = fresh_dir(f"s1b-{mode}")
    (work / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(work / "tmp")}
    p = subprocess.run(
        [sys.executable, "-c", CHILD, HERE, mode], capture_output=True, text=True, env=env, timeout=120
    )
    out = p.stdout + p.stderr
    print(f"--- {mode}: rc={p.returncode}")
    print("\n".join(ln for ln in out.splitlines() if "llm_cost_hooks" in ln or "Error" in ln)[-3000:])
    rows = sqlite_rows(work / "llm_costs.db")
    dl = dead_letter_lines(work / "llm_costs.db.dead-letter.jsonl") + sum(
        dead_letter_lines(x) for x in (work / "tmp").glob("*.jsonl")
    )
    import re

    closed = re.findall(r"closed: (\d+) records written, (\d+) set aside in \S+, (\d+) lost", out)
    lost = int(closed[-1][2]) if closed else -1
    print(f"rows={rows} set_aside={dl} lost(closed line)={lost}")
    if mode == "aside":
        r = subprocess.run(
            [sys.executable, "-c", REPLAY], capture_output=True, text=True, env=env, timeout=60
        )
        print(r.stdout.strip(), "\n", r.stderr.strip()[-1500:])
        after = sqlite_rows(work / "llm_costs.db")
        verdict(
            "s1b full until exit, then replay",
            rows + dl == 60 and after == 60,
            f"{rows}+{dl} of 60 at exit, {after} after replay",
        )
    elif mode == "partial":
        # room for part of the 60 set aside at exit: those that fit must be kept
        verdict(
            "s1d room for part of them",
            rows + dl + lost == 100 and dl > 0,
            f"{rows}+{dl} set aside+{lost} lost of 100",
        )
    else:
        verdict(
            "s1c nothing writable",
            rows + dl + lost == 100 and "LOST" in out.upper(),
            f"{rows}+{dl}+{lost} lost of 100",
        )


if __name__ == "__main__":
    for m in sys.argv[1:] or ("aside", "partial", "nothing"):
        run(m)
