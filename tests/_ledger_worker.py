"""One process of the fleet-ledger tests: ``python _ledger_worker.py URL WORKER CALLS``.

Runs CALLS real LangChain model calls (a fake chat model reporting usage) through a
``CostCallbackHandler`` whose ledger is the PostgreSQL URL, then prints the ledger's
counters as JSON.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    url, worker, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

    handler = CostCallbackHandler(ledger=url)
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris."], report_usage=True)
    for i in range(calls):
        model.invoke(
            "What is the capital of France?",
            config={
                "callbacks": [handler],
                "metadata": {
                    "tenant_id": f"tenant-{i % 3}",
                    "feature": f"w{worker}",
                    "task_id": f"w{worker}-t{i}",
                },
            },
        )
    ok = handler.ledger.flush(timeout=120)
    stats = handler.ledger.stats
    handler.ledger.close()
    print(
        json.dumps(
            {
                "flushed": ok,
                "written": stats.written,
                "dropped": stats.dropped,
                "pending": stats.pending,
                "write_failures": stats.write_failures,
            }
        )
    )


if __name__ == "__main__":
    main()
