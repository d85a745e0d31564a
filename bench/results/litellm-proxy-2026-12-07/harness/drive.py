import asyncio
import json
import os
import sys
import time
import uuid

import httpx
import openai

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.ledger import open_ledger

PORT = int(sys.argv[1])
LEDGER = sys.argv[2]
WHAT = sys.argv[3].split(",")
BASE = f"http://127.0.0.1:{PORT}"
KEY = "sk-master-test"
client = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0)
H = {"Authorization": f"Bearer {KEY}"}
out = {}


def records(pred=lambda r: True, want=1, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        led = open_ledger(f"sqlite:///{LEDGER}")
        try:
            found = [r for r in led.records() if pred(r)]
        finally:
            led.close()
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def show(r):
    return dict(
        model=r.model,
        provider=r.provider,
        tenant=r.tenant,
        inp=r.input_tokens,
        out=r.output_tokens,
        cost=round(r.cost_usd, 9),
        success=r.success,
        cache=r.cache_status.value,
        saved=r.saved_usd,
        attempt=r.attempt,
        task=r.task_id,
        est=getattr(r, "tokens_estimated", None),
        tags={k: v for k, v in (r.tags or {}).items() if not k.startswith("litellm_cost")},
    )


def stub_cost(i, o, model="gpt-4o-mini"):
    return PriceBook.default().cost(TokenUsage(input_tokens=i, output_tokens=o), model).total


if "basic" in WHAT:
    t = "t-" + uuid.uuid4().hex[:6]
    content = "x" * 200  # stub: 57 prompt tokens
    r = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": content}],
        max_tokens=9,
        extra_body={"metadata": {"tenant_id": "acme", "task_id": t}},
    )
    recs = records(lambda x: x.task_id == t)
    out["metadata.tenant_id"] = dict(
        usage=r.usage.model_dump(include={"prompt_tokens", "completion_tokens"}),
        records=[show(x) for x in recs],
        expected_cost=stub_cost(57, 9),
    )
    # tenant from `user`
    t = "t-" + uuid.uuid4().hex[:6]
    r = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": content}],
        max_tokens=9,
        user="globex",
        extra_body={"metadata": {"task_id": t}},
    )
    recs = records(lambda x: x.task_id == t)
    out["user"] = [show(x) for x in recs]
    # stream without include_usage
    for inc in (False, True):
        t = "t-" + uuid.uuid4().hex[:6]
        kw = {"stream_options": {"include_usage": True}} if inc else {}
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": content}],
                max_tokens=12,
                stream=True,
                extra_body={"metadata": {"tenant_id": "acme", "task_id": t}},
                **kw,
            )
        )
        text = "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
        usage = [
            c.usage.model_dump(include={"prompt_tokens", "completion_tokens"}) for c in chunks if c.usage
        ]
        recs = records(lambda x: x.task_id == t)
        out[f"stream include_usage={inc}"] = dict(
            text_len=len(text),
            client_usage=usage,
            stub_usage=(57, 12),
            expected_cost=stub_cost(57, 12),
            records=[show(x) for x in recs],
        )

if "disconnect" in WHAT:
    for inc in (False, True):
        t = "t-" + uuid.uuid4().hex[:6]
        body = {
            "model": "slow-mini",
            "messages": [{"role": "user", "content": "tell me a long story"}],
            "stream": True,
            "metadata": {"tenant_id": "acme", "task_id": t},
        }
        if inc:
            body["stream_options"] = {"include_usage": True}
        got = 0
        with (
            httpx.Client(timeout=30) as hc,
            hc.stream("POST", BASE + "/v1/chat/completions", json=body, headers=H) as resp,
        ):
            for line in resp.iter_lines():
                if line.startswith("data: {"):
                    got += 1
                if got >= 4:
                    break
        recs = records(lambda x: x.task_id == t, timeout=20)
        out[f"disconnect include_usage={inc}"] = dict(chunks_read=got, records=[show(x) for x in recs])

if "concurrent" in WHAT:
    t = "c-" + uuid.uuid4().hex[:6]

    async def one(ac, i):
        r = await ac.post(
            BASE + "/v1/chat/completions",
            headers=H,
            json={
                "model": "gpt-4o-mini",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": f"question number {i} " + "y" * 40}],
                "metadata": {"tenant_id": "acme", "task_id": f"{t}-{i}"},
            },
        )
        return r.status_code

    async def main():
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=60)) as ac:
            return await asyncio.gather(*(one(ac, i) for i in range(50)))

    st = asyncio.run(main())
    recs = records(lambda x: (x.task_id or "").startswith(t), want=50, timeout=30)
    ids = {x.task_id for x in recs}
    out["concurrent50"] = dict(
        statuses={s: st.count(s) for s in set(st)},
        records=len(recs),
        distinct_tasks=len(ids),
        all_success=all(x.success for x in recs),
    )

