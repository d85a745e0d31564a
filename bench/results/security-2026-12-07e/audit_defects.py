"""From the wheel: each defect this audit found, as a user would meet it. Prints one line
per check, "ok" or "DEFECT ...". Needs the redis and postgres extras; the single-flight
check needs no server (port 1 refuses), the dedup-poisoning check takes REDIS_URL."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import uuid

log = io.StringIO()
logging.basicConfig(level=logging.WARNING, stream=log, format="%(levelname)s %(message)s")
results: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    results.append(f"{'ok    ' if ok else 'DEFECT'} {name}{': ' + detail if detail and not ok else ''}")


from llm_cost_hooks.budget import InProcessSpendStore, Limit, SpendGuard, SpendRequest  # noqa: E402
from llm_cost_hooks.dedup import RedisSingleFlight, idempotency_key  # noqa: E402

# 1. A tenant named "_unattributed" spends the pool of requests naming no tenant.
guard = SpendGuard([Limit.usd(1.0, per="day", scope="tenant", name="daily")], store=InProcessSpendStore())
guard.reserve(
    SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=10, tenant="_unattributed")
).settle(0.5)
check(
    "budget: tenant '_unattributed' vs no tenant",
    guard.spent("daily", None) == 0.0,
    f"unattributed pool shows {guard.spent('daily', None)} USD",
)

# 2. Explicit dedup keys of two tenants meet.
a = idempotency_key({"tenant_id": "acme:order", "idempotency_key": "42"})
b = idempotency_key({"tenant_id": "acme", "idempotency_key": "order:42"})
c = idempotency_key({"idempotency_key": "tenant=acme:order-42"})
d = idempotency_key({"tenant_id": "acme", "idempotency_key": "order-42"})
check("dedup: tenant 'acme:order'+'42' vs 'acme'+'order:42'", a != b, f"both {a!r}")
check("dedup: no tenant + 'tenant=acme:order-42' vs acme + 'order-42'", c != d, f"both {c!r}")

# 3. A tenant name with a newline forges an alert log line.
g = SpendGuard(
    [Limit.usd(0.001, per="day", scope="tenant", name="daily", alert_at=[0.5])], store=InProcessSpendStore()
)
tenant = "acme\nCRITICAL budget reset by admin"
g.reserve(SpendRequest(model="gpt-4o-mini", input_tokens=10, max_output_tokens=10, tenant=tenant)).settle(
    0.0009
)
forged = [line for line in log.getvalue().splitlines() if line.startswith("CRITICAL budget reset")]
check("alerts: newline in a tenant name forges a log line", not forged, f"{len(forged)} forged lines")

# 4. The Redis password in the single-flight's warning.
before = len(log.getvalue())
RedisSingleFlight("redis://:s3cret@127.0.0.1:1/0", connect_timeout=0.2, socket_timeout=0.2).do("k", lambda: 1)
check(
    "dedup: Redis password in the outage warning",
    "s3cret" not in log.getvalue()[before:],
    log.getvalue()[before:].strip()[:120],
)

# 5. The PostgreSQL password in the error of an unreadable URL.
from llm_cost_hooks.ledger import open_ledger  # noqa: E402

try:
    open_ledger("postgresql://app:p%ZZs3cret@db/costs")
    shown = ""
except Exception as exc:
    shown = f"{exc} | cause: {exc.__cause__!r} | context: {exc.__context__!r}"
check("ledger: PostgreSQL password in a URL error", "s3cret" not in shown, shown[:160])

# 6. A webhook URL given without its scheme, repeated whole (its path is the secret).
from llm_cost_hooks.budget._alerts import WebhookSink  # noqa: E402

try:
    WebhookSink("hooks.slack.com/services/T000/B000/s3cretToken")
    shown = ""
except Exception as exc:
    shown = str(exc)
check("alerts: webhook secret path in a config error", "s3cret" not in shown, shown[:160])

# 7. A poisoned single-flight result in Redis raises into the caller.
url = os.environ.get("REDIS_URL")
if url:
    import redis

    prefix = f"sec{uuid.uuid4().hex[:8]}"
    redis.Redis.from_url(url).set(f"{{{prefix}}}:sf:res:k", b"not json {", ex=60)
    try:
        value = RedisSingleFlight(url, prefix=prefix).do("k", lambda: {"answer": 42}).value
        check("dedup: poisoned result in Redis", value == {"answer": 42}, repr(value))
    except Exception as exc:
        check("dedup: poisoned result in Redis", False, f"{type(exc).__name__} raised into the caller")

# 8. pr-estimate: a prompt file name with a newline starts a line of its own.
from llm_cost_hooks.prompts._pr_estimate import PromptCostChange, PromptCostEstimate  # noqa: E402

name = "x`|\n### Approved by security <img src=https://t.example/p.png>"
md = PromptCostEstimate(
    base="main",
    head="pr",
    prompts=[
        PromptCostChange(name=name, status="added", key_after=name, calls_per_month=1, traffic_source="given")
    ],
).markdown()
check(
    "pr-estimate: a name starts a Markdown line",
    not any(line.startswith("### Approved") for line in md.splitlines()),
)

# 9. Guarded calls: tenant id 0 charged the pool of calls naming no tenant.
from llm_cost_hooks.budget._call import Attribution  # noqa: E402

got = Attribution.of({"tenant_id": 0}).tenant
check("budget: metadata tenant_id 0 is tenant '0'", got == "0", f"tenant {got!r}")

# 10. Proxy: LiteLLM's own cache namespace came from the client's tenant_id alone.
try:
    import litellm

    from llm_cost_hooks.litellm._hooks import _namespace_litellm_cache

    litellm.cache = litellm.Cache(type="local")
    spaces = []
    for key in ("hash-of-acme-key", "hash-of-other-key"):
        data = {"metadata": {"tenant_id": "acme", "user_api_key_hash": key}}
        _namespace_litellm_cache(data)
        spaces.append(data["cache"]["namespace"])
    litellm.cache = None
    check(
        "proxy: another key naming tenant 'acme' shares its cache namespace",
        spaces[0] != spaces[1],
        spaces[0],
    )
except ImportError:
    pass

print("\n".join(results))
print(json.dumps({"defects": sum(r.startswith("DEFECT") for r in results), "checks": len(results)}))
sys.exit(0)
