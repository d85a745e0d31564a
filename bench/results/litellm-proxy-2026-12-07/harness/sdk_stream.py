import asyncio
import os
import time

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm

from llm_cost_hooks.litellm import CostHooksLogger

cl = CostHooksLogger(ledger="memory://", defaults={"tenant_id": "acme"})
litellm.callbacks = [cl]
STUB = "http://127.0.0.1:18701/v1"
SLOW = "http://127.0.0.1:18702/v1"


def kw(tag, base=STUB, inc=False):
    k = dict(
        model="openai/gpt-4o-mini",
        api_base=base,
        api_key="x",
        max_tokens=12,
        stream=True,
        messages=[{"role": "user", "content": "x" * 200}],
        metadata={"task_id": tag},
    )
    if inc:
        k["stream_options"] = {"include_usage": True}
    return k


def sync_cases():
    for inc in (False, True):
        s = litellm.completion(**kw(f"sync-full-{inc}", inc=inc))
        "".join(c.choices[0].delta.content or "" for c in s if c.choices)
        s = litellm.completion(**kw(f"sync-break-{inc}", SLOW, inc))
        for n, _ in enumerate(s, 1):
            if n >= 4:
                break
        try:
            s = litellm.completion(**kw(f"sync-exc-{inc}", SLOW, inc))
            for n, _ in enumerate(s, 1):
                if n >= 4:
                    raise ValueError("consumer failed")
        except ValueError:
            pass


async def async_cases():
    for inc in (False, True):
        s = await litellm.acompletion(**kw(f"async-full-{inc}", inc=inc))
        [c async for c in s]
        s = await litellm.acompletion(**kw(f"async-break-{inc}", SLOW, inc))
        n = 0
        async for c in s:
            n += 1
            if n >= 4:
                break
        try:
            s = await litellm.acompletion(**kw(f"async-exc-{inc}", SLOW, inc))
            n = 0
            async for c in s:
                n += 1
                if n >= 4:
                    raise ValueError("consumer failed")
        except ValueError:
            pass
    await cl.aflush()


sync_cases()
asyncio.run(async_cases())
cl.flush(20)
time.sleep(2)
cl.flush(20)
for r in sorted(cl.records(), key=lambda r: r.task_id or ""):
    print(
        f"{r.task_id:22} {r.model} in={r.input_tokens} out={r.output_tokens} est={r.tokens_estimated} ok={r.success} ${r.cost_usd:.8f} {dict((k, v) for k, v in r.tags.items() if 'lost' in k)}"
    )
print(len(cl.records()), "records")
