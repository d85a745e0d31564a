"""kill -9 a worker making LangChain calls to a PostgreSQL ledger, ROUNDS times; compare what
the next process counts as unwritten with the truth.

    python kill_under_load.py ROUNDS URL [--locked]

(The SQLite version is ../killcount-2026-12-07f/kill_under_load.py.) The counts live in the
ledger's state folder, ``$LLM_COST_HOOKS_STATE_DIR`` (the driver sets it to ``./state``), and
nothing may be left in the working directory.

Each round starts ``python kill_under_load.py --worker URL ROUND TRUTH``: two threads call a
fake chat model through ``CostCallbackHandler`` (PostgreSQL ledger ``URL``, default settings)
as fast as they can, tagging records ``feature=<run>wROUND``, and keep their own truth in a
memory-mapped file: calls started and calls ended (the record of a call is accepted
between the two). A random 0.3-2.0 s after its first call ended, the driver sends SIGKILL.
The next round's worker (and a last process after the final round) finds the dead
worker's counts.
Truth of a round: accepted records minus the rows ``feature=<run>wROUND`` in the ledger; the
call in progress at the kill may or may not have been accepted, so the truth is a range
of at most one per thread. ``--locked``: the driver holds a lock on ``cost_records`` during
each round (a store that does not answer: every record stays queued).
"""

from __future__ import annotations

import json
import mmap
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def worker(db: str, feature: str, truth: str) -> None:
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

    fd = os.open(truth, os.O_RDWR)
    counts = memoryview(mmap.mmap(fd, 32)).cast("q")  # [thread*2]: started, [thread*2+1]: ended
    handler = CostCallbackHandler(ledger=db)
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris is the capital."])
    config = {"callbacks": [handler], "metadata": {"tenant_id": "acme", "feature": feature}}

    def loop(t: int) -> None:
        i = 0
        while True:
            counts[2 * t] += 1
            if i % 3:
                model.invoke("Capital of France?", config=config)
            else:
                for _ in model.stream("Capital of France?", config=config):
                    pass
            counts[2 * t + 1] += 1
            i += 1

    threads = [threading.Thread(target=loop, args=(t,), daemon=True) for t in range(2)]
    for th in threads:
        th.start()
    print("ready", flush=True)
    for th in threads:
        th.join()


def _rows(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT feature, COUNT(*) FROM cost_records GROUP BY feature").fetchall())


def main() -> None:
    if sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    rounds, url, locked = int(sys.argv[1]), sys.argv[2], "--locked" in sys.argv
    work = Path.cwd()
    state = work / "state"
    os.environ["LLM_COST_HOOKS_STATE_DIR"] = str(state)
    run = work / "run"  # the workers' working directory: must stay empty
    run.mkdir(exist_ok=True)
    rng = random.Random(7)
    truths = []
    run_tag = os.urandom(3).hex()  # a database used by an earlier run holds other rows
    import psycopg

    for rnd in range(rounds):
        truth = work / f"truth-{rnd}.bin"
        truth.write_bytes(bytes(32))
        lock = None
        if locked and rnd:
            lock = psycopg.connect(url)
            lock.execute("LOCK TABLE cost_records IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", url, f"{run_tag}w{rnd}", str(truth)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=run,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        while not any(memoryview(truth.read_bytes()).cast("q")[1::2]):  # its first call ended
            time.sleep(0.01)
        time.sleep(rng.uniform(0.3, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if lock is not None:
            lock.rollback()
            lock.close()
        c = memoryview(truth.read_bytes()).cast("q")
        truths.append((proc.pid, c[1] + c[3], c[0] + c[2]))
        truth.unlink()
    # The last worker's files are found by the next process that opens the ledger.
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"from llm_cost_hooks.ledger import PostgresLedger; PostgresLedger({url!r}).close()",
        ],
        check=True,
        stderr=subprocess.DEVNULL,
        cwd=run,
    )
    (folder,) = (state / "ledgers").iterdir()
    counted = {}
    unwritten_log = folder / "llm_costs.unwritten.jsonl"
    if unwritten_log.exists():
        for line in unwritten_log.read_text().splitlines():
            e = json.loads(line)
            counted[e["pid"]] = e
    rows = _rows(url)
    dead_letter = folder / "llm_costs.dead-letter.jsonl"
    set_aside: dict[str, int] = {}
    if dead_letter.exists():
        for line in dead_letter.read_text().splitlines():
            f = json.loads(line).get("record", {}).get("feature")
            set_aside[f] = set_aside.get(f, 0) + 1
    exact = within = 0
    print("round pid ended started written set_aside truth_lo truth_hi counted maybe_written")
    for rnd, (pid, ended, started) in enumerate(truths):
        tag = f"{run_tag}w{rnd}"
        written = rows.get(tag, 0) + set_aside.get(tag, 0)
        e = counted.get(pid, {})
        got = e.get("unwritten", 0)
        lo, hi = ended - written, started - written
        maybe = e.get("maybe_written", 0)
        # Up to maybe_written of the counted ones were being committed at the kill.
        within += lo <= got and got - maybe <= hi
        exact += got == lo == hi
        print(
            rnd,
            pid,
            ended,
            started,
            rows.get(tag, 0),
            set_aside.get(tag, 0),
            lo,
            hi,
            got,
            maybe,
        )
    print(f"{within}/{rounds} counted within the truth range ({exact} where the range is one number)")
    print(f"state folder: {folder.relative_to(work)}")
    print(f"leftover counts files: {os.listdir(folder / 'llm_costs.writers')}")
    print(f"left in the working directory: {os.listdir(run)}")


if __name__ == "__main__":
    main()
