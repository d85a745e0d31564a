"""Drive a running proxy from outside and print one JSON line per check.

Usage: drive.py PORT LEDGER_PATH CHECKS   (CHECKS: comma list of basic,stream,errors,refusal,concurrent,budget2)
"""

import asyncio
import json
import sys
import time
import uuid

import httpx
import openai

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.ledger import open_ledger

PORT, LEDGER, WHAT = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
BASE = f"http://127.0.0.1:{PORT}"
KEY = "sk-master-test"
H = {"Authorization": f"Bearer {KEY}"}
client = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0, timeout=60)
CANARY = "CANARY-PROMPT-5512 "
CONTENT = CANARY + "x" * 181  # 200 characters: 57 prompt tokens at the upstream


def records(pred, want=1, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        led = open_ledger(f"sqlite:///{LEDGER}")
        try:
            found = [r for r in led.records() if pred(r)]
        finally:
            led.close()
        if len(found) >= want or time.monotonic() > deadline:
            time.sleep(1.0)  # a doubled record would show up now
            led = open_ledger(f"sqlite:///{LEDGER}")
            try:
                return [r for r in led.records() if pred(r)]
            finally:
                led.close()
        time.sleep(0.3)


def show(r):
    return dict(
        model=r.model,
        tenant=r.tenant,
        user=r.user,
        route=r.route,
        inp=r.input_tokens,
        out=r.output_tokens,
        cost=round(r.cost_usd, 10),
        success=r.success,
        error=r.error_type,
        est=r.tokens_estimated,
    )


def price(i, o):
    return round(
        PriceBook.default().cost(TokenUsage(input_tokens=i, output_tokens=o), "gpt-4o-mini").total, 10
    )


def emit(name, **kw):
    print(json.dumps({"check": name, **kw}, default=str), flush=True)


def md(**kw):
    return {"metadata": {"task_id": "t-" + uuid.uuid4().hex[:8], **kw}}


if "basic" in WHAT:
    body = md(tenant_id="acme", user_id="u-1", route="/faq")
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": CONTENT}], max_tokens=9, extra_body=body
    )
    recs = records(lambda x: x.task_id == body["metadata"]["task_id"])
    emit(
        "non-stream",
        usage=[r.usage.prompt_tokens, r.usage.completion_tokens],
        expected=price(57, 9),
        records=[show(x) for x in recs],
    )

if "stream" in WHAT:
    for inc in (False, True):
        body = md(tenant_id="acme", route="/chat")
        kw = {"stream_options": {"include_usage": True}} if inc else {}
        s = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": CONTENT}],
            max_tokens=12,
            stream=True,
            extra_body=body,
            **kw,
        )
        n = sum(1 for _ in s)
        recs = records(lambda x: x.task_id == body["metadata"]["task_id"])
        emit(f"stream include_usage={inc}", chunks=n, expected=price(57, 12), records=[show(x) for x in recs])

if "errors" in WHAT:
    for model in ("fail-mini", "hang-mini"):
        body = md(tenant_id="acme", route="/err")
        t0 = time.monotonic()
        try:
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": CONTENT}], max_tokens=9, extra_body=body
            )
            status, text = 200, ""
        except openai.APIStatusError as e:
            status, text = e.status_code, e.response.text
        except openai.APIError as e:
            status, text = type(e).__name__, str(e)
        recs = records(lambda x: x.task_id == body["metadata"]["task_id"])
        emit(
            f"upstream {model}",
            status=status,
            seconds=round(time.monotonic() - t0, 1),
            canary_in_body=CANARY.strip() in text,
            body=text[:300],
            records=[show(x) for x in recs],
        )

if "refusal" in WHAT:
    tenant = "b-" + uuid.uuid4().hex[:6]
    seen = []
    for i in range(12):
        body = md(tenant_id=tenant, route="/budgeted")
        r = httpx.post(
            BASE + "/v1/chat/completions",
            headers=H,
            timeout=60,
            json={
                "model": "gpt-4o-mini",
                "max_tokens": 9,
                "messages": [{"role": "user", "content": CONTENT}],
                **body,
            },
        )
        seen.append((r.status_code, body["metadata"]["task_id"], r.text, dict(r.headers)))
        if r.status_code != 200:
            break
    status, task, text, headers = seen[-1]
    recs = records(lambda x: x.tenant == tenant, want=len(seen))
    emit(
        "budget refusal",
        statuses=[s[0] for s in seen],
        body=text[:400],
        canary_in_body=CANARY.strip() in text,
        retry_after=headers.get("retry-after"),
        should_retry=headers.get("x-should-retry"),
        records=[show(x) for x in recs],
    )

if "concurrent" in WHAT or "budget2" in WHAT:

    async def many(n, tenant_of, route):
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=64)) as ac:

            async def one(i):
                body = md(tenant_id=tenant_of(i), route=route)
                r = await ac.post(
                    BASE + "/v1/chat/completions",
                    headers=H,
                    json={
                        "model": "gpt-4o-mini",
                        "max_tokens": 9,
                        "messages": [{"role": "user", "content": CONTENT}],
                        **body,
                    },
                )
                return r.status_code, body["metadata"]["task_id"], r.headers.get("x-litellm-call-id")

            return await asyncio.gather(*(one(i) for i in range(n)))