if "refusal" in WHAT:
    tenant = "poor-" + uuid.uuid4().hex[:4]
    res = []
    for i in range(3):
        t = f"b-{tenant}-{i}"
        r = httpx.post(
            BASE + "/v1/chat/completions",
            headers=H,
            json={
                "model": "gpt-4o-mini",
                "max_tokens": 9,
                "messages": [{"role": "user", "content": "CANARY-PROMPT-5512 budget please " + "z" * 40}],
                "metadata": {"tenant_id": tenant, "route": "/budgeted", "task_id": t},
            },
            timeout=30,
        )
        res.append(
            dict(
                status=r.status_code,
                retry_after=r.headers.get("retry-after"),
                should_retry=r.headers.get("x-should-retry"),
                body=r.text[:600],
                canary_in_body="CANARY-PROMPT" in r.text,
                traceback_in_body="Traceback" in r.text,
            )
        )
    time.sleep(3)
    recs = records(lambda x: x.tenant == tenant, want=99, timeout=3)
    out["refusal"] = dict(responses=res, records=[show(x) for x in recs])
    # openai client view
    try:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "again"}],
            max_tokens=9,
            extra_body={"metadata": {"tenant_id": tenant, "route": "/budgeted"}},
        )
        out["refusal_openai"] = "no error"
    except openai.APIStatusError as e:
        out["refusal_openai"] = dict(type=type(e).__name__, status=e.status_code, message=str(e)[:300])

if "cache" in WHAT:
    q = "What is the refund policy for order " + uuid.uuid4().hex[:6] + "?"
    seq = [
        ("tenant-a", q),
        ("tenant-b", q),
        ("tenant-a", q),
        ("tenant-b", q),
        ("tenant-a", q.replace("What is", "Tell me")),
    ]
    res = []
    for i, (ten, text) in enumerate(seq):
        t = "k-" + uuid.uuid4().hex[:6]
        r = httpx.post(
            BASE + "/v1/chat/completions",
            headers=H,
            json={
                "model": "gpt-4o-mini",
                "max_tokens": 9,
                "messages": [{"role": "user", "content": text}],
                "metadata": {"tenant_id": ten, "task_id": t},
            },
            timeout=60,
        )
        recs = records(lambda x: x.task_id == t)
        res.append(dict(tenant=ten, status=r.status_code, records=[show(x) for x in recs]))
    out["cache"] = res

if "fallback" in WHAT:
    t = "f-" + uuid.uuid4().hex[:6]
    before = httpx.get(f"http://127.0.0.1:{os.environ['FAIL']}/").json()
    r = httpx.post(
        BASE + "/v1/chat/completions",
        headers=H,
        json={
            "model": "flaky-4o",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "x" * 200}],
            "metadata": {"tenant_id": "acme", "task_id": t},
        },
        timeout=60,
    )
    after = httpx.get(f"http://127.0.0.1:{os.environ['FAIL']}/").json()
    time.sleep(3)
    recs = records(lambda x: x.task_id == t, want=99, timeout=3)
    out["fallback"] = dict(
        status=r.status_code,
        model=r.json().get("model") if r.status_code == 200 else r.text[:300],
        fail_upstream_hits=after["fail"] - before["fail"],
        records=[show(x) for x in recs],
        expected_fallback_cost=stub_cost(57, 9),
    )

if "canary" in WHAT:
    t = "q-" + uuid.uuid4().hex[:6]
    client.chat.completions.create(
        model="mock-mini",
        messages=[{"role": "user", "content": "CANARY-PROMPT-5512 hello"}],
        extra_body={"metadata": {"tenant_id": "acme", "task_id": t}},
    )
    list(
        client.chat.completions.create(
            model="mock-mini",
            stream=True,
            messages=[{"role": "user", "content": "CANARY-PROMPT-5512 hello"}],
            extra_body={"metadata": {"tenant_id": "acme", "task_id": t + "s"}},
        )
    )
    out["canary"] = [show(x) for x in records(lambda x: (x.task_id or "").startswith(t), want=2)]

print(json.dumps(out, indent=1, default=str))
