"""Every way of reading the same ledgers must give the same numbers.

Usage: python compare.py NAME=LEDGER [NAME=LEDGER ...]   (SQLite .db, .jsonl, postgresql://)
Runs `llm-cost report` (in-process, the installed package's cli.main) for every --by dimension,
every --show table, the formats table/csv/json, windows and both failure policies, renders the
HTML report, and compares all of it with a recomputation from the raw rows written here from
the documented meaning of each column.  Prints each difference; exit 1 when there is one."""

import contextlib
import csv
import io
import json
import re
import sqlite3
import sys
from collections import defaultdict
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

from llm_cost_hooks.cli import main as cli
from llm_cost_hooks.ledger import LedgerReports

LEDGERS = dict(a.split("=", 1) for a in sys.argv[1:])
DIMS = [
    "tenant",
    "user",
    "feature",
    "route",
    "prompt_version",
    "model",
    "provider",
    "day",
    "month",
    "cache_status",
    "success",
]
TASK_DIMS = DIMS[:9]
WINDOWS = [
    (None, None),
    ("2026-11-01", None),  # a date: UTC midnight
    (None, "2026-11-01"),
    ("2026-11-01T00:00:00", "2026-11-15"),  # naive: UTC
    ("2026-11-01T00:00:00+01:00", None),  # Berlin's midnight = 23:00 UTC on 31 October
    (None, "2026-11-01T00:00:00+01:00"),
    ("2026-11-01T00:00:00.002+00:00", None),  # a record's exact timestamp: inclusive
    (None, "2026-11-01T00:00:00.002+00:00"),  # ... and exclusive
    ("2026-10-31T23:30:00.002-00:00", "2026-11-01T10:00:00+01:00"),
]
problems: list[str] = []


def problem(text: str) -> None:
    problems.append(text)
    print("DIFF", text)


def run(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(argv))
    if code != 0:
        raise RuntimeError(f"llm-cost {' '.join(argv)} -> {code}: {err.getvalue()}")
    return out.getvalue()


# ---------------------------------------------------------------- raw rows, read directly
def raw(ledger: str) -> tuple[list[dict], list[dict]]:
    if ledger.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(ledger) as c:
            cur = c.execute("SELECT * FROM cost_records")
            cols = [d[0] for d in cur.description]
            recs = [dict(zip(cols, r)) for r in cur.fetchall()]
            cur = c.execute("SELECT task_id, success, source, reason, timestamp FROM task_outcomes")
            cols = [d[0] for d in cur.description]
            outs = [dict(zip(cols, r)) for r in cur.fetchall()]
    elif ledger.endswith(".jsonl"):
        recs, outs = [], []
        for line in Path(ledger).read_text().splitlines():
            d = json.loads(line)
            if "task_outcome" in d:
                outs.append(d["task_outcome"])
            else:
                recs.append(d)
        for r in recs:
            r["cache_read_tokens"] = r.get("cache_read_tokens", 0)
    else:
        c = sqlite3.connect(ledger)
        c.row_factory = sqlite3.Row
        recs = [dict(r) for r in c.execute("SELECT * FROM cost_records")]
        outs = [
            dict(r)
            for r in c.execute("SELECT task_id, success, source, reason, timestamp FROM task_outcomes")
        ]
    for r in recs:
        ts = r["timestamp"]
        r["ts"] = (
            ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
        ).astimezone(timezone.utc)
        r["success"] = 1 if r["success"] in (1, True) else 0
        r["tags"] = r["tags"] if isinstance(r["tags"], dict) else json.loads(r["tags"]) if r["tags"] else {}
        for k in ("cost_usd", "saved_usd"):
            r[k] = float(r[k] or 0)
    for o in outs:
        o["success"] = 1 if o["success"] in (1, True) else 0
    return recs, outs


def dim(r: dict, k: str):
    if r.get(k) == "":
        return None  # documented: an empty name is reported as none
    if k == "day":
        return r["ts"].strftime("%Y-%m-%d")
    if k == "month":
        return r["ts"].strftime("%Y-%m")
    return r[k]


def bound(v):
    if v is None:
        return None
    t = datetime.fromisoformat(v)
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def window(recs, since, until):
    s, u = bound(since), bound(until)
    return [r for r in recs if (s is None or r["ts"] >= s) and (u is None or r["ts"] < u)]


