"""`llm-cost report` prints the price map's version without parsing the map, and imports
none of the other commands' modules: both took most of the run of a report over a small
ledger. The version printed is the one a loaded price book gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llm_cost_hooks import CostRecord
from llm_cost_hooks.ledger import SQLiteLedger
from llm_cost_hooks.pricing import PriceBook

_PROBE = """
import json, sys
from llm_cost_hooks.cli import _PLUGINS, main
from llm_cost_hooks.pricing import PriceBook
main(["report", sys.argv[1]])
print("PROBE", json.dumps({
    "plugins": [m for m, _ in _PLUGINS if m in sys.modules],
    "map_parsed": PriceBook.default()._state is not None,
    "version": PriceBook.default().version,
}))
"""


def test_report_reads_neither_the_price_map_nor_other_commands(tmp_path: Path) -> None:
    db = tmp_path / "tiny.db"
    ledger = SQLiteLedger(db, background=False)
    ledger.write(CostRecord(model="gpt-4o-mini", cost_usd=0.01))
    ledger.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_COST_HOOKS_PRICE")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(db)], capture_output=True, text=True, env=env, check=True
    ).stdout
    probe = json.loads(out.split("PROBE ", 1)[1])
    assert probe["plugins"] == []
    assert probe["map_parsed"] is False
    # The version line equals what the loaded book says (read after the report).
    assert f"Price map in use: {probe['version']} " in out


def test_version_without_loading_equals_the_loaded_version(tmp_path: Path) -> None:
    custom = tmp_path / "prices.json"
    custom.write_text(json.dumps({"my-model": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}))
    overrides = {"gpt-4o-mini": {"input_per_million": 1, "output_per_million": 2}}
    for book in (
        PriceBook(),
        PriceBook(overrides=overrides),
        PriceBook(price_map_path=custom),
        PriceBook(price_map_path=custom, overrides=overrides),
    ):
        light = book._version_without_loading()
        assert light == book.version
        assert book._version_without_loading() == light  # and once loaded


def test_other_commands_are_still_offered() -> None:
    from llm_cost_hooks.cli import build_parser

    help_text = build_parser().format_help()
    for command in ("report", "ledger", "prices", "cache", "route"):
        assert command in help_text
