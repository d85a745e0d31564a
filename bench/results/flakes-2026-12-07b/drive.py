"""Run the pool test's app N times as the test does; on a hang save stacks and signal state.

    APP=pool_app.py python drive.py N HANG_SECONDS

Prints one line a run: exit code, output, ledger ids, seconds, the number of "waking the
main thread" log lines (pool_app_log.py only), OK or FAIL with the run's folder.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def save(path: Path, text: str, mode: str = "w") -> None:
    with open(path, mode) as fh:
        fh.write(text)


def read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def dump_hang(pid: int, d: Path) -> list[str]:
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [str(pid), *kids]:
        dump = subprocess.run(["py-spy", "dump", "--native", "--pid", p], capture_output=True, text=True)
        save(d / f"dump-{p}.txt", dump.stdout + dump.stderr)
        save(d / f"status-{p}.txt", read(f"/proc/{p}/status"))
        for tid in os.listdir(f"/proc/{p}/task") if os.path.exists(f"/proc/{p}/task") else []:
            save(d / f"status-{p}.txt", f"\n--- task {tid}\n" + read(f"/proc/{p}/task/{tid}/status"), "a")
    return kids


def main() -> None:
    n, hang = int(sys.argv[1]), float(sys.argv[2])
    app = HERE / os.environ.get("APP", "pool_app.py")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    env.pop("LLM_COST_HOOKS_EXIT_TIMEOUT", None)
    env.update(json.loads(os.environ.get("EXTRA_ENV", "{}")))
    for run in range(n):
        d = Path(tempfile.mkdtemp(prefix="pool-"))
        db = d / "costs.db"
        t0 = time.monotonic()
        p = subprocess.Popen(
            [sys.executable, str(app), str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=d,
        )
        try:
            out, err = p.communicate(timeout=hang)
        except subprocess.TimeoutExpired:
            kids = dump_hang(p.pid, d)
            print(f"run {run}: HANG pid {p.pid} children {kids} {d}", flush=True)
            p.kill()
            for k in kids:
                subprocess.run(["kill", "-9", k], check=False)
            save(d / "stderr.txt", p.communicate()[1])
            continue
        dt = time.monotonic() - t0
        try:
            with sqlite3.connect(db) as conn:
                ids = [r[0] for r in conn.execute("select request_id from cost_records")]
        except sqlite3.Error:
            ids = []
        pokes = err.count("waking the main thread")
        ok = p.returncode == 0 and out.split() == ["600"] and len(ids) == len(set(ids)) == 600
        save(d / "stderr.txt", err)
        verdict = "OK" if ok else f"FAIL {d}"
        print(
            f"run {run}: rc={p.returncode} out={out.split()} ids={len(ids)} uniq={len(set(ids))} "
            f"{dt:.1f}s pokes={pokes} {verdict}",
            flush=True,
        )
        if ok:
            shutil.rmtree(d)


if __name__ == "__main__":
    main()
