"""Run every benchmark and print one table: ``python -m bench [--quick] [names...]``."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Row, format_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all), e.g. foundation")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    modules = sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )
    chosen = args.names or modules
    unknown = set(chosen) - set(modules)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; available: {modules}")
    rows: list[Row] = []
    for name in chosen:
        t0 = time.perf_counter()
        mod = importlib.import_module(f"bench.bench_{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(mod.run(quick=args.quick))
        print(f"  {name} done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
