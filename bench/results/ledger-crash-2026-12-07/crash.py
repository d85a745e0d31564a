"""Kill a process writing a ledger (SIGKILL, at random moments), then read and append.

    python crash.py [--runs 20] [--seed 7] [kinds ...]     kinds: sqlite jsonl deadletter
                                                            jsonl-cut deadletter-cut

For each run: a writer process records calls through a LangChain chain (prompt | chat
model reporting usage | parser) with ``CostCallbackHandler``, calling ``handler.flush()``
every 1-40 calls and printing how many records the ledger had confirmed (``stats.written``,
or ``stats.dead_lettered`` for the dead-letter file) each time ``flush()`` returned True.
It is killed with SIGKILL at a random moment. The ``-cut`` kinds then also cut the file at
a random byte of its last line (what a write cut short leaves, which SIGKILL alone rarely
does). Then a second process opens the same ledger, records 10 more calls (feature
"later"), and reads the ledger with the Python report API (``LedgerReports.open``) or, for
the dead-letter file, ``replay_dead_letters`` into a new SQLite ledger; last,
``llm-cost report --format json`` (the CLI's ``main()``, in that same process) reads the
ledger (or the replayed one).

Counts per kind: confirmed records readable (report calls >= confirmed before the kill,
or lines whole before the cut), runs where the API / CLI failed, runs where the 10 later
records were readable, files left with a torn last line by the kill.
Which code runs is whatever ``llm_cost_hooks`` PYTHONPATH gives the child processes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
HERE = Path(__file__).resolve()

WRITER = r"""
import random, sys
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.ledger import JSONLLedger, SQLiteLedger

kind, path, feature, calls, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)


class Rejecting(JSONLLedger):
    # A store that rejects every record: each one is set aside in the dead-letter file.
    def _write_batch(self, records, outcomes):
        raise ValueError("rejected by the store")


if kind == "sqlite":
    ledger = SQLiteLedger(path)
elif kind == "jsonl":
    ledger = JSONLLedger(path)
else:
    ledger = Rejecting(path + ".unused.jsonl", dead_letter=path)
handler = CostCallbackHandler(ledger=ledger)
model = FakeChatModelWithUsage(
    model_name="gpt-4o-mini", cached_fraction=0.25,
    responses=["Your parcel left the warehouse on Monday and should arrive by Thursday."] * 3
    + ["Refunds take 5-7 working days after we receive the item back."] * 2,
)
chain = ChatPromptTemplate.from_messages(
    [("system", "You are a support agent for an online shop. Answer briefly."), ("human", "{q}")]
) | model | StrOutputParser()
done = 0
next_flush = rng.randint(1, 40)
while calls < 0 or done < calls:
    chain.invoke({"q": f"Where is my order #{done}? I ordered it last week."},
                 config={"callbacks": [handler],
                         "metadata": {"tenant_id": f"t{done % 7}", "feature": feature}})
    done += 1
    if done >= next_flush or done == calls:
        next_flush = done + rng.randint(1, 40)
        if handler.flush(30.0):
            s = ledger.stats
            print(s.dead_lettered if kind.startswith("dead") else s.written, flush=True)
if calls >= 0:
    ledger.close()
"""

READER = r"""
import json, logging, sys
warnings = []
class Keep(logging.Handler):
    def emit(self, r):
        warnings.append(r.getMessage())
