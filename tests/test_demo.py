"""`llm-cost demo`: the waterfall comes from the run (same data -> same table, other data ->
another table), matches the ledger, writes a PNG, exports traces, and refuses to run
without data."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import re
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _servers import free_port, start_process, tcp_ready

from llm_cost_hooks._demo._langchain import STEP_TAG, STEPS, data_dir, run_demo
from llm_cost_hooks.cli import main

DATA = data_dir()
LIMIT = 40
STEP_NAMES = [name for name, _ in STEPS]
RECEIVER = Path(__file__).resolve().parent / "otlp_receiver.py"


def _run(tmp: Path, name: str, **kwargs: Any) -> tuple[str, Path]:
    out = io.StringIO()
    ledger = tmp / name / "llm_costs.db"
    code = run_demo(ledger_path=ledger, limit=kwargs.pop("limit", LIMIT), quiet=True, out=out, **kwargs)
    assert code == 0, out.getvalue()
    return out.getvalue(), ledger


def _table(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("step "))
    return lines[start : start + 2 + len(STEPS)]


def _costs(table: list[str]) -> dict[str, float]:
    costs = {}
    for line in table[2:]:
        step = next(s for s in sorted(STEP_NAMES, key=len, reverse=True) if line.startswith(s + " "))
        costs[step] = float(re.search(r"\$([0-9.,]+)", line[len(step) :]).group(1).replace(",", ""))
    return costs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not (DATA / "semantic_cache" / "banking77" / "test.csv.gz").is_file():
        pytest.fail(f"the demo tests need the shared data at {DATA} (see ../shared/data/README.md)")
    tmp = tmp_path_factory.mktemp("demo")
    first, ledger = _run(tmp, "first")
    second, _ = _run(tmp, "second")
    return {"tmp": tmp, "first": first, "second": second, "ledger": ledger}


def test_two_runs_print_the_same_table(runs: dict[str, Any]) -> None:
    assert _table(runs["first"]) == _table(runs["second"])
    assert len(_table(runs["first"])) == 2 + len(STEPS)


def test_table_matches_the_ledger_and_levers_only_save(runs: dict[str, Any]) -> None:
    costs = _costs(_table(runs["first"]))
    with sqlite3.connect(runs["ledger"]) as conn:
        rows = conn.execute("SELECT tags, cost_usd FROM cost_records").fetchall()
    per_step: dict[str, float] = {}
    for tags, cost in rows:
        step = json.loads(tags)[STEP_TAG]
        per_step[step] = per_step.get(step, 0.0) + cost
    assert set(per_step) == set(STEP_NAMES)
    for step in STEP_NAMES:
        assert costs[step] == pytest.approx(per_step[step], abs=1e-4), step
    ordered = [costs[s] for s in STEP_NAMES]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(ordered)), ordered
    assert ordered[-1] < 0.7 * ordered[0]
    # The ledger's own savings view of the last step agrees with its billed total.
    billed = float(re.search(r"Ledger check, step 'batch': billed \$([0-9.]+)", runs["first"]).group(1))
    assert billed == pytest.approx(per_step["batch"], abs=1e-4)


def test_the_batch_lever_saving_is_in_the_ledger(runs: dict[str, Any]) -> None:
    # The HTML report's waterfall credits the batch step from the records' batch.saved_usd.
    from llm_cost_hooks.ledger import LedgerReports

    with sqlite3.connect(runs["ledger"]) as conn:
        rows = conn.execute("SELECT tags, saved_usd, cache_status FROM cost_records").fetchall()
    batched = [(json.loads(t), saved) for t, saved, _ in rows if json.loads(t).get("batch") == "true"]
    assert batched
    # A copy served by dedup or a cache saved its whole price, not the batch discount.
    assert {status for t, _, status in rows if "batch.saved_usd" in json.loads(t)} <= {
        "miss",
        "provider_prefix",
    }
    tagged = sum(float(t["batch.saved_usd"]) for t, _ in batched)
    assert tagged > 0
    assert all(saved >= float(t["batch.saved_usd"]) - 1e-12 for t, saved in batched)
    reports = LedgerReports.open(runs["ledger"])
    try:
        assert reports._batch_savings() == pytest.approx(tagged)
    finally:
        reports.close()


def test_png_and_ledger_are_written(runs: dict[str, Any]) -> None:
    png = runs["ledger"].with_name("savings_waterfall.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5_000
    with sqlite3.connect(runs["ledger"]) as conn:
        (tasks,) = conn.execute(
            "SELECT COUNT(DISTINCT task_id) FROM task_outcomes WHERE source = 'user'"
        ).fetchone()
    assert tasks >= LIMIT * len(STEPS)


def _copy_subset(src: Path, dst: Path, keep: Any) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(src, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for i, r in enumerate(reader) if keep(i)]
        fields = reader.fieldnames
    with gzip.open(dst, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_other_data_gives_another_table(runs: dict[str, Any], tmp_path: Path) -> None:
    other = tmp_path / "data"
    bank = DATA / "semantic_cache" / "banking77"
    _copy_subset(
        bank / "test.csv.gz", other / "semantic_cache" / "banking77" / "test.csv.gz", lambda i: i % 2 == 1
    )
    shutil.copy(bank / "train.csv.gz", other / "semantic_cache" / "banking77" / "train.csv.gz")
    for f in sorted((DATA / "routing" / "routerbench_train").glob("*.csv.gz")):
        _copy_subset(f, other / "routing" / "routerbench_train" / f.name, lambda i: i % 3 != 0)
    text, _ = _run(tmp_path, "other", data=other)
    assert _table(text) != _table(runs["first"])
    assert "No demo data" not in text


def test_missing_data_says_where_to_get_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "out" / "llm_costs.db"
    code = main(["demo", "--data", str(tmp_path / "nothing"), "--ledger", str(ledger), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0
    assert "semantic_cache/banking77/test.csv.gz" in err and "routing/routerbench_train" in err
    assert "PolyAI-LDN/task-specific-datasets" in err and "README.md" in err
    assert not ledger.exists()


def test_otlp_sends_the_demo_traces_to_a_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    received = tmp_path / "received.jsonl"
    proc = start_process(
        [sys.executable, str(RECEIVER), "--http-port", str(port), "--out", str(received)],
        ready_check=tcp_ready(port),
        timeout=30,
    )
    try:
        _run(tmp_path, "otlp", limit=10, otlp=f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 20
        spans: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = [json.loads(x) for x in received.read_text().splitlines()] if received.exists() else []
            spans = [r for r in rows if r["signal"] == "span"]
            if any(s["name"].startswith("chat ") for s in spans):
                break
            time.sleep(0.1)
    finally:
        proc.close()
    models = [s for s in spans if s["name"].startswith("chat ")]
    assert models, f"no model spans received ({len(spans)} spans)"
    assert {s["attributes"].get("llm_cost_hooks.feature") for s in models} >= {"support_chat", "assistant"}
    # Every model call carries its cost; the router's own span delegates to its tier's span.
    missing = [
        (s["name"], s["attributes"])
        for s in models
        if s["name"] != "chat routed" and "gen_ai.usage.cost.amount" not in s["attributes"]
    ]
    assert not missing, missing[:2]
