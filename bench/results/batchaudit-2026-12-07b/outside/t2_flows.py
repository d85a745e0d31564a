import os
import tempfile

from fake import Fake

from llm_cost_hooks.batch import Backoff, BatchQueue

B = Backoff(initial=0.01, factor=1.0, maximum=0.01)


def recs(q):
    q.tracker.flush()
    return sorted(
        (r.request_id, r.success, round(r.cost_usd, 8), r.tenant, r.feature)
        for r in q.tracker.ledger.records()
    )


def mk(d, be, **kw):
    return BatchQueue(be, os.path.join(d, "s.json"), ledger=f"sqlite:///{d}/l.db", backoff=B, **kw)


def add(q, n):
    for i in range(n):
        q.add(
            "gpt-4o-mini",
            [{"role": "user", "content": f"q{i}"}],
            custom_id=f"r{i}",
            metadata={"tenant_id": f"t{i % 2}", "feature": "f"},
        )


print("== restart: results arrive in another process")
d = tempfile.mkdtemp()
be = Fake()
q1 = mk(d, be)
add(q1, 3)
q1.submit()
q1.tracker.flush()
q2 = mk(d, be)  # "new process"
r = q2.run(timeout=5)
print({k: v.status.value for k, v in r.items()})
print(recs(q2))
q3 = mk(d, be)
print("third process poll:", q3.poll(force=True), "records", len(recs(q3)), "creates", be.creates)

print("== partial failure: one errored line, one missing line, batch expired")
d = tempfile.mkdtemp()
be = Fake(
    answer=lambda r: None if r["custom_id"] == "r2" else {"prompt_tokens": 1000, "completion_tokens": 100},
    status="expired",
    errors={"r1"},
)
q = mk(d, be)
add(q, 4)
r = q.run(timeout=5)
print({k: (v.status.value, v.error) for k, v in sorted(r.items())})
print("creates", be.creates)
print(recs(q))

print("== out of order + unknown custom_id + duplicate line")
d = tempfile.mkdtemp()
be = Fake(
    order=lambda out: list(reversed(out)) + [dict(out[0])],
    extra_lines=[
        {
            "custom_id": "zzz",
            "response": {
                "status_code": 200,
                "body": {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 5}},
            },
        }
    ],
)
q = mk(d, be)
add(q, 4)
r = q.run(timeout=5)
print({k: v.status.value for k, v in sorted(r.items())})
print(recs(q))

print("== cancelled mid-way: 2 of 4 answered before cancel")
d = tempfile.mkdtemp()
be = Fake(
    answer=lambda r: (
        None if r["custom_id"] in ("r2", "r3") else {"prompt_tokens": 1000, "completion_tokens": 100}
    ),
    status="cancelled",
)
q = mk(d, be)
add(q, 4)
q.submit()
res = q.poll(force=True)
print(
    "after poll:",
    {x.custom_id: x.status.value for x in res},
    "pending",
    q.pending_count,
    "creates",
    be.creates,
)
r = q.run(timeout=5)
print({k: (v.status.value, v.error) for k, v in sorted(r.items())}, "creates", be.creates)
