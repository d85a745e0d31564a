"""LiteLLM under concurrency: asyncio.gather of 300 litellm.acompletion calls (mock
responses with known usage, no network) through CostHooksLogger. Every record has its own
call's tenant, feature, task id and tokens, and is priced exactly.
python litellm_audit.py"""

from __future__ import annotations

import asyncio
import math
import sys

import litellm
from litellm.types.utils import PromptTokensDetailsWrapper, Usage

from llm_cost_hooks.cache import cache_scope
from llm_cost_hooks.litellm import CostHooksLogger, uninstall

N = 300
IN_PRICE = litellm.model_cost["gpt-4o-mini"]["input_cost_per_token"]
OUT_PRICE = litellm.model_cost["gpt-4o-mini"]["output_cost_per_token"]
CACHED_PRICE = litellm.model_cost["gpt-4o-mini"]["cache_read_input_token_cost"]


def usage(i: int) -> tuple[int, int, int]:
    return 100 + 7 * i, 20 + i % 50, (64 if i % 4 == 0 else 0)  # prompt, completion, cached


def response(i: int) -> litellm.ModelResponse:
    prompt, completion, cached = usage(i)
    return litellm.ModelResponse(
        model="gpt-4o-mini",
        choices=[
            {"index": 0, "message": {"role": "assistant", "content": f"answer {i}"}, "finish_reason": "stop"}
        ],
        usage=Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=cached),
        ),
    )


async def audit(scoped: bool) -> bool:
    logger = CostHooksLogger(ledger="memory://")
    litellm.callbacks = [logger]
    attr = {i: {"tenant_id": f"t{i % 23}", "feature": f"f{i % 7}", "task_id": f"task-{i}"} for i in range(N)}

    async def one(i: int) -> None:
        if not scoped:
            await litellm.acompletion(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"question {i}"}],
                metadata=attr[i],
                mock_response=response(i),
            )
            return
        # tenant and feature from the library's context helper, the task id in metadata
        with cache_scope(tenant=attr[i]["tenant_id"], feature=attr[i]["feature"]):
            await litellm.acompletion(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"question {i}"}],
                metadata={"task_id": attr[i]["task_id"]},
                mock_response=response(i),
            )

    await asyncio.gather(*(one(i) for i in range(N)))
    await logger.aflush()
    uninstall(logger)
    records = logger.records()
    by_task = {r.task_id: r for r in records}
    wrong_attr = wrong_tokens = wrong_cost = 0
    worst = 0.0
    for i in range(N):
        r = by_task.get(f"task-{i}")
        if r is None:
            continue
        if (r.tenant, r.feature) != (attr[i]["tenant_id"], attr[i]["feature"]):
            wrong_attr += 1
        prompt, completion, cached = usage(i)
        if (r.input_tokens, r.output_tokens, r.cache_read_tokens) != (prompt, completion, cached):
            wrong_tokens += 1
        want = (prompt - cached) * IN_PRICE + cached * CACHED_PRICE + completion * OUT_PRICE
        worst = max(worst, abs(r.cost_usd - want))
        if not math.isclose(r.cost_usd, want, rel_tol=1e-9, abs_tol=1e-12):
            wrong_cost += 1
    missing = N - len(by_task)
    rows = logger.tracker.ledger.reports().tasks()
    rollup = sum(row["cost_usd"] for row in rows)
    rec_sum = sum(r.cost_usd for r in records)
    ok = not (wrong_attr or wrong_tokens or wrong_cost or missing or len(records) != N) and math.isclose(
        rollup, rec_sum, rel_tol=1e-12
    )
    print(
        f"litellm.acompletion x{N} {'cache_scope' if scoped else 'metadata':11s}: records={len(records)} missing={missing} wrong_attr={wrong_attr} "
        f"wrong_tokens={wrong_tokens} wrong_cost={wrong_cost} max_cost_error={worst:.3e} "
        f"rollup_tasks={sum(row['tasks'] for row in rows)} rollup_usd={rollup:.9f} records_usd={rec_sum:.9f} "
        f"{'OK' if ok else 'DEFECT'}"
    )
    return ok


async def main() -> int:
    return 0 if all([await audit(False), await audit(True)]) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
