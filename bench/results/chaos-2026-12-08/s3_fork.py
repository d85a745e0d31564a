"""Scenario 3: fork after the handler has recorded (the parent has a live writer thread).
3a os.fork children (one ends with sys.exit, one flushes and os._exit); 3b multiprocessing
Pool with the fork start method; 3c gunicorn --preload with 2 workers. Every child's records
land, and a user id hashes to the same value in parent and children (one salt)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import dead_letter_lines, fresh_dir, make_chain, sqlite_rows, verdict

HERE = os.path.dirname(os.path.abspath(__file__))

handler = None
call = None


def users(db: Path) -> dict[str, set[str]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out: dict[str, set[str]] = {}
    for feature, user in con.execute("select feature, user from cost_records"):
        out.setdefault(user or "", set()).add(feature or "")
    con.close()
    return out


def pool_work(i: int) -> int:
    call(i, feature="pool")
    return i


def salt_ok(db: Path) -> bool:
    # 7 distinct user ids are used everywhere: one salt gives exactly 7 hashes
    return len([u for u in users(db) if u]) == 7


def scen_fork() -> None:
    global handler, call
    work = fresh_dir("s3a")
    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger=f"sqlite:///{work}/llm_costs.db")
    call = make_chain(handler)
    for i in range(20):
        call(i, feature="parent")
    kids = []
    for how in ("sys.exit", "flush+os._exit", "sys.exit"):
        pid = os.fork()
        if pid == 0:
            for i in range(25):
                call(i, feature=f"child-{how}")
            if how == "sys.exit":
                sys.exit(0)
            handler.flush()
            os._exit(0)
        kids.append(pid)
        for i in range(5):
            call(100 + i, feature="parent")
    codes = [os.waitpid(k, 0)[1] for k in kids]
    handler.flush()
    rows = sqlite_rows(work / "llm_costs.db")
    dl = dead_letter_lines(work / "llm_costs.db.dead-letter.jsonl")
    n = 20 + 15 + 75
    print(
        f"os.fork: exit codes {codes} rows={rows} set_aside={dl} of {n}; users={len(users(work / 'llm_costs.db'))}"
    )
    verdict(
        "s3a os.fork",
        rows == n and salt_ok(work / "llm_costs.db"),
        f"rows {rows} of {n}, 7 user hashes: {salt_ok(work / 'llm_costs.db')}",
    )


def scen_pool() -> None:
    global handler, call
    work = fresh_dir("s3b")
    from llm_cost_hooks.langchain import CostCallbackHandler

    handler = CostCallbackHandler(ledger=f"sqlite:///{work}/llm_costs.db")
    call = make_chain(handler)
    for i in range(20):
        call(i, feature="parent")
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        got = pool.map(pool_work, range(200), chunksize=10)
    with ctx.Pool(2) as pool:  # close/join instead of terminate
        got += pool.map(pool_work, range(100), chunksize=10)
        pool.close()
        pool.join()
    handler.flush()
    time.sleep(0.5)
    rows = sqlite_rows(work / "llm_costs.db")
    n = 20 + len(got)
    print(f"multiprocessing fork pool: rows={rows} of {n}")
    verdict("s3b mp fork pool", rows == n and salt_ok(work / "llm_costs.db"), f"rows {rows} of {n}")


def scen_salt(kind: str) -> None:
    """The parent records with no user before it forks: the salt does not exist yet, and
    4 children make it at once. One salt must win: 7 user ids, 7 hashes."""
    work = fresh_dir(f"s3d-{kind}")
    from llm_cost_hooks.langchain import CostCallbackHandler

    url = f"sqlite:///{work}/llm_costs.db" if kind == "sqlite" else f"jsonl://{work}/llm_costs.jsonl"
    h = CostCallbackHandler(ledger=url)
    c = make_chain(h)
    for i in range(5):
        c(i, feature="parent", user_id=None)
    kids = []
    for k in range(4):
        pid = os.fork()
        if pid == 0:
            for i in range(14):
                c(i, feature=f"child{k}")
            h.flush()
            os._exit(0)
        kids.append(pid)
    for k in kids:
        os.waitpid(k, 0)
    h.flush()
    recs = [r for r in h.tracker.ledger.records() if r.user]
    hashes = {r.user for r in recs}
    verdict(
        f"s3d salt made by 4 children at once ({kind})",
        len(recs) == 56 and len(hashes) == 7,
        f"{len(recs)} records with a user, {len(hashes)} distinct hashes of 7 user ids",
    )


APP = r"""
import os, sys
sys.path.insert(0, os.environ["CHAOS_HERE"])
from common import make_chain
from llm_cost_hooks.langchain import CostCallbackHandler
handler = CostCallbackHandler(ledger="sqlite:///" + os.environ["CHAOS_DB"])
call = make_chain(handler)
call(0, feature="preload")  # the master records before it forks: a live writer thread
def app(environ, start_response):
    i = int(environ.get("QUERY_STRING") or 0)
    call(i, feature="worker")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""


def scen_gunicorn() -> None:
    work = fresh_dir("s3c")
    Path("app.py").write_text(APP)
    gun = Path(sys.executable).with_name("gunicorn")
    if not gun.exists():
        print("gunicorn not installed: skipped")
        return
    port = 18763
    env = {**os.environ, "CHAOS_HERE": HERE, "CHAOS_DB": str(work / "llm_costs.db"), "PYTHONPATH": str(work)}
    g = subprocess.Popen(
        [str(gun), "--preload", "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/?1", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    pids = set()
    m = 200
    for i in range(2, m + 1):
        pids.add(urllib.request.urlopen(f"http://127.0.0.1:{port}/?{i}", timeout=5).read())
    g.send_signal(signal.SIGTERM)
    out, _ = g.communicate(timeout=60)
    rows = sqlite_rows(work / "llm_costs.db")
    dl = dead_letter_lines(work / "llm_costs.db.dead-letter.jsonl")
    n = 1 + m
    print(f"gunicorn --preload -w 2: workers {len(pids)} rc={g.returncode} rows={rows} set_aside={dl} of {n}")
    print("\n".join(ln for ln in out.splitlines() if "llm" in ln.lower())[-2000:])
    verdict(
        "s3c gunicorn --preload",
        rows + dl == n and salt_ok(work / "llm_costs.db"),
        f"rows {rows}+{dl} of {n}",
    )


if __name__ == "__main__":
    which = sys.argv[1:] or ["fork", "pool", "gunicorn", "salt", "salt-jsonl"]
    for w in which:
        if w == "fork":
            scen_fork()
        elif w in ("salt", "salt-jsonl"):
            scen_salt("jsonl" if w == "salt-jsonl" else "sqlite")
        elif w == "pool":
            scen_pool()
        else:
            scen_gunicorn()
