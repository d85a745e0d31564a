"""Upgrade scenarios from the outside: wheels of older releases write ledgers, the current
release opens them; old and new processes write one PostgreSQL database at once; several
new processes start at once on an empty or an old-schema database; two processes open an
old SQLite file at once.

Each release is a wheel installed with ``pip install --no-deps --target SITE/<name>``; a
process of that release runs the repository venv's Python with PYTHONPATH=SITE/<name>.
Usage (from the repository root):
    python bench/results/upgrade-2026-12-07d/run_upgrade.py SITE [scenario ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "tests"))
from _servers import PostgresServer  # noqa: E402

SITE = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/upgrade-site")
WANT = set(sys.argv[2:])
PY = sys.executable
OLD = ["v1", "v2", "v3"]  # SQLite schema 1, 2, 3; PostgreSQL schema 2 (all three)


def env(rel: str) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(SITE / rel)
    e["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return e


def run(rel: str, script: str, *args: object, cwd: str | None = None) -> dict:
    done = subprocess.run(
        [PY, str(HERE / script), *map(str, args)],
        env=env(rel),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    if done.returncode != 0:
        return {"rc": done.returncode, "stderr": done.stderr[-1500:]}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if done.stderr.strip():
        out["stderr"] = done.stderr.strip()[-4000:]
    return out


def spawn(rel: str, script: str, *args: object, cwd: str | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [PY, str(HERE / script), *map(str, args)],
        env=env(rel),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def result(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=300)
    if p.returncode != 0:
        return {"rc": p.returncode, "stderr": err[-1500:]}
    r = json.loads(out.strip().splitlines()[-1])
    if err.strip():
        r["stderr"] = err.strip()[-800:]
    return r


def brief(rep: dict) -> dict:
    if "records" not in rep:
        return rep
    t = rep["totals"][0] if rep["totals"] else {}
    k = rep["tasks"][0] if rep["tasks"] else {}
    return {
        "records": rep["records"],
        "distinct": rep["distinct_request_ids"],
        "outcomes": rep["outcomes"],
        "distinct_outcomes": rep["distinct_outcomes"],
        "calls": t.get("calls"),
        "cost_usd": round(t.get("cost_usd") or 0, 6),
        "tasks": k.get("tasks"),
        "successful_tasks": k.get("successful_tasks"),
    }


def show(name: str, value: object) -> None:
    print(f"{name}: {json.dumps(value, default=str)}", flush=True)


def psql(pg: PostgresServer, url: str, sql: str) -> str:
    db = url.rsplit("/", 1)[1]
    done = subprocess.run(
        [str(pg.bin / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", db, "-Atc", sql],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return (done.stdout + done.stderr).strip()


def lines(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path) as fh:
        return sum(1 for _ in fh)


def sqlite_state(path: str) -> dict:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return {
            "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
            "indexes": sorted(
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            ),
        }
    finally:
        conn.close()


def main() -> None:
    pg = PostgresServer().start()
    tmp = tempfile.TemporaryDirectory(prefix="upgrade-run-")
    work = tmp.name
    n_db = 0

    def db() -> str:
        nonlocal n_db
        n_db += 1
        return pg.create_database(f"upgrade_{n_db}")

    try:
        if not WANT or "read" in WANT:
            for rel in OLD:
                path = f"{work}/{rel}.db"
                show(f"read/sqlite/{rel}/write", run(rel, "writer.py", path, "acme", 200, 0))
                show(f"read/sqlite/{rel}/old-report", brief(run(rel, "report.py", path)))
                show(f"read/sqlite/{rel}/new-report", brief(run("new", "report.py", path)))
                path = f"{work}/{rel}.jsonl"
                show(f"read/jsonl/{rel}/write", run(rel, "writer.py", path, "acme", 200, 0))
                show(f"read/jsonl/{rel}/old-report", brief(run(rel, "report.py", path)))
                show(f"read/jsonl/{rel}/new-report", brief(run("new", "report.py", path)))
                url = db()
                show(f"read/pg/{rel}/write", run(rel, "writer.py", url, "acme", 200, 0))
                show(f"read/pg/{rel}/old-report", brief(run(rel, "report.py", url)))
                show(f"read/pg/{rel}/new-report", brief(run("new", "report.py", url)))
                show(
                    f"read/pg/{rel}/schema",
                    psql(pg, url, "SELECT string_agg(version::text, ',') FROM llm_cost_schema"),
                )
        if not WANT or "mixed" in WANT:
            # Old first; a new process starts and migrates while the old one keeps writing.
            url = db()
            dl_old = f"{work}/mixed-old.dead-letter.jsonl"
            old = spawn("v3", "writer.py", url, "old", 800, 0.01, dl_old, cwd=work)
            time.sleep(2.0)
            new = spawn("new", "writer.py", url, "new", 300, 0.005, f"{work}/mixed-new.dl.jsonl", cwd=work)
            show("mixed/old-then-new/old", result(old))
            show("mixed/old-then-new/new", result(new))
            show(
                "mixed/old-then-new/schema",
                psql(pg, url, "SELECT string_agg(version::text, ',') FROM llm_cost_schema"),
            )
            show("mixed/old-then-new/dead-letter-lines", lines(dl_old))
            show("mixed/old-then-new/new-report", brief(run("new", "report.py", url)))
            # Reverse: the database is migrated by a new process; an old one starts.
            url = db()
            show("mixed/new-then-old/new", run("new", "writer.py", url, "new", 100, 0))
            dl_old = f"{work}/reverse-old.dead-letter.jsonl"
            show("mixed/new-then-old/old", run("v3", "writer.py", url, "old", 100, 0, dl_old, cwd=work))
            show("mixed/new-then-old/dead-letter-lines", lines(dl_old))
            show("mixed/new-then-old/report-before-copy", brief(run("new", "report.py", url)))
            if os.path.exists(dl_old):
                done = subprocess.run(
                    [
                        PY,
                        "-c",
                        "import sys; from llm_cost_hooks.cli import main; sys.exit(main())",
                        "ledger",
                        "copy",
                        dl_old,
                        url,
                    ],
                    env=env("new"),
                    capture_output=True,
                    text=True,
                    cwd=work,  # not the repository: python -c puts the working directory first
                )
                show(
                    "mixed/new-then-old/copy",
                    (done.returncode, done.stdout.strip()[-400:], done.stderr.strip()[-400:]),
                )
                show("mixed/new-then-old/report-after-copy", brief(run("new", "report.py", url)))
        if not WANT or "old-resend" in WANT:
            # A process of the previous release, running, sends its outcomes again after the
            # migration added their key (as after a lost commit).
            url = db()
            go = f"{work}/go"
            dl = f"{work}/resend.dl.jsonl"
            old = spawn("v3", "writer_dup.py", url, "old", dl, go, cwd=work)
            assert old.stdout is not None
            show("old-resend/old-first", old.stdout.readline().strip())
            show(
                "old-resend/new",
                run("new", "writer.py", url, "new", 100, 0, f"{work}/resend-new.dl.jsonl", cwd=work),
            )
            Path(go).touch()
            show("old-resend/old", result(old))
            show("old-resend/dead-letter-lines", lines(dl))
            show("old-resend/report", brief(run("new", "report.py", url)))
        if not WANT or "rollback" in WANT:
            # Back to the previous release after the migration: its processes refuse version
            # 3 until the owner takes version 3 back (its one index); then they write, and the
            # new release's next process migrates again, keeping each outcome once.
            url = db()
            show("rollback/new", run("new", "writer.py", url, "new", 100, 0))
            undo = "DROP INDEX ux_outcomes_key; DELETE FROM llm_cost_schema WHERE version = 3"
            show("rollback/undo-v3", psql(pg, url, undo))
            show("rollback/old", run("v3", "writer.py", url, "old", 100, 0, f"{work}/rb.dl.jsonl", cwd=work))
            # The old release writes the new release's outcomes again (a copy of each).
            show(
                "rollback/old-again",
                run("v3", "writer.py", url, "new", 100, 0, f"{work}/rb2.dl.jsonl", cwd=work),
            )
            show("rollback/outcomes-before-new", psql(pg, url, "SELECT count(*) FROM task_outcomes"))
            show(
                "rollback/new-again",
                run("new", "writer.py", url, "new2", 100, 0, f"{work}/rb3.dl.jsonl", cwd=work),
            )
            show(
                "rollback/schema",
                psql(pg, url, "SELECT string_agg(version::text, ',' ORDER BY version) FROM llm_cost_schema"),
            )
            show("rollback/report", brief(run("new", "report.py", url)))
        if not WANT or "concurrent" in WANT:
            for start in ("empty", "old-schema"):
                url = db()
                if start == "old-schema":
                    show("concurrent/old-schema/old-write", run("v3", "writer.py", url, "old", 200, 0))
                procs = [
                    spawn("new", "writer.py", url, f"p{i}", 200, 0, f"{work}/c{i}.dl.jsonl", cwd=work)
                    for i in range(8)
                ]
                results = [result(p) for p in procs]
                show(f"concurrent/{start}/processes", results)
                show(
                    f"concurrent/{start}/schema",
                    psql(
                        pg, url, "SELECT string_agg(version::text, ',' ORDER BY version) FROM llm_cost_schema"
                    ),
                )
                show(f"concurrent/{start}/report", brief(run("new", "report.py", url)))
        if not WANT or "sqlite2" in WANT:
            path = f"{work}/big-v1.db"
            show("sqlite2/v1-write", run("v1", "writer.py", path, "old", 20000, 0))
            procs = [spawn("new", "writer.py", path, f"s{i}", 500, 0) for i in range(2)]
            show("sqlite2/processes", [result(p) for p in procs])
            show("sqlite2/report", brief(run("new", "report.py", path)))
            # An old writer keeps writing while a new process migrates its file.
            path = f"{work}/mixed-v3.db"
            show("sqlite2/v3-seed", run("v3", "writer.py", path, "seed", 200, 0))
            old = spawn("v3", "writer.py", path, "old", 800, 0.005)
            time.sleep(1.5)
            new = spawn("new", "writer.py", path, "new", 300, 0.002)
            show("sqlite2/mixed/old", result(old))
            show("sqlite2/mixed/new", result(new))
            show("sqlite2/mixed/report", brief(run("new", "report.py", path)))
        if not WANT or "sqlite-back" in WANT:
            # A file of the current version written by a release of each older version in
            # turn (release v1 sets user_version back to 1 and adds its indexes), then
            # opened by the current release again.
            path = f"{work}/back.db"
            show("sqlite-back/new-write", run("new", "writer.py", path, "new1", 100, 0))
            for rel in OLD:
                show(f"sqlite-back/{rel}-write", run(rel, "writer.py", path, rel, 100, 0))
                show(f"sqlite-back/{rel}-indexes", sqlite_state(path))
                show(f"sqlite-back/{rel}-then-new-write", run("new", "writer.py", path, f"new-{rel}", 100, 0))
                show(f"sqlite-back/{rel}-then-new-indexes", sqlite_state(path))
            show("sqlite-back/report", brief(run("new", "report.py", path)))
        if not WANT or "sqlite-many" in WANT:
            path = f"{work}/many-v1.db"
            show("sqlite-many/v1-write", run("v1", "writer.py", path, "old", 100000, 0))
            t0 = time.monotonic()
            procs = [spawn("new", "writer.py", path, f"m{i}", 500, 0) for i in range(6)]
            show("sqlite-many/processes", [result(p) for p in procs])
            show("sqlite-many/wall_s", round(time.monotonic() - t0, 1))
            show("sqlite-many/report", brief(run("new", "report.py", path)))
        if not WANT or "sqlite-big-mixed" in WANT:
            # A release of schema 1 keeps writing while the current one migrates its large
            # file (the rebuild holds the write lock for seconds).
            path = f"{work}/big-mixed.db"
            for part in range(3):  # under the release's 100,000-record queue each time
                show(
                    f"sqlite-big-mixed/v1-seed-{part}", run("v1", "writer.py", path, f"seed{part}", 90000, 0)
                )
            old = spawn("v1", "writer.py", path, "old", 3000, 0.002)
            time.sleep(1.0)
            t0 = time.monotonic()
            new = spawn("new", "writer.py", path, "new", 300, 0)
            show("sqlite-big-mixed/new", result(new))
            show("sqlite-big-mixed/new_wall_s", round(time.monotonic() - t0, 1))
            show("sqlite-big-mixed/old", result(old))
            show("sqlite-big-mixed/state", sqlite_state(path))
            show("sqlite-big-mixed/report", brief(run("new", "report.py", path)))
    finally:
        pg.close()
        tmp.cleanup()


if __name__ == "__main__":
    main()
