"""Scenario 2: the ledger's directory becomes read-only (2a) or is deleted (2b) mid-run.
Run as a non-root user for 2a (root ignores permission bits): the script re-runs itself as
`nobody` when started as root."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import capture_logs, dead_letter_lines, make_chain, sqlite_rows, verdict

N1, N2, N3 = 30, 30, 30


def run(mode: str, base: Path) -> None:
    lines = capture_logs()
    from llm_cost_hooks.langchain import CostCallbackHandler

    ddir = base / f"ledger-{mode}"
    ddir.mkdir(parents=True)
    db = ddir / "llm_costs.db"
    handler = CostCallbackHandler(ledger=f"sqlite:///{db}")
    ledger = handler.tracker.ledger
    call = make_chain(handler)
    errors = 0
    for i in range(N1):
        call(i)
    handler.flush()
    rows_before = sqlite_rows(db)
    if mode == "readonly":
        for p in ddir.iterdir():
            p.chmod(0o444) if p.is_file() else None
        ddir.chmod(0o555)
    else:
        shutil.rmtree(ddir)
    for i in range(N1, N1 + N2):
        try:
            call(i)
        except Exception as e:
            errors += 1
            print("call raised:", type(e).__name__, e)
    print("flush during fault ->", handler.flush(timeout=3), ledger.stats)
    if mode == "readonly":
        ddir.chmod(0o755)
        for p in ddir.iterdir():
            p.chmod(0o644) if p.is_file() else None
    else:
        ddir.mkdir(parents=True, exist_ok=True)
    for i in range(N1 + N2, N1 + N2 + N3):
        call(i)
    print("flush after ->", handler.flush(timeout=20))
    ledger.close(timeout=10)
    s = ledger.stats
    n = N1 + N2 + N3
    rows = sqlite_rows(db)
    dls = {str(ledger.dead_letter_path)}
    tmp_dl = Path(os.environ.get("TMPDIR", "/tmp")) / f"llm-cost-hooks-dead-letter-{os.getuid()}.jsonl"
    dls.add(str(tmp_dl))
    dl = sum(dead_letter_lines(p) for p in dls)
    print(f"mode={mode} rows_before_fault={rows_before} stats={s}")
    print(f"N={n} rows={rows} dead_letter_lines={dl} ({dls}) errors={errors} dropped={s.dropped}")
    warns = lines.at_least(logging.WARNING)
    print(f"{len(warns)} warning/error lines:")
    for w in warns:
        print("  ", w[:400])
    # deleted: the rows written before the deletion went with the directory (the user's act);
    # every record made after it must be in the new file
    expect = n - rows_before if mode == "deleted" else n
    verdict(
        f"s2 {mode}",
        rows + dl + errors == expect and s.dropped == 0,
        f"rows+set aside+errors={rows + dl + errors} of {expect} expected in the file",
    )


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "both"
    base = Path(os.environ.get("CHAOS_TMP", "/tmp/chaos_run")) / "s2"
    if mode == "both":
        import subprocess

        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        base.chmod(0o777)
        os.chdir(base)
        for m in ("readonly", "deleted"):
            pre = []
            env = dict(os.environ)
            if os.getuid() == 0:
                pre = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
                env["HOME"] = str(base)
                env["TMPDIR"] = str(base)
                Path(os.path.dirname(os.path.abspath(__file__))).chmod(
                    Path(os.path.dirname(os.path.abspath(__file__))).stat().st_mode
                    | stat.S_IROTH
                    | stat.S_IXOTH
                )
            subprocess.run([*pre, sys.executable, os.path.abspath(__file__), m], env=env, check=False)
    else:
        os.chdir(base)
        run(mode, base)
