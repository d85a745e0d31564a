"""The fleet set-up of docs/fleet.md, run as an operator would, with its faults.

One PostgreSQL ledger, one Redis spend limit and one OTLP/HTTP receiver (real servers).
A parent process records, then forks 2 workers (they keep the parent's handler, guard and
telemetry, as a pre-fork server's workers do) and starts 2 workers with ``multiprocessing``
spawn (they build their own from the environment). Every worker runs LangChain tasks of two
model calls each, with tenants, features and routes. While they run, PostgreSQL is
restarted, the OTLP receiver is stopped and started again, and Redis is restarted.

Every call carries ``cost_tags={"proc": ..., "seq": ...}``, so the ledger is checked call
by call: exactly one row per call, none missing, none twice.

Run from an empty directory with the venv where the wheel is installed (README.md):

    /tmp/fl_venv/bin/python fleet.py [--tasks 120]
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "bench" / "results" / "records-2026-12-07"))
from faults import Postgres, Redis, _free_port, _wait_port  # noqa: E402

LLM_COST = str(Path(sys.executable).parent / "llm-cost")
RECEIVER = HERE.parents[2] / "tests" / "otlp_receiver.py"
TENANTS = ["acme", "globex", "initech"]
FEATURES = ["support", "search"]
MODELS = {"cheap": "gpt-4o-mini", "strong": "gpt-4o"}
SECRET = "PROMPT-TEXT-7f3a"  # must never reach a span
ANSWER = "ANSWER-TEXT-91bc"
# acme's daily limit is reached during the run; the others are not
LIMIT_ACME = 0.012


def _chat_model(model_name: str) -> Any:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class Model(BaseChatModel):
        model_name: str = "gpt-4o-mini"
        max_tokens: int = 10

        @property
        def _llm_type(self) -> str:
            return "fleet-model"

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            msg = AIMessage(content=ANSWER, response_metadata={"model_name": self.model_name})
            msg.usage_metadata = {"input_tokens": 8, "output_tokens": 10, "total_tokens": 18}
            return ChatResult(generations=[ChatGeneration(message=msg)])

    return Model(model_name=model_name)


class App:
    """What an app module builds at import, from the environment (docs/fleet.md)."""

    def __init__(self, alerts_path: Path) -> None:
        from langchain_core.prompts import ChatPromptTemplate

        from llm_cost_hooks.budget import AlertManager, Limit, SpendGuard
        from llm_cost_hooks.langchain import CostCallbackHandler, GuardedChatModel
        from llm_cost_hooks.telemetry import OTelObserver, configure_otel

        observers = []
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            tracer_provider, meter_provider = configure_otel(metric_export_interval_ms=2000)
            self.otel = OTelObserver(tracer_provider=tracer_provider, meter_provider=meter_provider)
            observers.append(self.otel)
        self.handler = CostCallbackHandler(observers=observers)
        self.alerts_path = alerts_path
        limits = [Limit.usd(LIMIT_ACME, per="day", scope="tenant", name="tenant-daily")]
        self.guard = SpendGuard(limits, store=os.environ["REDIS_URL"], alerts=AlertManager([self._alert]))
        prompt = ChatPromptTemplate.from_messages([("user", SECRET + " {q}")])
        self.chains = {
            route: prompt | GuardedChatModel(inner=_chat_model(m), guard=self.guard)
            for route, m in MODELS.items()
        }

    def _alert(self, event: Any) -> None:
        with open(self.alerts_path, "a") as f:
            f.write(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "t": round(time.time(), 2),
                        "kind": event.kind,
                        "threshold": getattr(event, "threshold", None),
                        "tenant": event.scope_value,
                        "period": event.period_id,
                    }
                )
                + "\n"
            )


def run_tasks(app: App, proc: str, n_tasks: int, out: Path, pace: float) -> None:
    from langchain_core.runnables import RunnableLambda

    from llm_cost_hooks.budget import BudgetExceeded

    calls = refused = other_errors = 0
    tasks: Counter[tuple[str, str]] = Counter()
    ok_tasks: Counter[tuple[str, str]] = Counter()
    seq = 0
    for t in range(n_tasks):
        tenant = TENANTS[t % 3]
        feature = FEATURES[(t // 3) % 2]
        route = "cheap" if t % 4 else "strong"
        ids = []

        def body(q: str, config: Any, _route: str = route) -> str:
            nonlocal seq, calls
            answers = []
            for _ in range(2):
                seq += 1
                calls += 1
                ids.append(seq)
                cfg = {"metadata": {"cost_tags": {"proc": proc, "seq": str(seq)}}}
                answers.append(app.chains[_route].invoke({"q": q}, config=cfg).content)
            return " ".join(answers)

        from uuid import uuid4

        run_id = uuid4()
        meta = {"tenant_id": tenant, "feature": feature, "route": route}
        failed = False
        try:
            RunnableLambda(body).invoke(
                "where is my order", config={"callbacks": [app.handler], "metadata": meta, "run_id": run_id}
            )
        except BudgetExceeded:
            refused += 1
            failed = True
        except Exception as exc:
            other_errors += 1
            failed = True
            print(f"{proc}: chain raised {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        if not failed and t % 5 == 4:
            app.handler.mark_task(run_id, success=False, reason="thumbs-down")
            failed = True
        tasks[(tenant, feature)] += 1
        if not failed:
            ok_tasks[(tenant, feature)] += 1
        time.sleep(pace)
    result = {
        "proc": proc,
        "pid": os.getpid(),
        "calls": calls,
        "refused_tasks": refused,
        "other_errors": other_errors,
        "tasks": {f"{k[0]}|{k[1]}": v for k, v in tasks.items()},
        "ok_tasks": {f"{k[0]}|{k[1]}": v for k, v in ok_tasks.items()},
        "ledger_stats": str(app.handler.tracker.ledger.stats),
        "telemetry_stats": str(getattr(getattr(app, "otel", None), "stats", None)),
    }
    out.write_text(json.dumps(result))


def _log_to(path: Path) -> None:
    logging.basicConfig(
        filename=str(path), level=logging.WARNING, format="%(process)d %(name)s %(levelname)s %(message)s"
    )


def spawn_worker(proc: str, n_tasks: int, work: str, pace: float) -> None:
    w = Path(work)
    _log_to(w / f"log-{proc}.txt")
    app = App(w / "alerts.jsonl")
    run_tasks(app, proc, n_tasks, w / f"result-{proc}.json", pace)
    # a normal exit: the ledger and the exporters flush at exit


class PersistentRedis(Redis):
    """An operator's Redis: its data survives a restart (append-only file)."""

    def start(self) -> None:
        import faults

        self.proc = subprocess.Popen(
            [
                faults.REDIS_BIN,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                self.dir,
            ],
            env={**os.environ, "LD_LIBRARY_PATH": faults.LIBSSL11},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)
        time.sleep(0.3)


