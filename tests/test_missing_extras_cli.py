"""On the core install (no ``embed`` extra, so no numpy) a command that needs numpy says which
extra to install, as the import of a public name does, instead of a ModuleNotFoundError
traceback. numpy is blocked in a fresh interpreter to stand in for the core install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_NO_NUMPY = "import sys; sys.modules['numpy'] = None\nfrom llm_cost_hooks.cli import main\nsys.exit(main(sys.argv[1:]))"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", _NO_NUMPY, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_names_extra(out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert "pip install 'llm-cost-hooks[embed]'" in out.stderr, out.stderr[-2000:]


def test_cache_calibrate_without_numpy_names_the_extra(tmp_path: Path) -> None:
    rows = ["text,label", "where is my card,card_arrival", "my card has not arrived,card_arrival"]
    rows += ["how do I top up,top_up", "top up failed,top_up", "what is the weather,"]
    (tmp_path / "intents.csv").write_text("\n".join(rows) + "\n")
    _assert_names_extra(
        _run(["cache", "calibrate", "intents.csv", "--target", "0.95", "--out", "c.json"], tmp_path)
    )


def test_route_train_without_numpy_names_the_extra(tmp_path: Path) -> None:
    rows = ["prompt_id,prompt,model,quality,cost"]
    rows += [f"{i},q{i},small,{i % 2},0.0001\n{i},q{i},large,1,0.001" for i in range(12)]
    (tmp_path / "outcomes.csv").write_text("\n".join(rows) + "\n")
    _assert_names_extra(
        _run(["route", "train", "outcomes.csv", "--out", "router", "--strong", "large"], tmp_path)
    )


def test_demo_without_numpy_names_the_demo_extra(tmp_path: Path) -> None:
    out = _run(["demo", "--quiet"], tmp_path)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr and "could not be read" not in out.stderr, out.stderr[-2000:]
    assert "pip install 'llm-cost-hooks[demo]'" in out.stderr, out.stderr[-2000:]