def expect_totals(recs, keys):
    groups = defaultdict(list)
    for r in recs:
        groups[tuple(dim(r, k) for k in keys)].append(r)
    out = {}
    for key, rs in groups.items():
        out[key] = {
            "calls": len(rs),  # every record is a call, refused ones included
            "input_tokens": sum(r["input_tokens"] for r in rs),
            "output_tokens": sum(r["output_tokens"] for r in rs),
            "cache_read_tokens": sum(r["cache_read_tokens"] for r in rs),
            "reasoning_tokens": sum(r["reasoning_tokens"] for r in rs),
            "cost_usd": sum(r["cost_usd"] for r in rs),
            "saved_usd": sum(r["saved_usd"] for r in rs),
            "errors": sum(1 for r in rs if not r["success"]),
            "cache_hits": sum(1 for r in rs if r["cache_status"] != "miss"),
            "retry_cost_usd": sum(r["cost_usd"] for r in rs if r["attempt"] > 1),
        }
    return out


def expect_tasks(recs_all, recs, outs, keys, policy):
    """Documented: a task is its task_id; any_error fails it when a call errored, its root
    raised (run outcome failed) or the user marked it failed; root_error only the last two; the
    user's latest mark wins. Cost per successful task = all task cost / successful tasks. A
    task's dimensions are its first call's."""
    first = {}
    for r in sorted(recs_all, key=lambda r: (r["ts"], r["request_id"])):
        first.setdefault(r["task_id"] or r["request_id"], r)
    by_task = defaultdict(list)
    for r in recs:
        by_task[r["task_id"] or r["request_id"]].append(r)
    run_failed, user_mark = defaultdict(bool), {}
    for o in sorted(outs, key=lambda o: str(o["timestamp"])):
        if o["source"] == "run" and not o["success"]:
            run_failed[o["task_id"]] = True
        if o["source"] == "user":
            user_mark[o["task_id"]] = o["success"]
    groups = defaultdict(list)
    for t, rs in by_task.items():
        if t in user_mark:
            ok = user_mark[t]
        elif policy == "any_error":
            ok = all(r["success"] for r in rs) and not run_failed[t]
        else:
            ran = any(o["task_id"] == t and o["source"] == "run" for o in outs)
            ok = (not run_failed[t]) if ran else all(r["success"] for r in rs)
        groups[tuple(dim(first[t], k) for k in keys)].append((rs, ok))
    out = {}
    for key, ts in groups.items():
        cost = sum(r["cost_usd"] for rs, _ in ts for r in rs)
        ok = sum(1 for _, k in ts if k)
        out[key] = {
            "tasks": len(ts),
            "successful_tasks": ok,
            "failed_tasks": len(ts) - ok,
            "calls": sum(len(rs) for rs, _ in ts),
            "cost_usd": cost,
            "cost_per_task": cost / len(ts),
            "cost_per_successful_task": cost / ok if ok else None,
            "retry_cost_usd": sum(r["cost_usd"] for rs, _ in ts for r in rs if r["attempt"] > 1),
            "failed_call_cost_usd": sum(r["cost_usd"] for rs, _ in ts for r in rs if not r["success"]),
            "saved_usd": sum(r["saved_usd"] for rs, _ in ts for r in rs),
        }
    return out


def expect_cache(recs):
    groups = defaultdict(list)
    for r in recs:
        if r["cache_status"] != "miss":
            groups[(r["cache_status"],)].append(r)
    return {
        k: {
            "hits": len(rs),
            "saved_usd": sum(r["saved_usd"] - float(r["tags"].get("batch.saved_usd", 0)) for r in rs),
        }
        for k, rs in groups.items()
    }


def close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 + 1e-9 * abs(b)
    return a == b


def check(where, rows, expected, keys):
    got = {tuple(r[k] for k in keys): r for r in rows}
    if set(got) != set(expected):
        problem(f"{where}: groups {sorted(map(str, got))} != expected {sorted(map(str, expected))}")
    for key in set(got) & set(expected):
        for col, v in expected[key].items():
            if not close(got[key].get(col), v):
                problem(f"{where} {key} {col}: report {got[key].get(col)!r} != recomputed {v!r}")
    # rows must add up to the ungrouped total
    return got


