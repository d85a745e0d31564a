"""Every notebook in notebooks/ runs top to bottom (nbclient, the venv's python3 kernel) and
computes what it claims; each prints its values as ``NOTEBOOK_RESULT {json}`` last."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[dev]' (nbformat, nbclient, ipykernel)")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[dev]' (nbformat, nbclient, ipykernel)")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
from _shared_data import SHARED_DATA as DATA  # noqa: E402

CELL_TIMEOUT = 120
MARKER = "NOTEBOOK_RESULT "


def _run(name: str) -> tuple[Any, dict[str, Any]]:
    if not (DATA / "semantic_cache").is_dir() or not (DATA / "routing").is_dir():
        pytest.skip(f"the notebooks read ../shared/data, absent at {DATA}")
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), (
        f"{name} is committed with outputs"
    )
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "ORT_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    client = nbclient.NotebookClient(
        book, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute(env=env)  # kwargs go to the kernel start; raises CellExecutionError on a failing cell
    lines = [
        line
        for cell in book.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
        for line in out.get("text", "").splitlines()
    ]
    results = [line[len(MARKER) :] for line in lines if line.startswith(MARKER)]
    assert results, f"{name} printed no {MARKER.strip()}"
    result = json.loads(results[-1])
    # jupyter_client swaps the kernelspec's "python" for the interpreter running the tests: the venv's.
    assert Path(result["python"]).resolve() == Path(sys.executable).resolve()
    return book, result


def _images(book: Any) -> int:
    return sum(
        "image/png" in out.get("data", {})
        for c in book.cells
        if c.cell_type == "code"
        for out in c.get("outputs", [])
    )


def test_01_quickstart() -> None:
    book, r = _run("01_quickstart.ipynb")
    assert r["records"] == 60
    assert r["recorded_usd"] > 0
    assert r["recorded_usd"] == pytest.approx(r["recomputed_usd"], rel=1e-9)
    assert r["tenants"] == ["acme", "globex", "initech"]
    assert _images(book) >= 1


def test_02_cost_audit_waterfall() -> None:
    book, r = _run("02_cost_audit_waterfall.ipynb")
    assert (
        r["calls"]["baseline"] == r["calls"]["levers"] == r["queries"] > 0
    )  # every call recorded, cache hits too
    base, cache, routing = r["waterfall_usd"]
    assert base == pytest.approx(r["baseline_usd"])
    assert base + cache + routing == pytest.approx(r["levers_usd"])
    assert routing < 0 and cache <= 0  # the levers cut the bill
    assert r["accuracy"]["baseline"]["support_answer"] == 1.0  # no cache: every answer is the intent's
    assert 0 < r["accuracy"]["levers"]["qa"] <= 1
    assert _images(book) >= 1


def test_03_semantic_cache_threshold() -> None:
    book, r = _run("03_semantic_cache_threshold.ipynb")
    per_cache, per_query = r["per_intent"]
    assert (r["n_cache"], r["n_queries"]) == (r["n_intents"] * per_cache, r["n_intents"] * per_query)
    held = r["held_out"]["0.95"]
    assert r["met"]["0.95"] and held["hits"] > 0
    assert held["precision"] >= 0.9  # calibrated for 0.95 on the cache; checked on unseen queries
    best = r["best_hit_rate_at_0.95"]
    assert best["combined"] > best["cosine"]
    assert _images(book) >= 1


def test_04_router_calibration() -> None:
    book, r = _run("04_router_calibration.ipynb")
    assert r["n_train"] > r["n_test"] > 0
    cal, strong = r["calibrated"], r["strong_point"]
    assert cal["cost"] < strong["cost"]  # the router saves money ...
    assert cal["quality"] >= 0.85 * strong["quality"]  # ... at close to the strongest model's accuracy
    assert r["aiq"]["oracle"] > r["aiq"]["router"] > 0
    assert r["budget"]["cost"] <= r["budget"]["cap"] * 1.5  # calibrated on train, measured on test
    assert _images(book) >= 1