class Receiver:
    def __init__(self, out: Path) -> None:
        self.port = _free_port()
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(RECEIVER), "--http-port", str(self.port), "--out", str(self.out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def main() -> int:
    n_tasks = int(sys.argv[sys.argv.index("--tasks") + 1]) if "--tasks" in sys.argv else 200
    pace = 0.12
    work = Path(tempfile.mkdtemp(prefix="fleet-"))
    print(f"work dir {work}", flush=True)
    pg, receiver = Postgres(), Receiver(work / "otlp.jsonl")
    # an operator's Redis keeps its data over a restart; FLEET_REDIS=volatile: it does not
    redis = Redis() if os.environ.get("FLEET_REDIS") == "volatile" else PersistentRedis()
    pg.start()
    redis.start()
    receiver.start()
    db = pg.create_database("llm_costs")
    os.environ.update(
        LLM_COST_HOOKS_LEDGER=db,
        REDIS_URL=redis.url,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.port}",
        OTEL_SERVICE_NAME="support-bot",
    )
    subprocess.run([LLM_COST, "ledger", "migrate", db], check=True, capture_output=True)
    _log_to(work / "log-parent.txt")
    app = App(work / "alerts.jsonl")
    run_tasks(app, "parent", 10, work / "result-parent.json", 0.0)
    app.handler.flush(10)

    children = []
    for i in range(2):
        pid = os.fork()
        if pid == 0:
            logging.getLogger().handlers.clear()
            _log_to(work / f"log-fork{i}.txt")
            code = 0
            try:
                run_tasks(app, f"fork{i}", n_tasks, work / f"result-fork{i}.json", pace)
            except BaseException as exc:
                print(f"fork{i}: {exc!r}", file=sys.stderr)
                code = 1
            sys.exit(code)  # a normal exit: the exit hooks flush
        children.append(pid)
    ctx = mp.get_context("spawn")
    spawned = [
        ctx.Process(target=spawn_worker, args=(f"spawn{i}", n_tasks, str(work), pace)) for i in range(2)
    ]
    for p in spawned:
        p.start()

    events = []
    t0 = time.monotonic()

    def at(t: float, what: str) -> None:
        time.sleep(max(0.0, t - (time.monotonic() - t0)))
        events.append((round(time.monotonic() - t0, 1), what))
        print(f"{events[-1][0]:6.1f}s {what}", flush=True)

    def pg_stop() -> None:
        pg.proc.send_signal(signal.SIGINT)  # type: ignore[union-attr]
        pg.proc.wait(30)  # type: ignore[union-attr]
        pg.proc = None

    def redis_stop() -> None:
        redis.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        redis.proc.wait(30)  # type: ignore[union-attr]
        redis.proc = None

    redis_at = float(os.environ.get("FLEET_REDIS_DOWN_AT", "22"))
    schedule = [
        (6.0, "PostgreSQL fast stop", pg_stop),
        (10.0, "PostgreSQL start", pg.start),
        (13.0, "OTLP receiver killed", receiver.stop),
        (19.0, "OTLP receiver start", receiver.start),
        (redis_at, "Redis shutdown (SIGTERM, data saved)", redis_stop),
        (redis_at + 5, "Redis start", redis.start),
    ]
    for t, what, action in sorted(schedule, key=lambda x: x[0]):
        at(t, what)
        action()

    codes = {}
    for i, pid in enumerate(children):
        codes[f"fork{i}"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    for i, p in enumerate(spawned):
        p.join()
        codes[f"spawn{i}"] = p.exitcode
    events.append((round(time.monotonic() - t0, 1), "workers done"))
    app.handler.flush(30)
    time.sleep(3)  # the parent's metric reader and the receiver's last writes

    try:
        summary = check(work, db, redis.url, codes, events)
    finally:
        receiver.stop()
        redis.stop()
        pg.stop()
    (work / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if "--out" in sys.argv:
        Path(sys.argv[sys.argv.index("--out") + 1]).write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str))
    return 0 if summary["ok"] else 1