if "concurrent" in WHAT:
    run = uuid.uuid4().hex[:6]
    res = asyncio.run(many(100, lambda i: f"c{run}-{i % 5}", "/conc"))
    tasks = {t for _, t, _ in res}
    recs = records(lambda x: x.task_id in tasks, want=len(tasks), timeout=60)
    per = {}
    for r in recs:
        per[r.task_id] = per.get(r.task_id, 0) + 1
    emit(
        "concurrent 100",
        statuses=sorted({s for s, _, _ in res}),
        ok=sum(s == 200 for s, _, _ in res),
        records=len(recs),
        distinct_tasks=len(per),
        doubled=sum(v > 1 for v in per.values()),
        missing=len(tasks - set(per)),
        tenants_ok=all(r.tenant.startswith(f"c{run}-") for r in recs),
        cost_ok=all(round(r.cost_usd, 10) == price(57, 9) for r in recs),
    )

if "budget2" in WHAT:
    tenant = "b2-" + uuid.uuid4().hex[:6]
    res = asyncio.run(many(30, lambda i: tenant, "/budgeted"))
    ok = [t for s, t, _ in res if s == 200]
    recs = records(lambda x: x.tenant == tenant and x.success and x.cost_usd > 0, want=len(ok), timeout=30)
    emit(
        "budget across workers",
        limit_usd=0.0001,
        per_request=price(57, 9),
        statuses={s: sum(1 for x, _, _ in res if x == s) for s in {x for x, _, _ in res}},
        paid_records=len(recs),
        spent=round(sum(r.cost_usd for r in recs), 8),
    )

if "sigterm" in WHAT:
    # Requests in flight (the upstream answers after 8 s) when the proxy gets SIGTERM after 2 s.
    import os
    import signal
    import threading

    pid = int(sys.argv[4])
    run = uuid.uuid4().hex[:6]
    out = {}

    def one(i):
        body = md(tenant_id=f"s{run}", route="/sigterm")
        try:
            r = httpx.post(
                BASE + "/v1/chat/completions",
                headers=H,
                timeout=60,
                json={
                    "model": "slow-mini",
                    "max_tokens": 9,
                    "messages": [{"role": "user", "content": CONTENT}],
                    **body,
                },
            )
            out[i] = r.status_code
        except Exception as e:
            out[i] = type(e).__name__

    ts = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    for t in ts:
        t.start()
    time.sleep(2)
    os.kill(pid, signal.SIGTERM)
    t0 = time.monotonic()
    for t in ts:
        t.join()
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() - t0 > 90:
            break
        time.sleep(0.2)
    recs = records(lambda x: x.tenant == f"s{run}", want=5, timeout=5)
    emit(
        "sigterm with 5 in flight",
        client=[out[i] for i in range(5)],
        exited_after=round(time.monotonic() - t0, 1),
        records=[show(x) for x in recs],
    )

if "cut" in WHAT:
    # The client gives up 2 s into a request the upstream answers after 8 s, streamed or not.
    for stream in (False, True):
        body = md(tenant_id="cut", route="/cut")
        try:
            with httpx.stream(
                "POST",
                BASE + "/v1/chat/completions",
                headers=H,
                timeout=2,
                json={
                    "model": "slow-mini",
                    "max_tokens": 9,
                    "stream": stream,
                    "messages": [{"role": "user", "content": CONTENT}],
                    **body,
                },
            ) as r:
                for _ in r.iter_bytes():
                    pass
            got = r.status_code
        except httpx.TimeoutException as e:
            got = type(e).__name__
        recs = records(lambda x: x.task_id == body["metadata"]["task_id"], timeout=25)
        emit(
            f"client leaves before the answer (stream={stream})", client=got, records=[show(x) for x in recs]
        )

if "forced" in WHAT:
    # docker stop then Ctrl-C: SIGTERM, and 1 s later SIGINT (uvicorn's forced exit), with
    # 3 requests in flight (upstream answers after 8 s).
    import os
    import signal
    import threading

    pid = int(sys.argv[4])
    run = uuid.uuid4().hex[:6]
    out = {}

    def one(i):
        body = md(tenant_id=f"f{run}", route="/forced")
        try:
            r = httpx.post(
                BASE + "/v1/chat/completions",
                headers=H,
                timeout=60,
                json={
                    "model": "slow-mini",
                    "max_tokens": 9,
                    "messages": [{"role": "user", "content": CONTENT}],
                    **body,
                },
            )
            out[i] = r.status_code
        except Exception as e:
            out[i] = type(e).__name__

    ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    time.sleep(2)
    os.kill(pid, signal.SIGTERM)
    time.sleep(1)
    os.kill(pid, signal.SIGINT)
    t0 = time.monotonic()
    for t in ts:
        t.join()
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() - t0 > 90:
            break
        time.sleep(0.2)
    recs = records(lambda x: x.tenant == f"f{run}", want=3, timeout=5)
    emit(
        "SIGTERM then SIGINT with 3 in flight",
        client=[out[i] for i in range(3)],
        exited_after=round(time.monotonic() - t0, 1),
        records=[show(x) for x in recs],
    )
