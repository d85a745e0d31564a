"""Scenario 7: SIGTERM or sys.exit while records are queued. Variants: the store keeps up
(records queued by a burst), and the store is locked by another process (every record
queued). Expected: every started call is a row or a dead-letter line; the closed: line says so."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import dead_letter_lines, fresh_dir, sqlite_rows, verdict

CHILD = r"""
import os, sys, logging
sys.path.insert(0, sys.argv[1])
from common import make_chain
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from llm_cost_hooks.langchain import CostCallbackHandler
handler = CostCallbackHandler(ledger="sqlite:///llm_costs.db")
call = make_chain(handler)
how, n = sys.argv[2], int(sys.argv[3])
fd = os.open("progress", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
call(-1); handler.flush()  # the ledger exists
os.write(fd, b"ready\n")
for i in range(n):
    os.write(fd, b"s\n")
    call(i)
    os.write(fd, b"e\n")
    if how == "exit" and i == n - 1:
        sys.exit(3)
while True:
    call(10**6)
"""


def one(how: str, locked: bool) -> bool:
    work = fresh_dir(f"s7-{how}-{'locked' if locked else 'free'}")
    n = 300
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, os.path.dirname(os.path.abspath(__file__)), how, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    while "ready" not in (Path("progress").read_text() if Path("progress").exists() else ""):
        time.sleep(0.01)
    lock = None
    if locked:
        lock = sqlite3.connect("llm_costs.db", timeout=0)
        lock.execute("begin exclusive")
    if how == "sigterm":
        while Path("progress").read_text().count("e\n") < 150:
            time.sleep(0.005)
        p.send_signal(signal.SIGTERM)
    if locked:
        time.sleep(8)  # longer than the exit deadline (5 s): what is queued must be set aside
        lock.rollback()
        lock.close()  # unlocked at exit: the exit may write or set aside
    out, _ = p.communicate(timeout=60)
    prog = Path("progress").read_text()
    started, ended = prog.count("s\n") + 1, prog.count("e\n") + 1  # + the first call
    rows = sqlite_rows(work / "llm_costs.db")
    dl = dead_letter_lines(work / "llm_costs.db.dead-letter.jsonl")
    ok = ended <= rows + dl <= started
    print(
        f"--- {how} locked={locked}: rc={p.returncode} started={started} ended={ended} rows={rows} set_aside={dl}"
    )
    print("\n".join(ln for ln in out.splitlines() if "llm_cost_hooks" in ln or "Error" in ln)[-3000:])
    verdict(f"s7 {how} locked={locked}", ok, f"{rows}+{dl} of {ended}..{started}")
    return ok


if __name__ == "__main__":
    for how in ("exit", "sigterm"):
        for locked in (False, True):
            one(how, locked)