def check(work: Path, db: str, redis_url: str, codes: dict[str, Any], events: list[Any]) -> dict[str, Any]:
    import psycopg

    from llm_cost_hooks.budget import Limit, SpendGuard

    results = {p.stem[len("result-") :]: json.loads(p.read_text()) for p in work.glob("result-*.json")}
    calls = sum(r["calls"] for r in results.values())
    problems: list[str] = []
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT request_id) FROM cost_records").fetchone()
        tagged = conn.execute(
            "SELECT tags::jsonb->>'proc', tags::jsonb->>'seq', count(*) FROM cost_records GROUP BY 1, 2"
        ).fetchall()
        total = float(conn.execute("SELECT coalesce(sum(cost_usd), 0) FROM cost_records").fetchone()[0])
        per_model = conn.execute(
            "SELECT model, success, count(*), min(cost_usd), max(cost_usd) FROM cost_records GROUP BY 1, 2"
        ).fetchall()
        refused_cost = conn.execute(
            "SELECT error_type, count(*), coalesce(sum(cost_usd), 0) FROM cost_records WHERE success = 0 GROUP BY 1"
        ).fetchall()
        tenant_spend = conn.execute(
            "SELECT tenant, sum(cost_usd) FROM cost_records WHERE success = 1 GROUP BY 1 ORDER BY 1"
        ).fetchall()
        acme = float(
            conn.execute(
                "SELECT coalesce(sum(cost_usd), 0) FROM cost_records WHERE tenant = 'acme' AND success = 1"
            ).fetchone()[0]
        )
    seen = Counter((p, s) for p, s, _ in tagged)
    dup = [(p, s, n) for p, s, n in tagged if n > 1]
    expected = {(r["proc"], str(i)) for r in results.values() for i in range(1, r["calls"] + 1)}
    missing = sorted(expected - set(seen))
    extra = sorted(set(seen) - expected)
    if rows[0] != calls or dup or missing or extra:
        problems.append(
            f"rows {rows[0]} for {calls} calls; dup {dup[:5]}; missing {missing[:10]} ({len(missing)}); extra {extra[:5]}"
        )

    # reports through the CLI, on the PostgreSQL URL
    reports: dict[str, Any] = {}
    for by in ("tenant", "feature", "model", "route"):
        out = subprocess.run(
            [LLM_COST, "report", db, "--by", by, "--format", "json", "--show", "totals"],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            problems.append(f"report --by {by}: rc {out.returncode}: {out.stderr[-500:]}")
            continue
        rows_by = json.loads(out.stdout)["totals"]
        got = sum(float(r.get("cost_usd", 0) or 0) for r in rows_by)
        ncalls = sum(int(r.get("calls", 0) or 0) for r in rows_by)
        reports[by] = {"cost_usd": got, "calls": ncalls, "groups": len(rows_by)}
        if abs(got - total) > 1e-9 or ncalls != calls:
            problems.append(f"report --by {by}: ${got} / {ncalls} calls vs ledger ${total} / {calls} calls")
    out = subprocess.run(
        [LLM_COST, "report", db, "--by", "feature", "--format", "json", "--show", "tasks,cache"],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        problems.append(f"report --show tasks,cache: rc {out.returncode}: {out.stderr[-800:]}")
    else:
        data = json.loads(out.stdout)
        reports["tasks"] = data["tasks"]
        reports["cache"] = data["cache"]
        tasks: Counter[str] = Counter()
        ok: Counter[str] = Counter()
        for r in results.values():
            for k, v in r["tasks"].items():
                tasks[k.split("|")[1]] += v
            for k, v in r["ok_tasks"].items():
                ok[k.split("|")[1]] += v
        for row in data["tasks"]:
            f = row.get("feature")
            if row.get("tasks") != tasks[f] or row.get("successful_tasks") != ok[f]:
                problems.append(f"tasks of {f}: report {row} vs made {tasks[f]} tasks, {ok[f]} successful")
        if data["cache"]:  # no cache in this set-up: every call is a miss, which the savings leave out
            problems.append(f"--show cache: {data['cache']} without a cache")
    html = work / "report.html"
    out = subprocess.run([LLM_COST, "report", db, "--html", str(html)], capture_output=True, text=True)
    reports["html"] = {
        "rc": out.returncode,
        "bytes": html.stat().st_size if html.exists() else 0,
        "stderr": out.stderr[-300:],
    }
    if out.returncode:
        problems.append(f"report --html: rc {out.returncode}: {out.stderr[-500:]}")

    # the shared limit
    limit = Limit.usd(LIMIT_ACME, per="day", scope="tenant", name="tenant-daily")
    in_redis = SpendGuard([limit], store=redis_url).spent(limit, "acme")
    alerts = (
        [json.loads(x) for x in (work / "alerts.jsonl").read_text().splitlines()]
        if (work / "alerts.jsonl").exists()
        else []
    )
    thresholds = Counter((a["kind"], a["threshold"], a["tenant"]) for a in alerts)
    max_call = max(float(r[4]) for r in per_model)
    if acme > LIMIT_ACME + 4 * max_call:
        problems.append(f"acme spent {acme} > limit {LIMIT_ACME} + 4 calls")
    if abs(in_redis - acme) > 1e-9:
        problems.append(f"Redis holds {in_redis} for acme, the ledger {acme}")
    # thresholds, refusals and overspend: once per limit, tenant and period (docs/budgets.md)
    if any(n > 1 for n in thresholds.values()):
        problems.append(f"alerts more than once: {thresholds}")

    # spans and metrics
    spans, metrics = [], []
    if (work / "otlp.jsonl").exists():
        for line in (work / "otlp.jsonl").read_text().splitlines():
            row = json.loads(line)
            (spans if row["signal"] == "span" else metrics).append(row)
    raw = (work / "otlp.jsonl").read_text() if (work / "otlp.jsonl").exists() else ""
    if SECRET in raw or ANSWER in raw:
        problems.append("prompt or answer text in the exported telemetry")
    # llm_cost_hooks.cost: the last cumulative value of each series of each process
    last: dict[Any, float] = {}
    for m in metrics:
        if m["name"] == "llm_cost_hooks.cost":
            key = (m["resource"].get("service.instance.id"), json.dumps(m["attributes"], sort_keys=True))
            last[key] = float(m["value"])
    metric_cost = sum(last.values())
    model_spans = [
        s
        for s in spans
        if "gen_ai.request.model" in s["attributes"] or "gen_ai.response.model" in s["attributes"]
    ]
    attr_names = sorted({k for s in model_spans for k in s["attributes"]})
    metric_names = sorted({m["name"] for m in metrics})
    # each process's spans under its own service.instance.id, none shared between processes
    ids: dict[str, set[str]] = {}
    for sp in model_spans:
        proc = sp["attributes"].get("llm_cost_hooks.tag.proc")
        ids.setdefault(proc, set()).add(sp["resource"].get("service.instance.id"))
    instance_ids = {k: sorted(v) for k, v in ids.items()}
    if any(len(v) != 1 for v in ids.values()) or len(set().union(*ids.values())) != len(ids):
        problems.append(f"service.instance.id per process: {instance_ids}")
    if abs(metric_cost - total) > 1e-9:
        problems.append(f"llm_cost_hooks.cost metric ${metric_cost} vs ledger ${total}")
    if not model_spans:
        problems.append("no model spans with gen_ai.* attributes arrived")

    logs = {}
    for p in sorted(work.glob("log-*.txt")):
        lines = p.read_text().splitlines()
        logs[p.stem] = {
            "lines": len(lines),
            "by_message": Counter(" ".join(x.split()[1:])[:140] for x in lines).most_common(8),
        }
    for name, r in results.items():
        if r["other_errors"]:
            problems.append(f"{name}: {r['other_errors']} chains raised something other than BudgetExceeded")
    if any(codes.values()):
        problems.append(f"exit codes {codes}")
    return {
        "ok": not problems,
        "problems": problems,
        "events": events,
        "calls": calls,
        "ledger_rows": rows,
        "per_process": {
            k: {
                x: v[x] for x in ("calls", "refused_tasks", "other_errors", "ledger_stats", "telemetry_stats")
            }
            for k, v in results.items()
        },
        "ledger_total_usd": total,
        "per_model": per_model,
        "reports": reports,
        "failed_rows_cost": refused_cost,
        "metric_cost_usd": metric_cost,
        "tenant_spend_ledger": tenant_spend,
        "acme_spent_ledger": acme,
        "acme_in_redis": in_redis,
        "limit": LIMIT_ACME,
        "alerts": {str(k): v for k, v in thresholds.items()},
        "spans": len(spans),
        "instance_ids": instance_ids,
        "model_spans": len(model_spans),
        "span_attribute_names": attr_names,
        "metric_names": metric_names,
        "metric_points": len(metrics),
        "exit_codes": codes,
        "logs": logs,
    }


if __name__ == "__main__":
    sys.exit(main())
