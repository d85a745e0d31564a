"""`llm-cost report --html` opened in headless Chromium: the page loads, its charts decode as
images and its tables are there (Debian's `chromium`; scripts/test.sh installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks.cli import main
from llm_cost_hooks.ledger import open_ledger

pytest.importorskip("matplotlib", reason="the HTML report's charts need the charts extra")


def _chromium() -> str:
    found = (
        os.environ.get("CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if not found:
        message = "no chromium on PATH (scripts/test.sh installs Debian's chromium; or set CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _ledger(path: Path) -> None:
    ledger = open_ledger(f"sqlite:///{path}")
    start = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
    models = [
        ("gpt-4o", "openai", 0.012),
        ("gpt-4o-mini", "openai", 0.0007),
        ("claude-sonnet-4-5", "anthropic", 0.009),
    ]
    records = []
    for i in range(60):
        model, provider, cost = models[i % 3]
        records.append(
            CostRecord(
                model=model,
                provider=provider,
                cost_usd=cost,
                tenant=("acme", "globex")[i % 2],
                feature=("support", "search", "summary")[i % 3],
                route=("/chat", "/mail")[i % 2],
                task_id=f"task-{i // 2}",
                timestamp=start + timedelta(hours=7 * i),
                input_tokens=1200,
                output_tokens=200,
                latency_ms=400 + i,
            )
        )
    for record in records:
        ledger.write(record)
    ledger.close()


def test_html_report_loads_with_charts_and_tables_in_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    db = tmp_path / "llm_costs.db"
    _ledger(db)
    html = tmp_path / "report.html"
    assert main(["report", str(db), "--by", "tenant,feature", "--html", str(html)]) == 0
    # A probe run by the browser after load: how many images decoded to real pixels.
    page = html.read_text(encoding="utf-8")
    probe = (
        "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
        " document.body.dataset.images = imgs.length;"
        " document.body.dataset.decoded = imgs.filter(i => i.complete && i.naturalWidth > 100).length;"
        " document.body.dataset.tables = document.querySelectorAll('table').length;"
        " document.body.dataset.rows = document.querySelectorAll('table tr').length; });</script>"
    )
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    out = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    attrs = dict(re.findall(r'data-(\w+)="(\d+)"', body))
    assert int(attrs["images"]) >= 2 and attrs["decoded"] == attrs["images"], attrs
    assert int(attrs["tables"]) >= 3 and int(attrs["rows"]) > 10, attrs
    assert 'class="price-map"' in dom and ("litellm-" in dom or "fetched-" in dom)
    for caption in re.findall(r"<figcaption>(.*?)</figcaption>", page):
        assert caption in dom
    # And a screenshot: the page paints (a blank page is a few KB of one colour).
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile2'}",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