logging.getLogger("llm_cost_hooks.ledger").addHandler(Keep(logging.WARNING))
from llm_cost_hooks.ledger import LedgerReports, SQLiteLedger, replay_dead_letters
kind, path, replay_db = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
try:
    if kind.startswith("dead"):
        led = SQLiteLedger(replay_db)
        out["replayed"] = replay_dead_letters(path, led)
        led.close()
        path = replay_db
    rep = LedgerReports.open(path)
    rows = rep.totals(by=["feature"])
    out["calls"] = {str(r["feature"]): r["calls"] for r in rows}
    out["damaged_lines"] = getattr(rep, "damaged_lines", None)
    out["warnings"] = [w[:200] for w in warnings]
    rep.close()
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
print(json.dumps(out))
"""


def after_script() -> str:
    # A new process: the later writer (10 calls, feature "later"), then the Python report API
    # (or replay_dead_letters), then `llm-cost report --format json` through the CLI's main().
    return (
        "import contextlib, io, json, sys\n"
        "argv = sys.argv[1:]\n"
        "buf = io.StringIO()\n"
        "sys.argv = ['w', argv[0], argv[1], 'later', '10', '1']\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    exec(compile({WRITER!r}, 'writer', 'exec'), {{'__name__': 'writer'}})\n"
        "later_ok = bool(buf.getvalue().split())\n"
        "sys.argv = ['r', argv[0], argv[1], argv[2]]\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    exec(compile({READER!r}, 'reader', 'exec'), {{'__name__': 'reader'}})\n"
        "api = json.loads(buf.getvalue().strip().splitlines()[-1])\n"
        "from llm_cost_hooks.cli import main\n"
        "target = argv[2] if argv[0] == 'deadletter' else argv[1]\n"
        "out, err = io.StringIO(), io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "    code = main(['report', target, '--by', 'feature', '--show', 'totals', '--format', 'json'])\n"
        "print(json.dumps({'api': api, 'later_ok': later_ok, 'cli_exit': code,\n"
        "                  'cli_out': out.getvalue(), 'cli_err': err.getvalue()}))\n"
    )


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(LITELLM_LOCAL_MODEL_COST_MAP="True", ORT_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="1")
    e.setdefault("LLM_COST_HOOKS_EXIT_TIMEOUT", "5")
    return e


def whole_records(path: Path) -> int:
    """Record lines ended by a newline (task outcome lines not counted)."""
    data = path.read_bytes() if path.exists() else b""
    return sum(1 for line in data.split(b"\n")[:-1] if line.strip() and b'"task_outcome"' not in line[:20])


def one_run(kind: str, rng: random.Random, tmp: Path) -> dict[str, object]:
    base = kind.removesuffix("-cut")
    path = tmp / ("costs.db" if base == "sqlite" else "costs.jsonl" if base == "jsonl" else "dead.jsonl")
    proc = subprocess.Popen(
        [PY, "-c", WRITER, base, str(path), "first", "-1", str(rng.randrange(1 << 30))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env(),
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # writing has begun
    time.sleep(rng.uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read()
    proc.wait()
    confirmed = [int(x) for x in (first + rest).split()]
    confirmed_n = confirmed[-1] if confirmed else 0
    data = path.read_bytes() if path.exists() else b""
    torn_by_kill = base != "sqlite" and bool(data) and not data.endswith(b"\n")
    expected = confirmed_n
    if kind.endswith("-cut"):
        # Cut inside the last line: what a write cut short by a crash leaves.
        end = data.rstrip(b"\n")
        start = end.rfind(b"\n") + 1
        cut = rng.randrange(start + 1, len(end))
        with open(path, "r+b") as fh:
            fh.truncate(cut)
        expected = whole_records(path)  # the confirmed records still whole
    after = subprocess.run(
        [PY, "-c", after_script(), base, str(path), str(tmp / "replayed.db")],
        capture_output=True,
        env=env(),
        text=True,
        timeout=300,
    )
    try:
        res = json.loads(after.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        res = {"api": {"error": after.stderr[-300:]}, "later_ok": False, "cli_exit": None}
    api = res["api"]
    later_ok = res["later_ok"]
    cli_calls: dict[str, int] = {}
    if res.get("cli_exit") == 0:
        cli_calls = {str(r["feature"]): r["calls"] for r in json.loads(res["cli_out"])["totals"]}
    cli_exit, cli_err = res.get("cli_exit"), str(res.get("cli_err", "")).strip()

    integrity = None
    if base == "sqlite":
        import sqlite3

        with sqlite3.connect(path) as c:
            integrity = c.execute("PRAGMA integrity_check").fetchone()[0]
    calls = api.get("calls", {}) if isinstance(api.get("calls"), dict) else {}
    return {
        "kind": kind,
        "confirmed": confirmed_n,
        "expected_readable": expected,
        "torn_by_kill": torn_by_kill,
        "later_writer_ok": later_ok,
        "api_error": api.get("error"),
        "api_first": calls.get("first", 0),
        "api_later": calls.get("later", 0),
        "damaged_lines": api.get("damaged_lines"),
        "warnings": api.get("warnings"),
        "cli_exit": cli_exit,
        "cli_first": cli_calls.get("first", 0),
        "cli_later": cli_calls.get("later", 0),
        "cli_stderr": cli_err.splitlines()[-1][:200] if cli_err else "",
        "integrity": integrity,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "kinds", nargs="*", default=["sqlite", "jsonl", "deadletter", "jsonl-cut", "deadletter-cut"]
    )
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for kind in args.kinds:
        rows = []
        for i in range(args.runs):
            with tempfile.TemporaryDirectory() as d:
                row = one_run(kind, rng, Path(d))
            rows.append(row)
            print(json.dumps(row), flush=True)
        lost = sum(1 for r in rows if r["api_first"] < r["expected_readable"])
        print(
            f"SUMMARY {kind}: runs {len(rows)}; confirmed records {sum(r['confirmed'] for r in rows)}"
            f" (readable expected {sum(r['expected_readable'] for r in rows)}), readable by the API "
            f"{sum(r['api_first'] for r in rows)}; runs losing confirmed records {lost}; "
            f"API failed {sum(1 for r in rows if r['api_error'])}; "
            f"CLI failed {sum(1 for r in rows if r['cli_exit'] != 0)}; "
            f"later 10 readable (API) {sum(1 for r in rows if r['api_later'] == 10)}/{len(rows)}; "
            f"torn by the kill {sum(1 for r in rows if r['torn_by_kill'])}; "
            f"damaged lines reported {sum(r['damaged_lines'] or 0 for r in rows)}; "
            f"runs with a damage warning {sum(1 for r in rows if r['warnings'])}; "
            f"CLI later 10 readable {sum(1 for r in rows if r['cli_later'] == 10)}/{len(rows)}; "
            f"integrity {sorted({str(r['integrity']) for r in rows})}",
            flush=True,
        )


if __name__ == "__main__":
    main()
