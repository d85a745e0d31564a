"""A worker process for tests/test_budgets_alert_once.py (run as a script).

    python tests/_alert_once_worker.py <redis_url> <webhook_url> <budget_usd> <sync_dir> <index> <phases>

One ``SpendGuard`` on the shared Redis, alerting to a ``WebhookSink``, with the package's
default journal and state directory (``LLM_COST_HOOKS_STATE_DIR``, set by the test). It runs
the phases named in ``phases`` (comma separated), each once the test has written
``sync_dir/<phase>``, and writes ``sync_dir/<phase>-<index>`` when done:

* ``up``: settle 0.1 USD (Redis answers);
* ``seen``: settle 0.001 USD, so every worker has seen the shared total;
* ``outage``: settle 0.1 USD twelve times (Redis is paused: counted locally);
* ``back``: settle 0.001 USD (Redis answers again: the journal is replayed);
* ``late``: settle 0.001 USD on Redis, by a worker that spent nothing during the outage.

Then it delivers its alerts and prints one JSON line with what it raised.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from llm_cost_hooks.budget import (
    AlertManager,
    CallbackSink,
    FailoverSpendStore,
    Limit,
    RedisSpendStore,
    SpendGuard,
    SpendRequest,
    WebhookSink,
)

AMOUNTS = {"up": [0.1], "seen": [0.001], "outage": [0.1] * 12, "back": [0.001], "late": [0.001]}


def main() -> None:
    url, hook, budget, sync_dir, index, phases = sys.argv[1:7]
    sync = Path(sync_dir)
    limit = Limit.usd(float(budget), per="day", scope="tenant", name="tenant_daily", alert_at=(0.5, 0.8))
    store = FailoverSpendStore(
        RedisSpendStore(url, socket_timeout=0.3, connect_timeout=0.3), retry_after=0.2, outage_after=0.5
    )
    raised: list[list] = []
    webhook = WebhookSink(hook, retries=3, backoff=0.1)
    alerts = AlertManager(
        [webhook, CallbackSink(lambda e: raised.append([e.kind, e.threshold, e.reason]))],
        log=False,
        span_events=False,
    )
    guard = SpendGuard([limit], store=store, alerts=alerts)
    # Worst case 0.11 USD (20k input tokens, 6k output tokens of gpt-4o): each settle fits it.
    request = SpendRequest(model="gpt-4o", input_tokens=20_000, max_output_tokens=6_000, tenant="acme")
    (sync / f"ready-{index}").touch()
    for phase in phases.split(","):
        while not (sync / phase).exists():
            time.sleep(0.02)
        for amount in AMOUNTS[phase]:
            with guard.reserve(request) as reservation:
                reservation.settle(amount)
        (sync / f"{phase}-{index}").touch()
    delivered = alerts.close(20.0)
    print(
        json.dumps(
            {
                "index": int(index),
                "raised": raised,
                "delivered": delivered,
                "webhook_failed": webhook.failed,
                "outages": store.outages,
                "replayed": store.replayed,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
