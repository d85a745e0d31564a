"""A database of schema 2 owned by its owner; the application's role may only read and
insert. A new-release process starts as that role before anyone ran `llm-cost ledger migrate`."""

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tests"))
import run_upgrade as ru  # noqa: E402
from _servers import PostgresServer  # noqa: E402

pg = PostgresServer().start()
try:
    owner_url = pg.create_database("roles")
    print("old-write", ru.run("v3", "writer.py", owner_url, "old", 100, 0))
    print(
        ru.psql(
            pg,
            owner_url,
            "CREATE ROLE app LOGIN; GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO app; "
            "GRANT UPDATE ON cost_rollup_hour TO app; GRANT TEMPORARY ON DATABASE roles TO app",
        )
    )
    app_url = owner_url.replace("postgres@", "app@")
    with tempfile.TemporaryDirectory() as d:
        r = ru.run("new", "writer.py", app_url, "new", 100, 0, f"{d}/dl.jsonl", cwd=d)
        print("new-as-app", {k: v for k, v in r.items() if k != "stderr"})
        print(r.get("stderr", ""))
        print("dead-letter lines", ru.lines(f"{d}/dl.jsonl"))
    print("records in the database", ru.psql(pg, owner_url, "SELECT count(*) FROM cost_records"))
finally:
    pg.close()
