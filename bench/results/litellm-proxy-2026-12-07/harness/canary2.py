import sys

import httpx

B = f"http://127.0.0.1:{sys.argv[1]}/v1/chat/completions"
H = {"Authorization": "Bearer sk-master-test"}
msgs = [{"role": "user", "content": "CANARY-PROMPT-5512 what is my balance"}]
out = []
for model in ("mock-mini", "mock-mini", "gpt-4o-mini", "gpt-4o-mini", "flaky-4o"):
    r = httpx.post(
        B,
        headers=H,
        json={
            "model": model,
            "messages": msgs,
            "max_tokens": 5,
            "metadata": {"tenant_id": "canary", "task_id": "cn"},
        },
        timeout=60,
    )
    out.append(r.status_code)
with httpx.stream(
    "POST",
    B,
    headers=H,
    json={"model": "mock-mini", "messages": msgs, "stream": True, "metadata": {"tenant_id": "canary"}},
    timeout=60,
) as r:
    for _ in r.iter_lines():
        pass
r = httpx.post(
    B,
    headers=H,
    json={
        "model": "gpt-4o-mini",
        "messages": msgs,
        "max_tokens": 5,
        "metadata": {"tenant_id": "canary", "route": "/budgeted"},
    },
    timeout=60,
)
out.append(r.status_code)
r = httpx.post(
    B,
    headers=H,
    json={
        "model": "gpt-4o-mini",
        "messages": msgs,
        "max_tokens": 5,
        "metadata": {"tenant_id": "canary", "route": "/budgeted"},
    },
    timeout=60,
)
out.append(r.status_code)
print(out)