def parse_table(text: str) -> list[dict]:
    """The blocks of a table report: a header line, a dashes line, rows up to a blank line."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line and set(line.replace(" ", "")) == {"-"}:
            rows = []
            for row in lines[i + 1 :]:
                if not row.strip():
                    break
                rows.append(row)
            blocks.append({"cols": re.split(r"\s{2,}", lines[i - 1].strip()), "rows": rows})
    return blocks


def shown(v) -> str:
    """What the table shows for a JSON value (format_rows' documented display)."""
    if v is None:
        return "-"
    return v


def num(text: str):
    t = text.replace("$", "").replace(",", "")
    try:
        return float(t)
    except ValueError:
        return text


def compare_table_json(where, table_text, js):
    blocks = parse_table(table_text)
    tables = [k for k in js]
    if len(blocks) != sum(1 for k in tables if js[k]):
        problem(f"{where}: {len(blocks)} table blocks for {tables}")
        return
    for block, name in zip(blocks, [k for k in tables if js[k]]):
        rows = js[name]
        if block["cols"] != list(rows[0]):
            problem(f"{where} {name}: table columns {block['cols']} != json {list(rows[0])}")
        if len(block["rows"]) != len(rows):
            problem(f"{where} {name}: {len(block['rows'])} table rows != {len(rows)} json rows")
            continue
        for line, row in zip(block["rows"], rows):
            cells = re.split(r"\s{2,}", line.strip())
            if len(cells) != len(row):
                continue  # names with double spaces: not in this workload
            for cell, (col, v) in zip(cells, row.items()):
                if isinstance(v, float):
                    digits = (
                        6
                        if "." in cell and len(cell.split(".")[1]) == 6
                        else 2
                        if cell.startswith("$")
                        else 3
                    )
                    if abs(num(cell) - v) > 0.5 * 10**-digits + 1e-12:
                        problem(f"{where} {name} {col}: table {cell} vs json {v}")
                elif isinstance(v, int) and not isinstance(v, bool):
                    if num(cell) != v:
                        problem(f"{where} {name} {col}: table {cell} vs json {v}")
                elif v is None and cell != "-":
                    problem(f"{where} {name} {col}: table {cell} vs json None")


def compare_csv_json(where, csv_text, js):
    blocks = [b for b in csv_text.split("\n\n")]
    names = list(js)
    nonempty = [b.strip("\n") for b in blocks if b.strip()]
    if len(nonempty) != sum(1 for k in names if js[k]):
        problem(f"{where}: {len(nonempty)} csv blocks for {[(k, len(js[k])) for k in names]}")
        return
    for b, name in zip(nonempty, [k for k in names if js[k]]):
        rows = list(csv.DictReader(io.StringIO(b)))
        if len(rows) != len(js[name]):
            problem(f"{where} {name}: csv {len(rows)} rows != json {len(js[name])}")
            continue
        for cr, jr in zip(rows, js[name]):
            for col, v in jr.items():
                c = cr.get(col)
                if v is None:
                    ok = c == ""
                elif isinstance(v, (int, float)) and not isinstance(v, bool):
                    ok = c != "" and float(c) == float(v)
                else:
                    ok = c == str(v)
                if not ok:
                    problem(f"{where} {name} {col}: csv {c!r} != json {v!r}")


class Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self._h2, self._cell, self._row, self.name = {}, False, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._h2, self.name = True, ""
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "h2":
            self._h2 = False
            self.sections[self.name] = []
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            self.sections[self.name].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._h2:
            self.name += data
        elif self._cell is not None:
            self._cell += data


results: dict[str, dict] = {}
for name, ledger in LEDGERS.items():
    recs, outs = raw(ledger)
    print(f"== {name}: {len(recs)} records, {len(outs)} outcomes ({ledger})")
    res = results[name] = {}
    for since, until in WINDOWS:
        w = [*(["--since", since] if since else []), *(["--until", until] if until else [])]
        inw = window(recs, since, until)
        for by in [None, *DIMS, "tenant,day", "feature,route,prompt_version"]:
            keys = by.split(",") if by else []
            task_keys = [k for k in keys if k in TASK_DIMS]
            for policy in ("any_error", "root_error"):
                if (
                    (since, until) != (None, None)
                    and by not in (None, "tenant", "day")
                    and policy == "root_error"
                ):
                    continue
                base = [
                    "report",
                    ledger,
                    *(["--by", by] if by else []),
                    "--show",
                    "totals,tasks,cache,budget",
                    "--failure-policy",
                    policy,
                    *w,
                ]
                js = json.loads(run(*base, "--format", "json"))
                where = f"{name} by={by} {since}..{until} {policy}"
                res[where.split(" ", 1)[1]] = js
                check(where + " totals", js["totals"], expect_totals(inw, keys), keys)
                check(
                    where + " tasks", js["tasks"], expect_tasks(recs, inw, outs, task_keys, policy), task_keys
                )
                check(where + " cache", js["cache"], expect_cache(inw), ["cache_status"])
                # rows add up to the ungrouped totals
                if keys:
                    whole = expect_totals(inw, [])
                    for col in ("calls", "cost_usd", "saved_usd", "errors", "cache_hits"):
                        s = sum(r[col] or 0 for r in js["totals"])
                        if whole and not close(s, whole[()][col]):
                            problem(f"{where}: rows of {col} sum to {s} != total {whole[()][col]}")
                if (since, until) == (None, None) or by in (None, "tenant"):
                    compare_csv_json(where, run(*base, "--format", "csv"), js)
                    compare_table_json(where, run(*base, "--format", "table"), js)
        # the HTML page's tables against the JSON of the same window
        html_path = f"/tmp/parity-work/{name}.html"
        run("report", ledger, "--html", html_path, "--format", "json", *w)
        p = Tables()
        p.feed(Path(html_path).read_text())
        sect = p.sections
        for title, by in [
            ("Totals", None),
            ("By tenant", "tenant"),
            ("By feature", "feature"),
            ("By route", "route"),
            ("By prompt version", "prompt_version"),
            ("By model", "model"),
            ("By day", "day"),
        ]:
            js = res[f"by={by} {since}..{until} any_error"]["totals"]
            rows = sect.get(title, [])
            body = rows[1:]
            if len(body) != len(js):
                problem(f"{name} html {title} {since}..{until}: {len(body)} rows != {len(js)}")
                continue
            cols = rows[0] if rows else []
            for cells, jr in zip(body, js):
                for col, cell in zip(cols, cells):
                    v = jr.get(col)
                    if (isinstance(v, float) and abs(num(cell) - v) > 0.5e-6 + 1e-12) or (
                        isinstance(v, int) and not isinstance(v, bool) and num(cell) != v
                    ):
                        problem(f"{name} html {title} {since}..{until} {col}: page {cell} vs json {v}")
        tj = res[f"by=None {since}..{until} any_error"]["tasks"]
        trows = sect.get("Tasks: cost per successful task", [])
        if len(trows[1:]) != len(tj):
            problem(f"{name} html tasks {since}..{until}: {len(trows) - 1} rows != {len(tj)}")
        for cells, jr in zip(trows[1:], tj):
            for col, cell in zip(trows[0], cells):
                v = jr.get(col)
                if (v is None and cell != "–") or (v is not None and abs(num(cell) - v) > 0.5e-6 + 1e-12):
                    problem(f"{name} html tasks {since}..{until} {col}: page {cell} vs json {v}")
        # the time series the page's charts draw, kept for the comparison between stores
        reports = LedgerReports.open(ledger)
        for bucket in ("hour", "day", "month"):
            for by in (None, "tenant", "feature", "route"):
                res[f"series {bucket} {by} {since}..{until}"] = {
                    "series": reports.timeseries(bucket, by=by, since=since, until=until)
                }
        reports.close()

# handler.report(...) written by the workload (REPORTS=a.json,b.json) against the CLI's totals
for path in filter(None, __import__("os").environ.get("REPORTS", "").split(",")):
    rep = json.loads(Path(path).read_text())
    first = results[next(iter(results))]
    for key, cli_key in [
        ("report", "by=None None..None any_error"),
        ("report_by_tenant", "by=tenant None..None any_error"),
        ("report_by_day", "by=day None..None any_error"),
        ("report_by_tenant_since", "by=tenant 2026-11-01..None any_error"),
    ]:
        if rep[key] != first[cli_key]["totals"]:
            problem(f"handler.report {path} {key}: {rep[key]} != CLI {first[cli_key]['totals']}")

# the savings waterfall (HTML page) against the totals: billed = cost_usd; its total saving =
# saved_usd less the prompt cache's write premiums (documented: saved_usd is gross of them)
from llm_cost_hooks.ledger._html import savings_waterfall  # noqa: E402

for name, ledger in LEDGERS.items():
    recs, _ = raw(ledger)
    reports = LedgerReports.open(ledger)
    steps = savings_waterfall(reports)
    reports.close()
    premium = sum(float(r["tags"].get("prompt_cache.write_premium_usd", 0)) for r in recs)
    billed, saved = sum(r["cost_usd"] for r in recs), sum(r["saved_usd"] for r in recs)
    if not close(steps[-1]["cost_usd"], billed):
        problem(f"{name} waterfall billed {steps[-1]['cost_usd']} != {billed}")
    if not close(steps[-1]["saving_usd"], saved - premium):
        problem(f"{name} waterfall saving {steps[-1]['saving_usd']} != saved {saved} - premiums {premium}")
    print(
        f"{name}: waterfall {[(s['step'], round(s['saving_usd'], 6)) for s in steps]}; premiums {premium:.6f}"
    )

# every backend, the same JSON (values and row order)
names = list(results)
for other in names[1:]:
    for key, js in results[names[0]].items():
        o = results[other].get(key)
        if o is None:
            continue
        for table in js:
            a, b = js[table], o[table]
            if len(a) != len(b):
                problem(f"{names[0]} vs {other} {key} {table}: {len(a)} rows != {len(b)}")
                continue
            for ra, rb in zip(a, b):
                if list(ra) != list(rb) or any(not close(ra[c], rb[c]) for c in ra):
                    problem(f"{names[0]} vs {other} {key} {table}: {ra} != {rb}")
                    break
print(f"{len(problems)} differences")
sys.exit(1 if problems else 0)
