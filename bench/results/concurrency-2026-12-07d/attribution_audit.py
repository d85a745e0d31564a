"""Attribution under concurrency: every record carries its own request's tenant, feature
and task id, and task roll-ups add up to the records. Run from an installed wheel:
python attribution_audit.py"""

from __future__ import annotations

import asyncio
import contextvars
import math
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, cache_scope

N = 500
ANSWER = " ".join(f"word{i}" for i in range(40))
PROMPT = ChatPromptTemplate.from_messages([("system", "You are a support assistant."), ("human", "{q}")])


def model() -> FakeChatModelWithUsage:
    return FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=[ANSWER])


def attr(i: int) -> dict[str, str]:
    return {"tenant_id": f"t{i % 37}", "feature": f"f{i % 11}", "task_id": f"task-{i}"}


def check(
    name: str,
    handler: CostCallbackHandler,
    expect: dict[str, dict[str, str]],
    calls_per_task: int = 1,
    allow_missing: bool = False,
) -> bool:
    handler.flush()
    records = handler.records()
    wrong, missing = 0, 0
    by_task: Counter[str] = Counter()
    for r in records:
        by_task[r.task_id] += 1
        want = expect.get(r.task_id)
        if want is None:
            missing += 1
            continue
        if (r.tenant, r.feature) != (want["tenant_id"], want["feature"]):
            wrong += 1
    absent = [t for t in expect if by_task[t] == 0]
    extra = {t: c for t, c in by_task.items() if c != calls_per_task and t in expect}
    reports = handler.tracker.ledger.reports()
    rows = reports.tasks(by="tenant")
    task_cost = sum(r["cost_usd"] for r in rows)
    tasks = sum(r["tasks"] for r in rows)
    rec_cost = sum(r.cost_usd for r in records)
    ok = (
        wrong == 0
        and missing == 0
        and not absent
        and not extra
        and math.isclose(task_cost, rec_cost, rel_tol=1e-9, abs_tol=1e-12)
    )
    print(
        f"{name:44s} records={len(records):4d} wrong_attr={wrong} unattributed={missing} "
        f"tasks_without_record={len(absent)} tasks_with_other_count={len(extra)} "
        f"rollup_tasks={tasks} rollup_usd={task_cost:.9f} records_usd={rec_cost:.9f} "
        f"failed={sum(not r.success for r in records)} {'OK' if ok else 'DEFECT'}"
    )
    return ok


async def gather_metadata() -> bool:
    h, chain = CostCallbackHandler(ledger="memory://"), PROMPT | model()
    await asyncio.gather(
        *(
            chain.ainvoke({"q": f"question {i}"}, config={"callbacks": [h], "metadata": attr(i)})
            for i in range(N)
        )
    )
    return check("ainvoke config metadata", h, {attr(i)["task_id"]: attr(i) for i in range(N)})


async def gather_with_config() -> bool:
    h, chain = CostCallbackHandler(ledger="memory://"), PROMPT | model()
    await asyncio.gather(
        *(chain.with_config(metadata=attr(i), callbacks=[h]).ainvoke({"q": f"q {i}"}) for i in range(N))
    )
    return check("ainvoke with_config(metadata)", h, {attr(i)["task_id"]: attr(i) for i in range(N)})


async def gather_cache_scope() -> bool:
    # The library's context helper: cache_scope(tenant=..., feature=...) around the call.
    h, chain = CostCallbackHandler(ledger="memory://"), PROMPT | model()

    async def one(i: int) -> None:
        a = attr(i)
        with cache_scope(tenant=a["tenant_id"], feature=a["feature"]):
            await chain.ainvoke(
                {"q": f"q {i}"}, config={"callbacks": [h], "metadata": {"task_id": a["task_id"]}}
            )

    await asyncio.gather(*(one(i) for i in range(N)))
    return check(
        "ainvoke inside cache_scope(tenant, feature)", h, {attr(i)["task_id"]: attr(i) for i in range(N)}
    )


def threads(copy: bool) -> bool:
    h, chain = CostCallbackHandler(ledger="memory://"), PROMPT | model()

    def one(i: int) -> None:
        chain.invoke({"q": f"q {i}"}, config={"callbacks": [h], "metadata": attr(i)})

    with ThreadPoolExecutor(16) as pool:
        futs = [
            pool.submit(contextvars.copy_context().run, one, i) if copy else pool.submit(one, i)
            for i in range(N)
        ]
        for f in futs:
            f.result()
    return check(
        f"threads {'with' if copy else 'without'} copy_context (config)",
        h,
        {attr(i)["task_id"]: attr(i) for i in range(N)},
    )


