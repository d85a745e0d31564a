"""Peak RSS, wall and CPU of `llm-cost ledger copy SOURCE DEST` per build, runs interleaved;
each copy is run twice into the same new destination (the second: everything there already).

python copy_ab.py SOURCE DEST_KIND RUNS NAME=PYTHONPATH [...]
DEST_KIND: sqlite (a new file beside SOURCE) or a postgresql:// URL of a server's database
(a new database is created beside it for each copy, dropped afterwards).
"""

import os
import subprocess
import sys
import time

source, dest_kind, runs, *builds_arg = sys.argv[1:]
builds = [b.split("=", 1) for b in builds_arg]
code = "import sys; from llm_cost_hooks.cli import main; sys.exit(main())"


def run(path: str, dest: str) -> tuple[float, float, float, str]:
    env = dict(os.environ, PYTHONPATH=path)
    t = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-c", code, "ledger", "copy", source, dest],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    out = p.stdout.read() if p.stdout else ""
    _, status, ru = os.wait4(p.pid, 0)
    assert status == 0, status
    return time.perf_counter() - t, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out.strip()


for i in range(int(runs)):
    for name, path in builds:
        if dest_kind == "sqlite":
            dest = f"{os.path.dirname(os.path.abspath(source))}/copy_{name}_{i}.db"
            drop = lambda: os.remove(dest)  # noqa: E731
        else:
            import psycopg

            db = f"copy_{name}_{i}"
            with psycopg.connect(dest_kind, autocommit=True) as c:
                c.execute(f"DROP DATABASE IF EXISTS {db}")
                c.execute(f"CREATE DATABASE {db}")
            dest = dest_kind.rsplit("/", 1)[0] + "/" + db

            def drop() -> None:
                with psycopg.connect(dest_kind, autocommit=True) as c:
                    c.execute(f"DROP DATABASE {db}")

        try:
            for attempt in ("first", "rerun"):
                wall, cpu, rss, out = run(path, dest)
                print(
                    f"{name} run {i + 1} {attempt}: wall {wall:.1f} s  CPU {cpu:.1f} s  peak RSS {rss:.0f} MB  | {out}  "
                    f"| load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        finally:
            drop()
