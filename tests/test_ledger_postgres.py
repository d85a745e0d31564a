"""The fleet ledger on a real PostgreSQL server (Debian's postgresql binaries, started by
the tests on a free loopback port): writes from several processes, a server restart
mid-run, schema migrations, reports equal to SQLite's, copy between stores, the CLI."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _ledger_doubles import stop_writer
from _servers import PostgresServer

from llm_cost_hooks import CacheStatus, CostRecord
from llm_cost_hooks._errors import ConfigurationError, MissingExtraError
from llm_cost_hooks.ledger import LedgerReports, SQLiteLedger, TaskOutcome, open_ledger

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (psycopg)")

from llm_cost_hooks.ledger._postgres import (  # noqa: E402
    SCHEMA_VERSION,
    PostgresLedger,
    migrate,
    schema_version,
)

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def pg(postgres_server: PostgresServer) -> PostgresServer:
    return postgres_server


@pytest.fixture
def pg_url(pg: PostgresServer) -> str:
    """A fresh, empty database on the session's server (started again if a test stopped it)."""
    if not pg.running:
        pg.start()
    return pg.create_database("t_" + uuid.uuid4().hex[:12])


def sample_records(n: int = 400) -> tuple[list[CostRecord], list[TaskOutcome]]:
    """Records over two months and many hours, with every dimension the reports group by,
    NULL attributes, errors, retries, cache hits and budget tags."""
    base = datetime(2026, 10, 30, 20, 15, tzinfo=timezone.utc)
    statuses = [CacheStatus.MISS, CacheStatus.MISS, CacheStatus("exact"), CacheStatus("semantic")]
    records = []
    for i in range(n):
        tags: dict[str, str] = {}
        if i % 17 == 0:
            tags["budget.downgraded"] = "gpt-4o->gpt-4o-mini"
        records.append(
            CostRecord(
                request_id=f"r{i:05d}",
                task_id=f"task{i // 3}" if i % 11 else None,
                timestamp=base + timedelta(minutes=37 * i, seconds=i % 7),
                tenant=[None, "acme", "globex", "initech"][i % 4],
                user=["u1", "u2", None][i % 3],
                feature=["faq", "search", None][i % 3],
                route=["/a", "/b"][i % 2],
                prompt_version=["v1", "v2"][i % 2],
                provider="openai",
                model=["gpt-4o", "gpt-4o-mini", "o4-mini"][i % 3],
                input_tokens=100 + i,
                output_tokens=20 + i % 50,
                cache_read_tokens=i % 30,
                reasoning_tokens=(i % 5) * 10,
                cost_usd=0.0001 * (i % 97) + 0.00000123 * i,
                saved_usd=0.0002 * (i % 4 > 1),
                cache_status=statuses[i % 4],
                success=i % 13 != 0,
                error_type="BudgetExceeded" if i % 29 == 0 else None,
                attempt=1 + (i % 6 == 0),
                tags=tags,
                tokens_estimated=i % 50 == 0,
            )
        )
    outcomes = [
        TaskOutcome(task_id=f"task{k}", success=k % 5 != 0, source="run", timestamp=base + timedelta(hours=k))
        for k in range(0, n // 3, 2)
    ]
    outcomes += [
        TaskOutcome(
            task_id=f"task{k}", success=True, source="user", timestamp=base + timedelta(hours=k, minutes=1)
        )
        for k in range(0, n // 3, 10)
    ]
    return records, outcomes


def assert_rows_equal(a: list[dict[str, Any]], b: list[dict[str, Any]], what: str) -> None:
    assert len(a) == len(b), f"{what}: {len(a)} rows vs {len(b)}"
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys(), what
        for k in ra:
            va, vb = ra[k], rb[k]
            if isinstance(va, float) or isinstance(vb, float):
                assert (
                    va is not None and vb is not None and math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-9)
                ), f"{what}: {k} {va!r} != {vb!r}\n{ra}\n{rb}"
            else:
                assert va == vb, f"{what}: {k} {va!r} != {vb!r}\n{ra}\n{rb}"


REPORTS = [
    ("totals", lambda r: r.totals()),
    ("totals by tenant,day (rollups)", lambda r: r.totals(by="tenant,day")),
    ("totals by feature,model,month (rollups)", lambda r: r.totals(by=["feature", "model", "month"])),
    ("totals by user,route", lambda r: r.totals(by="user,route")),
    ("totals by cache_status,success", lambda r: r.totals(by="cache_status,success")),
    (
        "totals hour-aligned window (rollups)",
        lambda r: r.totals(by="tenant", since="2026-11-01T03:00:00", until="2026-11-05"),
    ),
    (
        "totals unaligned window",
        lambda r: r.totals(by="tenant", since="2026-11-01T03:20:00+00:00", until="2026-11-04T10:10:00"),
    ),
    ("tasks", lambda r: r.tasks()),
    ("tasks by tenant,day", lambda r: r.tasks(by="tenant,day")),
    ("tasks root_error by user", lambda r: r.tasks(by="user", failure_policy="root_error")),
    ("tasks window", lambda r: r.tasks(by="model", since="2026-11-02", until="2026-11-06")),
    ("cache savings", lambda r: r.cache_savings()),
    ("cache savings by tenant", lambda r: r.cache_savings(by="cache_status,tenant")),
    ("timeseries hour", lambda r: r.timeseries("hour")),
    ("timeseries day by model (rollups)", lambda r: r.timeseries("day", by="model")),
    ("timeseries month by route", lambda r: r.timeseries("month", by="route")),
    ("budget breaches", lambda r: r.budget_breaches()),
]


def test_every_report_on_postgresql_equals_sqlite_on_the_same_records(pg_url: str, tmp_path: Path) -> None:
    records, outcomes = sample_records()
    sqlite = SQLiteLedger(tmp_path / "same.db")
    postgres = open_ledger(pg_url)
    assert isinstance(postgres, PostgresLedger)
    for led in (sqlite, postgres):
        for r in records:
            led.write(r)
        for o in outcomes:
            led.write_task(o)
        assert led.flush(timeout=60)
    assert postgres.stats.written == len(records) and postgres.stats.dropped == 0
    rs, rp = sqlite.reports(), postgres.reports()
    try:
        for what, report in REPORTS:
            expected = report(rs)
            assert expected, f"{what}: the sample must exercise this report"
            assert_rows_equal(report(rp), expected, what)
        # The rollup path really is used on PostgreSQL, and agrees with the records.
        assert rp._use_rollups(["tenant", "day"], None, None)
        assert not rp._use_rollups(["tenant"], "2026-11-01T03:20:00", None)
    finally:
        rs.close()
        rp.close()
        sqlite.close()
        postgres.close()
    # Records read back whole.
    reader = open_ledger(pg_url)
    try:
        back = {r.request_id: r for r in reader.records()}
    finally:
        reader.close()  # its writer and connection end with the test
    assert back["r00017"] == records[17]
    assert len(back) == len(records)


def test_four_processes_write_thousands_of_calls_none_lost_or_doubled(pg_url: str) -> None:
    calls = 2000
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [sys.executable, str(TESTS / "_ledger_worker.py"), pg_url, str(w), str(calls)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(4)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    for res in results:
        assert res == {
            "flushed": True,
            "written": calls,
            "dropped": 0,
            "pending": 0,
            "write_failures": res["write_failures"],
        }
    with psycopg.connect(pg_url) as conn:
        total, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM cost_records"
        ).fetchone()
        per_worker = dict(
            conn.execute("SELECT feature, COUNT(*) FROM cost_records GROUP BY feature").fetchall()
        )
        rolled = conn.execute("SELECT SUM(calls) FROM cost_rollup_hour").fetchone()[0]
    assert total == distinct == 4 * calls
    assert per_worker == {f"w{w}": calls for w in range(4)}
    assert rolled == 4 * calls
    reports = LedgerReports.open(pg_url)
    try:
        tasks = reports.tasks()[0]
        assert tasks["tasks"] == tasks["successful_tasks"] == 4 * calls
    finally:
        reports.close()


def test_server_restart_mid_run_keeps_records_and_writes_them_after(pg: PostgresServer, pg_url: str) -> None:
    ledger = PostgresLedger(pg_url, connect_timeout=1.0)
    first = [CostRecord(model="gpt-4o-mini", tenant="acme", cost_usd=0.01) for _ in range(300)]
    for r in first:
        ledger.write(r)
    assert ledger.flush(timeout=30)
    during = [CostRecord(model="gpt-4o", tenant="acme", cost_usd=0.02) for _ in range(500)]
    with pg.down():
        t0 = time.perf_counter()
        for r in during:
            ledger.write(r)  # the request path never waits for the database
        assert time.perf_counter() - t0 < 1.0
        assert not ledger.flush(timeout=3)
        stats = ledger.stats
        assert stats.write_failures >= 1 and stats.pending == len(during) and stats.dropped == 0
        assert stats.last_error
    assert ledger.flush(timeout=60), ledger.stats
    stats = ledger.stats
    assert stats.written == len(first) + len(during) and stats.dropped == 0
    with psycopg.connect(pg_url) as conn:
        total, distinct, cost = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT request_id), SUM(cost_usd) FROM cost_records"
        ).fetchone()
        rolled = conn.execute("SELECT SUM(calls) FROM cost_rollup_hour").fetchone()[0]
    assert total == distinct == rolled == 800
    assert math.isclose(cost, 300 * 0.01 + 500 * 0.02)
    ledger.close()


