"""Sums by hand (sqlite3 rows + what scenario.py did) against `llm-cost report --format json`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from llm_cost_hooks.pricing import PriceBook  # the price map's path; the prices are read from the file

LLM_COST = sys.argv[1] if len(sys.argv) > 1 else "llm-cost"
exp = json.loads(Path("expected.json").read_text())
conn = sqlite3.connect("costs.db")
conn.row_factory = sqlite3.Row
rows = [dict(r) for r in conn.execute("select * from cost_records")]
problems: list[str] = []
print(f"records: {len(rows)}; calls made by the script: {len(exp['calls'])}")
if len(rows) != len(exp["calls"]):
    problems.append(f"record count {len(rows)} != calls {len(exp['calls'])}")

# each record's attribution against what the script tagged (task id -> call)
by_task = {c["task_id"]: c for c in exp["calls"]}
for r in rows:
    c = by_task.get(r["task_id"])
    if c is None:
        problems.append(f"record {r['request_id']} in unknown task {r['task_id']}")
        continue
    for k in ("tenant", "feature", "route", "prompt_version", "model"):
        if r[k] != c[k]:
            problems.append(f"task {c['task_id']}: {k} {r[k]!r} != tagged {c[k]!r}")

# cost = tokens x prices, per record
pb = PriceBook.default()
pmap = json.loads(Path(pb.price_map_path).read_text())  # LiteLLM's map itself: per-token prices
for r in rows:
    p = pmap[r["model"]]
    assert not r["cache_read_tokens"] and not r["cache_write_tokens"]
    want = r["input_tokens"] * p["input_cost_per_token"] + r["output_tokens"] * p["output_cost_per_token"]
    if abs(want - r["cost_usd"]) > 1e-12 + 1e-9 * want:
        problems.append(
            f"{r['model']} {r['input_tokens']}/{r['output_tokens']}: cost {r['cost_usd']} != tokens x prices {want}"
        )


def cli(*args: str) -> tuple[int, str, str]:
    out = subprocess.run([LLM_COST, "report", *args], capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


for dim in ("tenant", "feature", "route", "prompt_version", "model"):
    hand_cost: dict = defaultdict(float)
    hand_calls: dict = defaultdict(int)
    hand_tokens: dict = defaultdict(int)
    for r in rows:
        hand_cost[r[dim]] += r["cost_usd"]
        hand_calls[r[dim]] += 1
        hand_tokens[r[dim]] += r["input_tokens"] + r["output_tokens"]
    rc, out, err = cli("costs.db", "--by", dim, "--format", "json", "--show", "totals")
    assert rc == 0, err
    got = {t[dim]: t for t in json.loads(out)["totals"]}
    if set(got) != set(hand_cost):
        problems.append(f"--by {dim}: keys {sorted(got)} != {sorted(hand_cost)}")
    for k, v in hand_cost.items():
        g = got.get(k, {})
        if abs(g.get("cost_usd", -1) - v) > 1e-12 or g.get("calls") != hand_calls[k]:
            problems.append(f"--by {dim} {k!r}: report {g} vs hand cost {v} calls {hand_calls[k]}")
    print(
        f"--by {dim}: "
        + ", ".join(f"{k}=${v:.6f}/{hand_calls[k]} calls" for k, v in sorted(hand_cost.items()))
        + "  (hand) == report"
        if not any(p.startswith(f"--by {dim}") for p in problems)
        else f"--by {dim}: MISMATCH"
    )

# tasks: ground truth from the script
tasks = {c["task_id"] for c in exp["calls"]}
failed = set(exp["failed_tasks"])
total = sum(r["cost_usd"] for r in rows)
ok = len(tasks - failed)
rc, out, err = cli("costs.db", "--format", "json", "--show", "tasks")
t = json.loads(out)["tasks"][0]
print("tasks (report):", t)
print(f"tasks (hand): {len(tasks)} tasks, {ok} successful, cost per successful task {total / ok:.8f}")
if (
    t["tasks"] != len(tasks)
    or t["successful_tasks"] != ok
    or abs(t["cost_per_successful_task"] - total / ok) > 6e-11
):
    problems.append(f"tasks: report {t} vs hand tasks={len(tasks)} ok={ok} cpst={total / ok}")
# per tenant
rc, out, err = cli("costs.db", "--by", "tenant", "--format", "json", "--show", "tasks")
for t in json.loads(out)["tasks"]:
    ten = t["tenant"]
    tt = {c["task_id"] for c in exp["calls"] if c["tenant"] == ten}
    okt = len(tt - failed)
    cost = sum(r["cost_usd"] for r in rows if r["tenant"] == ten)
    want = cost / okt if okt else None
    if (
        t["tasks"] != len(tt)
        or t["successful_tasks"] != okt
        or (want is not None and abs(t["cost_per_successful_task"] - want) > 6e-11)
    ):
        problems.append(f"tasks by tenant {ten!r}: report {t} vs hand tasks={len(tt)} ok={okt} cpst={want}")
# tasks per dimension (every task here has one call, so its dimensions are its call's)
for dim in ("feature", "route", "prompt_version", "model"):
    rc, out, err = cli("costs.db", "--by", dim, "--format", "json", "--show", "tasks")
    for t in json.loads(out)["tasks"]:
        tt = {c["task_id"] for c in exp["calls"] if c[dim] == t[dim]}
        okt = len(tt - failed)
        cost = sum(r["cost_usd"] for r in rows if r[dim] == t[dim])
        want = cost / okt if okt else None
        if (
            t["tasks"] != len(tt)
            or t["successful_tasks"] != okt
            or (want is not None and abs(t["cost_per_successful_task"] - want) > 6e-11)
        ):
            problems.append(
                f"tasks by {dim} {t[dim]!r}: report {t} vs hand tasks={len(tt)} ok={okt} cpst={want}"
            )
    print(f"tasks --by {dim}: checked {len(json.loads(out)['tasks'])} rows")
# cache savings
rc, out, err = cli("costs.db", "--format", "json", "--show", "cache")
hand = defaultdict(lambda: [0, 0.0])
for r in rows:
    if r["cache_status"] != "miss":
        hand[r["cache_status"]][0] += 1
        hand[r["cache_status"]][1] += r["saved_usd"]
got = {c["cache_status"]: [c["hits"], c["saved_usd"]] for c in json.loads(out)["cache"]}
print("cache (report):", got, "(hand):", dict(hand))
if set(got) != set(hand) or any(got[k][0] != hand[k][0] or abs(got[k][1] - hand[k][1]) > 1e-12 for k in hand):
    problems.append(f"cache: report {got} vs hand {dict(hand)}")
print("PROBLEMS:" if problems else "all sums agree", *problems, sep="\n  ")
