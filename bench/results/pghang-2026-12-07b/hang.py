"""Driver: a throwaway PostgreSQL 15 (tests/_servers.py), the app (app.py) run from a fresh
venv per variant in an empty directory, the server hung with SIGSTOP at chosen moments.

    PYTHONPATH=tests /work/main/.venv/bin/python bench/results/pghang-2026-12-07b/hang.py ROUNDS

Scenarios (each run A/B interleaved, before then after, ROUNDS times):
  start_hung   every server process stopped before the app starts, continued 5 s after the app is ready
  black_hole   the URL points at a socket that listens and never accepts (start-up only)
  backend_hung the app's own backend stopped for 45 s mid-run (the postmaster answers)
  server_hung  every server process stopped for 10 s mid-run
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from _servers import PostgresServer

HERE = Path(__file__).resolve().parent
VENVS = {"before": "/tmp/pghang_venv_before/bin/python", "after": "/tmp/pghang_venv_after/bin/python"}


def server_pids(pg: PostgresServer) -> list[int]:
    post = pg.process.popen.pid
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(post)], capture_output=True, text=True).stdout
    return [post] + [int(p) for p in out.split()]


def signal_all(pids: list[int], sig: int) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


class App:
    def __init__(self, variant: str, url: str, n: int, rate: float, flush_s: float) -> None:
        self.cwd = tempfile.mkdtemp(prefix="pghang_app_")
        self.t0 = time.time()
        self.proc = subprocess.Popen(
            [VENVS[variant], str(HERE / "app.py"), url, str(n), str(rate), str(flush_s)],
            cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={"PATH": os.environ["PATH"], "LLM_COST_HOOKS_EXIT_TIMEOUT": "5"},
        )  # fmt: skip
        self.events: dict[str, dict] = {}
        self.stderr: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            ev = json.loads(line)
            self.events[ev["event"]] = ev
            if ev["event"] == "ready":
                self._ready.set()

    def ready(self, timeout: float = 60) -> dict:
        assert self._ready.wait(timeout), "app never got ready"
        return self.events["ready"]

    def wait(self) -> float:
        self.proc.wait(timeout=300)
        time.sleep(0.2)
        return time.time() - self.t0


def count(url: str) -> tuple[int, int]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        if conn.execute("SELECT to_regclass('cost_records')").fetchone()[0] is None:
            return 0, 0
        return conn.execute("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM cost_records").fetchone()


def first_landing(url: str, since: float, above: int, limit: float = 120) -> float | None:
    """Seconds from ``since`` until the table holds more than ``above`` rows."""
    while time.time() - since < limit:
        try:
            if count(url)[0] > above:
                return time.time() - since
        except psycopg.Error:
            pass
        time.sleep(0.05)
    return None


def writer_backends(url: str) -> set[int]:
    db = url.rsplit("/", 1)[1]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name='llm-cost-hooks' AND datname=%s", (db,)
        ).fetchall()
    return {r[0] for r in rows}


def start_hung(pg: PostgresServer, variant: str) -> dict:
    url = pg.create_database("s_" + uuid.uuid4().hex[:10])
    n = 200
    pids = server_pids(pg)
    signal_all(pids, signal.SIGSTOP)
    try:
        app = App(variant, url, n, 100.0, 60.0)
        ready = app.ready()
        time.sleep(max(0.0, ready["t"] + 5 - time.time()))
    finally:
        signal_all(pids, signal.SIGCONT)
    cont = time.time()
    landed = first_landing(url, cont, 0)
    wall = app.wait()
    total, distinct = count(url)
    return {"construct_s": round(ready["construct_s"], 3), "import_s": round(ready["import_s"], 3),
            "first_landed_after_cont_s": landed and round(landed, 2), "rows": total, "distinct": distinct,
            "lost": n - distinct - app.events["closed"]["dead_lettered"], "set_aside": app.events["closed"]["dead_lettered"],
            "wall_s": round(wall, 1)}  # fmt: skip


def black_hole(pg: PostgresServer, variant: str) -> dict:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        url = f"postgresql://postgres@127.0.0.1:{sock.getsockname()[1]}/nowhere"
        app = App(variant, url, 20, 100.0, 1.0)
        ready = app.ready()
        wall = app.wait()
    finally:
        sock.close()
    closed = app.events.get("closed", {})
    return {"construct_s": round(ready["construct_s"], 3), "set_aside": closed.get("dead_lettered"),
            "lost": closed.get("dropped"), "wall_s": round(wall, 1)}  # fmt: skip


def backend_hung(pg: PostgresServer, variant: str, hang_s: float = 45.0) -> dict:
    url = pg.create_database("b_" + uuid.uuid4().hex[:10])
    n, rate = 1200, 20.0  # 60 s of calls
    app = App(variant, url, n, rate, 60.0)
    app.ready()
    time.sleep(5)
    (backend,) = writer_backends(url)
    before_rows = count(url)[0]
    os.kill(backend, signal.SIGSTOP)
    stopped = time.time()
    try:
        landed_during = first_landing(url, stopped, before_rows, limit=hang_s)
        time.sleep(max(0.0, stopped + hang_s - time.time()))
        rows_at_cont = count(url)[0]
    finally:
        os.kill(backend, signal.SIGCONT)
    wall = app.wait()
    total, distinct = count(url)
    closed = app.events["closed"]
    return {"first_landed_after_stop_s": landed_during and round(landed_during, 2),
            "rows_written_while_stopped": rows_at_cont - before_rows, "rows": total, "distinct": distinct,
            "set_aside": closed["dead_lettered"], "lost": n - distinct - closed["dead_lettered"], "wall_s": round(wall, 1)}  # fmt: skip


def server_hung(pg: PostgresServer, variant: str, hang_s: float = 10.0) -> dict:
    url = pg.create_database("w_" + uuid.uuid4().hex[:10])
    n, rate = 600, 20.0  # 30 s of calls
    app = App(variant, url, n, rate, 60.0)
    app.ready()
    time.sleep(5)
    pids = server_pids(pg)
    before_rows = count(url)[0]
    signal_all(pids, signal.SIGSTOP)
    try:
        time.sleep(hang_s)
    finally:
        signal_all(pids, signal.SIGCONT)
    cont = time.time()
    landed = first_landing(url, cont, before_rows)
    wall = app.wait()
    total, distinct = count(url)
    closed = app.events["closed"]
    return {"first_landed_after_cont_s": landed and round(landed, 2), "rows": total, "distinct": distinct,
            "set_aside": closed["dead_lettered"], "lost": n - distinct - closed["dead_lettered"], "wall_s": round(wall, 1)}  # fmt: skip


SCENARIOS = {
    "start_hung": start_hung,
    "black_hole": black_hole,
    "backend_hung": backend_hung,
    "server_hung": server_hung,
}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    which = sys.argv[2].split(",") if len(sys.argv) > 2 else list(SCENARIOS)
    pg = PostgresServer()
    pg.start()
    try:
        for name in which:
            for r in range(rounds):
                for variant in ("before", "after"):
                    load = os.getloadavg()[0]
                    res = SCENARIOS[name](pg, variant)
                    print(
                        json.dumps(
                            {
                                "scenario": name,
                                "round": r + 1,
                                "variant": variant,
                                "load1": round(load, 1),
                                **res,
                            }
                        ),
                        flush=True,
                    )
    finally:
        pg.close()


if __name__ == "__main__":
    main()