def test_unreachable_server_at_start_up_is_retried_not_raised(pg: PostgresServer) -> None:
    from _servers import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    ledger = PostgresLedger(url, connect_timeout=1.0)
    ledger.write(CostRecord(model="gpt-4o-mini"))
    assert not ledger.flush(timeout=2)
    assert ledger.stats.pending == 1 and ledger.stats.write_failures >= 1
    assert ledger._thread is not None
    stop_writer(ledger)


def test_migrations_from_an_empty_database(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert schema_version(conn) == 0
    ledger = PostgresLedger(pg_url)  # the writer's first connection creates the schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while schema_version(conn) < SCHEMA_VERSION and time.monotonic() < deadline:
            time.sleep(0.05)
        assert schema_version(conn) == SCHEMA_VERSION
        versions = [v for (v,) in conn.execute("SELECT version FROM llm_cost_schema ORDER BY version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        tables = {t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"cost_records", "task_outcomes", "cost_rollup_hour", "llm_cost_schema"} <= tables
        # Running them again (another process's first connect) changes nothing.
        assert migrate(conn) == (SCHEMA_VERSION, SCHEMA_VERSION)
    ledger.close()


def test_migration_from_an_older_schema_backfills_the_rollups(pg_url: str, tmp_path: Path) -> None:
    records, outcomes = sample_records(200)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn, target=1) == (0, 1)  # the first schema: records, no rollups
        from llm_cost_hooks.ledger._base import RECORD_COLUMNS, record_to_row

        cols = ", ".join(f'"{c}"' for c in RECORD_COLUMNS)
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO cost_records ({cols}) VALUES ({', '.join(['%s'] * len(RECORD_COLUMNS))})",
                [record_to_row(r) for r in records[:150]],
            )
        assert conn.execute("SELECT to_regclass('cost_rollup_hour')").fetchone()[0] is None
    ledger = PostgresLedger(pg_url)  # first connect migrates 1 -> latest
    for r in records[150:]:
        ledger.write(r)
    assert ledger.flush(timeout=30)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("SELECT SUM(calls) FROM cost_rollup_hour").fetchone()[0] == 200
    sqlite = SQLiteLedger(tmp_path / "ref.db")
    for r in records:
        sqlite.write(r)
    sqlite.flush()
    rp, rs = ledger.reports(), sqlite.reports()
    try:
        for what in ("totals by tenant,day (rollups)", "timeseries day by model (rollups)"):
            report = dict(REPORTS)[what]
            assert_rows_equal(report(rp), report(rs), what)
    finally:
        rp.close()
        rs.close()
        ledger.close()
        sqlite.close()


def test_a_newer_schema_is_refused_with_a_clear_error(
    pg_url: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """The app starts (the writer finds the schema, not the constructor); the error is
    logged as the ledger starts, and records are kept, not written into a schema this
    version does not know."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO llm_cost_schema (version) VALUES (%s)", (SCHEMA_VERSION + 1,))
    caplog.set_level(logging.WARNING, logger="llm_cost_hooks.ledger")
    ledger = PostgresLedger(pg_url, dead_letter=tmp_path / "dead.jsonl")
    database = pg_url.rsplit("/", 1)[1]

    def said() -> list[logging.LogRecord]:
        # This ledger's lines (they name its database), not another test's still running.
        return [r for r in caplog.records if database in r.getMessage()]

    try:
        deadline = time.monotonic() + 30
        while not said() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert said() and said()[0].levelno == logging.ERROR
        assert "upgrade llm-cost-hooks" in said()[0].getMessage()
        ledger.write(CostRecord(model="gpt-4o-mini"))
        assert not ledger.flush(timeout=1)
        assert ledger.stats.pending == 1 and "upgrade llm-cost-hooks" in (ledger.stats.last_error or "")
    finally:
        ledger.close(timeout=0.5)
    assert ledger.stats.dead_lettered == 1 and ledger.stats.dropped == 0


def test_copy_sqlite_to_postgresql_is_idempotent_and_reports_agree(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llm_cost_hooks.cli import main

    records, outcomes = sample_records(300)
    src = SQLiteLedger(tmp_path / "pod.db")
    for r in records:
        src.write(r)
    for o in outcomes:
        src.write_task(o)
    src.close()
    assert main(["ledger", "copy", str(tmp_path / "pod.db"), pg_url, "--batch-size", "70"]) == 0
    out = capsys.readouterr().out
    assert f"copied 300 records (300 new) and {len(outcomes)} task outcomes ({len(outcomes)} new)" in out
    assert main(["ledger", "copy", f"sqlite:///{tmp_path / 'pod.db'}", pg_url]) == 0
    assert f"copied 300 records (0 new) and {len(outcomes)} task outcomes (0 new)" in capsys.readouterr().out
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0] == 300
        assert conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0] == len(outcomes)
        assert conn.execute("SELECT SUM(calls) FROM cost_rollup_hour").fetchone()[0] == 300
    # `llm-cost report` on the URL prints what the SQLite file gives.
    assert (
        main(
            [
                "report",
                pg_url,
                "--by",
                "tenant,day",
                "--show",
                "totals,tasks,cache,budget",
                "--format",
                "json",
            ]
        )
        == 0
    )
    from_pg = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "report",
                str(tmp_path / "pod.db"),
                "--by",
                "tenant,day",
                "--show",
                "totals,tasks,cache,budget",
                "--format",
                "json",
            ]
        )
        == 0
    )
    from_sqlite = json.loads(capsys.readouterr().out)
    assert from_pg.keys() == from_sqlite.keys()
    for kind in from_pg:
        assert from_pg[kind], kind
        assert_rows_equal(from_pg[kind], from_sqlite[kind], kind)
    # And back: PostgreSQL -> a new SQLite file.
    assert main(["ledger", "copy", pg_url, str(tmp_path / "back.db")]) == 0
    assert "copied 300 records (300 new)" in capsys.readouterr().out
    assert len(list(SQLiteLedger(tmp_path / "back.db", background=False).records())) == 300


def test_cli_migrate_and_html_report(pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from llm_cost_hooks.cli import main

    assert main(["ledger", "migrate", pg_url]) == 0
    assert f"migrated from version 0 to {SCHEMA_VERSION}" in capsys.readouterr().out
    assert main(["ledger", "migrate", pg_url]) == 0
    assert "nothing to do" in capsys.readouterr().out
    records, outcomes = sample_records(120)
    led = PostgresLedger(pg_url)
    for r in records:
        led.write(r)
    led.close()
    pytest.importorskip("matplotlib")
    html = tmp_path / "report.html"
    assert main(["report", pg_url, "--html", str(html), "--format", "csv"]) == 0
    text = html.read_text()
    assert "acme" in text and "data:image/png;base64" in text
    # A server that does not answer: a typed error, the password not shown.
    assert main(["report", "postgresql://bob:s3cret@127.0.0.1:1/x"]) == 2
    err = capsys.readouterr().err
    assert "Cannot connect to the PostgreSQL ledger" in err and "s3cret" not in err


def test_entry_points_take_the_url_and_the_setting(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, litellm_clean: Any
) -> None:
    from llm_cost_hooks._settings import get_settings
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.litellm import CostHooksLogger

    monkeypatch.setenv("LLM_COST_HOOKS_LEDGER", pg_url)
    get_settings(reload=True)
    try:
        handler = CostCallbackHandler()  # the ledger from LLM_COST_HOOKS_LEDGER
        assert isinstance(handler.ledger, PostgresLedger)
        model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris."])
        model.invoke("Capital of France?", config={"callbacks": [handler], "metadata": {"tenant_id": "acme"}})
        assert handler.ledger.flush(timeout=30)
        handler.ledger.close()
    finally:
        monkeypatch.delenv("LLM_COST_HOOKS_LEDGER")
        get_settings(reload=True)
    cost_logger = CostHooksLogger(ledger=pg_url)
    litellm_clean.callbacks = [cost_logger]
    litellm_clean.completion(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        mock_response="Hello.",
        metadata={"tenant_id": "globex"},
    )
    deadline = time.monotonic() + 10
    while cost_logger.tracker.ledger.stats.written + cost_logger.tracker.ledger.stats.pending < 1:
        assert time.monotonic() < deadline, "the LiteLLM success event never reached the ledger"
        time.sleep(0.02)
    assert cost_logger.flush()
    cost_logger.tracker.ledger.close()
    reports = LedgerReports.open(pg_url)
    try:
        by_tenant = {r["tenant"]: r for r in reports.totals(by="tenant")}
    finally:
        reports.close()
    assert by_tenant["acme"]["calls"] == 1 and by_tenant["acme"]["input_tokens"] > 0
    assert by_tenant["globex"]["calls"] == 1 and by_tenant["globex"]["cost_usd"] > 0


def test_a_forked_child_writes_on_its_own_connections(pg_url: str) -> None:
    ledger = PostgresLedger(pg_url)
    ledger.write(CostRecord(model="gpt-4o-mini", feature="parent"))
    assert ledger.flush(timeout=30)
    pid = os.fork()
    if pid == 0:  # child: the inherited ledger's writer thread is gone; a new ledger works
        code = 1
        try:
            child = PostgresLedger(pg_url)
            for _ in range(50):
                child.write(CostRecord(model="gpt-4o-mini", feature="child"))
            code = 0 if child.flush(timeout=30) else 3
            child.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's pooled connection survived the child (its session was not closed).
    ledger.write(CostRecord(model="gpt-4o-mini", feature="parent"))
    assert ledger.flush(timeout=30) and ledger.stats.write_failures == 0
    with psycopg.connect(pg_url) as conn:
        counts = dict(conn.execute("SELECT feature, COUNT(*) FROM cost_records GROUP BY feature").fetchall())
    assert counts == {"parent": 2, "child": 50}
    ledger.close()


def test_bad_urls_and_a_missing_extra_are_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="postgresql://"):
        PostgresLedger("mysql://x")
    with pytest.raises(ConfigurationError, match="Invalid PostgreSQL ledger URL"):
        PostgresLedger("postgresql://u@h/db?bogus_option=1")
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"llm-cost-hooks\[postgres\]"):
        open_ledger("postgresql://u@127.0.0.1/db")


@pytest.mark.slow
def test_the_demo_runs_on_a_postgresql_ledger_and_prints_the_sqlite_table(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from llm_cost_hooks._demo._langchain import data_dir, run_demo

    if not (data_dir() / "semantic_cache" / "banking77" / "test.csv.gz").is_file():
        pytest.skip(f"the demo needs the evaluation data at {data_dir()} (see its README.md)")
    outputs = {}
    for name, target in (("postgres", pg_url), ("sqlite", tmp_path / "demo.db")):
        out = io.StringIO()
        assert (
            run_demo(ledger_path=target, limit=10, quiet=True, out=out, chart=tmp_path / f"{name}.png") == 0
        )
        outputs[name] = out.getvalue()

    def table(text: str) -> list[str]:
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("step "))
        return [line for line in lines[start:] if line.strip()][:12]

    assert table(outputs["postgres"]) == table(outputs["sqlite"])
    assert "postgresql://postgres@127.0.0.1" in outputs["postgres"]
    # A second run into the same (now non-empty) database is refused, not mixed in.
    assert run_demo(ledger_path=pg_url, limit=10, quiet=True, out=io.StringIO()) == 2
    assert "needs an empty PostgreSQL database" in capsys.readouterr().err


def test_text_postgresql_cannot_store_is_written_replaced_not_retried_forever(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Records clean their text when built (NUL and lone surrogates become U+FFFD), so the
    # batch is written at once instead of failing on every retry.
    ledger = PostgresLedger(pg_url)
    good = [CostRecord(model="gpt-4o-mini", tenant="acme") for _ in range(20)]
    bad = CostRecord(model="gpt-4o-mini", tenant="ac\x00me", feature="x\ud800y", input_tokens=3_000_000_000)
    for r in good[:10] + [bad] + good[10:]:
        ledger.write(r)
    with caplog.at_level("WARNING", logger="llm_cost_hooks.ledger"):
        assert ledger.flush(timeout=30), ledger.stats
    assert ledger.stats.written == 21 and ledger.stats.dropped == 0
    assert ledger.stats.dead_lettered == 0
    stored = {r.request_id: r for r in ledger.records()}
    assert stored[bad.request_id].tenant == "ac\ufffdme" and stored[bad.request_id].feature == "x\ufffdy"
    assert stored[bad.request_id].input_tokens == 3_000_000_000  # beyond a 32-bit column
    ledger.close()


def test_a_replayed_dead_letter_file_counts_records_already_stored_as_duplicates(
    pg_url: str, tmp_path: Path
) -> None:
    """Records the server holds already (same request id) are skipped by the insert: the
    writer counts them as ``duplicates``, and ``written`` is what was added."""
    from llm_cost_hooks.ledger import replay_dead_letters

    records, _ = sample_records(20)
    ledger = PostgresLedger(pg_url)
    try:
        for r in records[:15]:
            ledger.write(r)
        assert ledger.flush(30.0)
        dead = tmp_path / "dead.jsonl"  # a dead-letter file holding all 20, 15 stored already
        dead.write_text("".join(json.dumps({"record": r.model_dump(mode="json")}) + "\n" for r in records))
        assert replay_dead_letters(dead, ledger) == 20
        stats = ledger.stats
        assert (stats.written, stats.duplicates) == (20, 15)
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT COUNT(*) FROM cost_records").fetchone()[0] == 20
    finally:
        ledger.close()


def test_a_lost_server_is_reported_once_by_the_ledger_not_per_connection_attempt(
    pg: PostgresServer, pg_url: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """While the server is down the writer retries with back-off and warns at failures 1,
    10, 100...; nothing else should log on its behalf (a connection pool reconnecting on its
    own threads logged every attempt, in every process, also while the process exited)."""
    ledger = PostgresLedger(pg_url, connect_timeout=1.0, dead_letter=tmp_path / "dead.jsonl")
    ledger.write(CostRecord(model="gpt-4o-mini"))
    assert ledger.flush(timeout=30)
    with caplog.at_level("DEBUG", logger="psycopg"), caplog.at_level("WARNING", logger="llm_cost_hooks"):
        with pg.down():
            for _ in range(5):
                ledger.write(CostRecord(model="gpt-4o-mini"))
            assert not ledger.flush(timeout=4)
            assert ledger.stats.write_failures >= 2  # retried, and said once
            ledger.close(timeout=0.5)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    by_us = [r for r in warnings if r.name.startswith("llm_cost_hooks")]
    assert [r for r in warnings if r not in by_us] == []
    # This ledger's (they name its database): another ledger on the server may be retrying too.
    database = pg_url.rsplit("/", 1)[1]
    failed = [
        r.getMessage() for r in by_us if "write failed" in r.getMessage() and database in r.getMessage()
    ]
    assert len(failed) == 1 and "Connection refused" in failed[0]
    assert ledger.stats.dead_lettered == 5 and ledger.stats.dropped == 0


def test_a_password_is_never_shown_even_without_a_user_name() -> None:
    from llm_cost_hooks.ledger._postgres import redact

    assert redact("postgresql://app:pw@db:5432/costs") == "postgresql://app:***@db:5432/costs"
    assert redact("postgresql://:pw@db/costs") == "postgresql://:***@db/costs"
    assert redact("postgresql://db/costs") == "postgresql://db/costs"


class _CommitAnswerLost(PostgresLedger):
    """The first batch commits on the server, then the connection fails before its answer
    arrives (as a network cut right after COMMIT does): the writer sends the batch again."""

    lost = 0

    def _copy_rows(self, conn: Any, rows: Any, outcome_rows: Any) -> int:
        skipped = super()._copy_rows(conn, rows, outcome_rows)
        if not self.lost:
            self.lost += 1
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return skipped


def test_task_outcomes_sent_again_after_a_lost_commit_are_not_doubled(pg_url: str, tmp_path: Path) -> None:
    records, outcomes = sample_records(40)
    # The writer takes its first batch at flush(), not on its own timer: a timer tick while
    # the loop below runs (a loaded machine) would split the records over two batches.
    ledger = _CommitAnswerLost(pg_url, flush_interval=3600)
    try:
        for r in records:
            ledger.write(r)
        for o in outcomes:
            ledger.write_task(o)
        assert ledger.flush(30.0)
        assert ledger.lost == 1 and ledger.stats.write_failures == 1
        assert ledger.stats.duplicates == len(records)  # the records were skipped already
        assert ledger.stats.duplicate_outcomes == len(outcomes)  # and so were the outcomes
        stored = list(ledger.task_outcomes())
        assert len(stored) == len(outcomes)
        assert sorted((o.task_id, o.source) for o in stored) == sorted(
            (o.task_id, o.source) for o in outcomes
        )
        # The task reports (cost per successful task) equal SQLite's on the same data.
        sqlite = SQLiteLedger(tmp_path / "ref.db")
        for r in records:
            sqlite.write(r)
        for o in outcomes:
            sqlite.write_task(o)
        rp, rs = ledger.reports(), sqlite.reports()
        try:
            assert_rows_equal(rp.tasks(by="feature"), rs.tasks(by="feature"), "tasks by feature")
        finally:
            rp.close()
            rs.close()
            sqlite.close()
    finally:
        ledger.close()


def test_migration_removes_doubled_outcomes_and_keeps_the_table_working(pg_url: str) -> None:
    from llm_cost_hooks.ledger._base import outcome_to_row

    _, outcomes = sample_records(40)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn, target=2) == (0, 2)  # the schema before outcomes had a key
        with conn.cursor() as cur:
            # Every outcome twice (a lost commit each), one three times, and a NULL reason.
            cur.executemany(
                'INSERT INTO task_outcomes (task_id, success, source, reason, "timestamp") '
                "VALUES (%s, %s, %s, %s, %s)",
                [outcome_to_row(o) for o in outcomes * 2 + outcomes[:1]],
            )
        assert conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0] == 2 * len(outcomes) + 1
    ledger = PostgresLedger(pg_url)  # first connect migrates 2 -> latest
    try:
        later = TaskOutcome(task_id=outcomes[0].task_id, success=False, source="user", reason=None)
        ledger.write_task(later)  # another outcome of the same task is a new row
        ledger.write_task(outcomes[1])  # one already stored is not
        assert ledger.flush(30.0)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            assert schema_version(conn) == SCHEMA_VERSION
            assert conn.execute("SELECT COUNT(*) FROM task_outcomes").fetchone()[0] == len(outcomes) + 1
    finally:
        ledger.close()