def threads_installed(copy: bool) -> bool:
    # install(): the handler is everywhere; the attribution comes from the call's config.
    from llm_cost_hooks.langchain import install, uninstall

    h = install(ledger="memory://")
    chain = PROMPT | model()

    def one(i: int) -> None:
        chain.invoke({"q": f"q {i}"}, config={"metadata": attr(i)})

    try:
        with ThreadPoolExecutor(16) as pool:
            futs = [
                pool.submit(contextvars.copy_context().run, one, i) if copy else pool.submit(one, i)
                for i in range(N)
            ]
            for f in futs:
                f.result()
        return check(
            f"install() threads {'with' if copy else 'without'} copy_context",
            h,
            {attr(i)["task_id"]: attr(i) for i in range(N)},
        )
    finally:
        uninstall(h)


def threads_scope(copy: bool) -> bool | None:
    # cache_scope set by the caller, the call made in a pool thread.
    h, chain = CostCallbackHandler(ledger="memory://"), PROMPT | model()

    def one(i: int) -> None:
        chain.invoke({"q": f"q {i}"}, config={"callbacks": [h], "metadata": {"task_id": attr(i)["task_id"]}})

    futs = []
    with ThreadPoolExecutor(16) as pool:
        for i in range(N):
            a = attr(i)
            with cache_scope(tenant=a["tenant_id"], feature=a["feature"]):
                futs.append(
                    pool.submit(contextvars.copy_context().run, one, i) if copy else pool.submit(one, i)
                )
        for f in futs:
            f.result()
    ok = check(
        f"threads cache_scope {'with' if copy else 'without'} copy_context",
        h,
        {attr(i)["task_id"]: attr(i) for i in range(N)},
    )
    if not copy:
        # A plain pool thread does not run in the caller's context (Python's rule, documented):
        # the scope cannot reach it. Shown, not counted.
        print("    (expected: ThreadPoolExecutor.submit does not copy the caller's context)")
        return None
    return ok


async def streams_cancelled() -> bool:
    h, chain = CostCallbackHandler(ledger="memory://"), PROMPT | model()
    to_cancel = [i for i in range(N) if i % 3 == 1]
    mid_stream = {i: asyncio.Event() for i in to_cancel}

    async def one(i: int) -> None:
        n = 0
        async for _ in chain.astream({"q": f"q {i}"}, config={"callbacks": [h], "metadata": attr(i)}):
            n += 1
            if i % 3 == 0 and n == 3:
                break  # the caller stops reading
            if i % 3 == 1 and n == 5:
                mid_stream[i].set()
                await asyncio.sleep(3600)  # cancelled below, 5 chunks into its stream

    tasks = [asyncio.ensure_future(one(i)) for i in range(N)]
    await asyncio.gather(*(e.wait() for e in mid_stream.values()))  # each one is mid-stream
    for i in to_cancel:
        tasks[i].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    # A cancelled task's exception holds the frame that holds the stopped stream: once
    # the results are dropped the streams are closed (the loop's async-generator hooks).
    del results, tasks
    import gc
    import time

    t0 = time.monotonic()
    # The loop closes them in tasks of its own: wait (up to 10 s) for every record.
    while time.monotonic() - t0 < 10:
        gc.collect()
        await asyncio.sleep(0.05)
        h.flush()
        if len(h.records()) >= N:
            break
    print(f"    (records of stopped streams complete after {time.monotonic() - t0:.2f} s)")
    return check("astream: 1/3 break, 1/3 cancelled", h, {attr(i)["task_id"]: attr(i) for i in range(N)})


async def abatch() -> bool:
    h, chain = CostCallbackHandler(ledger="memory://"), PROMPT | model()
    await chain.abatch(
        [{"q": f"q {i}"} for i in range(N)],
        config=[{"callbacks": [h], "metadata": attr(i)} for i in range(N)],
        max_concurrency=64,
    )  # type: ignore[arg-type]
    return check("abatch per-item configs", h, {attr(i)["task_id"]: attr(i) for i in range(N)})


async def main() -> int:
    results = [
        await gather_metadata(),
        await gather_with_config(),
        await gather_cache_scope(),
        threads(False),
        threads(True),
        threads_installed(False),
        threads_installed(True),
        threads_scope(False),
        threads_scope(True),
        await streams_cancelled(),
        await abatch(),
    ]
    counted = [r for r in results if r is not None]
    print(f"{sum(counted)}/{len(counted)} scenarios OK")
    return 0 if all(counted) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
