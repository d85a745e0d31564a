"""A role that may only read (a dashboard's) runs `llm-cost report` of each release on a
database of schema 2 that a release of that schema wrote."""

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tests"))
import run_upgrade as ru  # noqa: E402
from _servers import PostgresServer  # noqa: E402

CLI = "import sys; from llm_cost_hooks.cli import main; sys.exit(main())"
pg = PostgresServer().start()
try:
    url = pg.create_database("rep")
    print("old-write", ru.run("v3", "writer.py", url, "old", 100, 0))
    print(ru.psql(pg, url, "CREATE ROLE reader LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader"))
    reader = url.replace("postgres@", "reader@")
    with tempfile.TemporaryDirectory() as d:
        for rel in ("v3", "new"):
            done = subprocess.run(
                [sys.executable, "-c", CLI, "report", reader],
                env=ru.env(rel),
                capture_output=True,
                text=True,
                cwd=d,
            )
            print(f"--- {rel}: exit {done.returncode}\n{done.stdout[-800:]}\n{done.stderr[-800:]}")
finally:
    pg.close()
