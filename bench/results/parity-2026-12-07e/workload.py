"""One workload through the real write paths (LangChain handler, LiteLLM logger) into the
ledger named on the command line; the wall clock is set per phase so the records span two
months and the Berlin day boundary.  Usage: python workload.py LEDGER_URL OUT_REPORT.json"""

import json
import sys
import uuid
from datetime import datetime, timezone

import litellm
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

import llm_cost_hooks.tracking._tracker as tracker_mod
from llm_cost_hooks.batch import BatchQueue
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.dedup import SingleFlight
from llm_cost_hooks.langchain import (
    CostCallbackHandler,
    FakeChatModelWithUsage,
    GuardedChatModel,
    SemanticCache,
)
from llm_cost_hooks.ledger import open_ledger
from llm_cost_hooks.litellm import CostHooksLogger

URL, OUT = sys.argv[1], sys.argv[2]

_clock = [0]


def at(iso: str) -> None:
    """Calls from now on start at ``iso`` (UTC), one millisecond apart."""
    _clock[0] = int(datetime.fromisoformat(iso).astimezone(timezone.utc).timestamp() * 1e9)


def _wall_ns() -> int:
    _clock[0] += 1_000_000
    return _clock[0]


tracker_mod._wall_ns = _wall_ns

ledger = open_ledger(URL)
handler = CostCallbackHandler(ledger=ledger)
set_llm_cache(SemanticCache(path=":memory:", semantic=False))

prompt = ChatPromptTemplate.from_messages([("system", "You answer bank questions."), ("human", "{q}")])


def cfg(tenant, feature, route, pv, **extra):
    md = {
        "tenant_id": tenant,
        "feature": feature,
        "route": route,
        "prompt_version": pv,
        "user_id": tenant + "-u1",
    }
    md.update(extra.pop("metadata", {}))
    return {"callbacks": [handler], "metadata": md, **extra}


models = {
    "gpt-4o": FakeChatModelWithUsage(model_name="gpt-4o", responses=["Cards arrive in 3-5 working days."]),
    "gpt-4o-mini": FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Yes, you can."]),
    "claude": FakeChatModelWithUsage(
        model_name="claude-sonnet-4-5",
        provider="anthropic",
        cached_fraction=0.6,
        responses=["Here is a longer answer about fees and limits."],
    ),
}

# --- October (UTC), late evening in Berlin
at("2026-10-31T22:10:00+00:00")
for i in range(9):
    m = ["gpt-4o", "gpt-4o-mini", "claude"][i % 3]
    q = f"How long until my card arrives? ({i % 2})"  # repeats: exact cache hits
    (prompt | models[m]).invoke({"q": q}, config=cfg(["acme", "globex"][i % 2], "support", "faq", "v1"))

# a chain that fails at its root
bad = FakeChatModelWithUsage(model_name="gpt-4o", errors=[RuntimeError("upstream 500")])
try:
    (prompt | bad).invoke({"q": "will fail"}, config=cfg("acme", "support", "faq", "v1"))
except RuntimeError:
    pass

# a retry that recovers: any_error fails the task, root_error does not
flaky = FakeChatModelWithUsage(
    model_name="gpt-4o-mini", errors=[TimeoutError("slow"), None], responses=["ok"]
)
(prompt | flaky.with_retry(stop_after_attempt=3, wait_exponential_jitter=False)).invoke(
    {"q": "retry me"}, config=cfg("globex", "search", "kb", "v2")
)

# --- Berlin's 1 November, still 31 October in UTC
at("2026-10-31T23:30:00+00:00")


def nested(q, config):
    a = models["gpt-4o-mini"].invoke(f"plan: {q}", config=config)
    b = models["gpt-4o"].invoke(f"answer: {q} {a.content}", config=config)
    return b.content


nested_chain = RunnableLambda(nested)
for i in range(3):
    nested_chain.invoke(f"nested {i}", config=cfg("acme", "agent", "plan", "v3", run_id=None))

# marked outcomes: one thumbs-down, one explicit success

down, up = uuid.uuid4(), uuid.uuid4()
nested_chain.invoke("nested thumbs-down", config=cfg("globex", "agent", "plan", "v3", run_id=down))
handler.mark_task(down, success=False, reason="thumbs-down")
nested_chain.invoke("nested fine", config=cfg("globex", "agent", "plan", "v3", run_id=up))
handler.mark_task(up, success=True)

# --- the first instant of November in UTC (an edge for --since/--until)
_clock[0] = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp() * 1e9) - 1_000_000
(prompt | models["gpt-4o"]).invoke({"q": "edge of the month"}, config=cfg("initech", "support", "faq", "v1"))

# guard refusals ($0 failed records) and dedup waiters
at("2026-11-01T09:00:00+00:00")
guard = SpendGuard([Limit.usd_per_request(0.0000001)], store=None)
guarded = GuardedChatModel(inner=FakeChatModelWithUsage(model_name="gpt-4o"), guard=guard)
for i in range(2):
    try:
        guarded.invoke(f"expensive {i}", config=cfg("initech", "support", "faq", "v1"))
    except Exception:
        pass
flight = SingleFlight(result_ttl=60)
# cache=False: the waiters are served by the single flight, not LangChain's cache
deduped = GuardedChatModel(
    inner=FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["same"]), dedup=flight, cache=False
)
for i in range(3):
    deduped.invoke(
        "same request", config=cfg("acme", "search", "kb", "v2", metadata={"idempotency_key": "k-1"})
    )

# provider prompt cache: a write, then reads (usage as Anthropic reports it)


def cached_answer(read, write):
    return AIMessage(
        content="From the policy document: yes.",
        response_metadata={"model_name": "claude-sonnet-4-5"},
        usage_metadata={
            "input_tokens": 2100,
            "output_tokens": 40,
            "total_tokens": 2140,
            "input_token_details": {"cache_read": read, "cache_creation": write},
        },
    )


pc = GenericFakeChatModel(
    messages=iter([cached_answer(0, 2000), cached_answer(2000, 0), cached_answer(2000, 0)]), cache=False
)
for i in range(3):
    pc.invoke(f"policy question {i}", config=cfg("umbrella", "policy-qa", "docs", "v5"))

# a call under a parent the handler never saw: a task with no run outcome
inner = models["gpt-4o-mini"].with_config(
    callbacks=[handler],
    metadata={"tenant_id": "globex", "feature": "search", "route": "kb", "prompt_version": "v2"},
)
RunnableLambda(lambda q: inner.invoke(q).content).invoke("orphan")

# --- mid November: LiteLLM
at("2026-11-15T12:00:00+00:00")

cost_logger = CostHooksLogger(ledger=ledger)
litellm.callbacks = [cost_logger]
for i in range(4):
    litellm.completion(
        model=["gpt-4o-mini", "gpt-4o"][i % 2],
        messages=[{"role": "user", "content": f"LiteLLM question {i}"}],
        mock_response="A mocked answer of a few words.",
        metadata={
            "tenant_id": ["acme", "umbrella"][i % 2],
            "feature": "batch-summaries",
            "route": "summ",
            "prompt_version": "v4",
            "task_id": f"lt-{i // 2}",
        },
    )
# an empty feature and route (reported as none) and a tenant that sorts apart by collation
litellm.completion(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "LiteLLM unlabelled"}],
    mock_response="A mocked answer of a few words.",
    metadata={"tenant_id": "_ops", "feature": "", "route": "", "task_id": "lt-5"},
)
try:
    litellm.completion(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "LiteLLM failing"}],
        mock_response=litellm.exceptions.RateLimitError(
            "slow down", llm_provider="openai", model="gpt-4o-mini"
        ),
        metadata={
            "tenant_id": "umbrella",
            "feature": "batch-summaries",
            "route": "summ",
            "prompt_version": "v4",
            "task_id": "lt-9",
        },
    )
except Exception:
    pass
cost_logger.mark_task("lt-0", success=True)
cost_logger.mark_task("lt-1", success=False, reason="rejected summary")
cost_logger.flush()


class Backend:
    """A provider's files + batches API answering at once (no endpoint here)."""

    def __init__(self):
        self.files, self.batches = {}, {}

    def upload(self, data, filename):
        self.files[f"f{len(self.files)}"] = data
        return f"f{len(self.files) - 1}"

    def create(self, input_file_id, endpoint, metadata):
        lines = []
        for raw in self.files[input_file_id].splitlines():
            req = json.loads(raw)
            usage = {
                "prompt_tokens": 1200,
                "completion_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 0},
            }
            body = {
                "choices": [
                    {"message": {"role": "assistant", "content": "summary"}, "finish_reason": "stop"}
                ],
                "usage": usage,
                "model": req["body"]["model"],
            }
            lines.append(
                json.dumps({"custom_id": req["custom_id"], "response": {"status_code": 200, "body": body}})
            )
        out = self.upload("\n".join(lines).encode(), "out.jsonl")
        b = {
            "id": f"b{len(self.batches)}",
            "status": "completed",
            "output_file_id": out,
            "metadata": metadata,
        }
        self.batches[b["id"]] = b
        return b

    def retrieve(self, batch_id):
        return self.batches[batch_id]

    def content(self, file_id):
        return self.files[file_id]

    def find(self, key, value):
        return next((b for b in self.batches.values() if b["metadata"].get(key) == value), None)


# --- late November: batch-priced calls
at("2026-11-30T23:59:00+00:00")
now = [_clock[0] / 1e9]  # the queue stamps records with its clock: the wall clock by default
queue = BatchQueue(
    Backend(),
    None,
    tracker=handler.tracker,
    clock=lambda: now[0],
    sleep=lambda s: now.__setitem__(0, now[0] + s),
)
for i in range(3):
    queue.add(
        "gpt-4o-mini",
        [{"role": "user", "content": f"summarise report {i}"}],
        metadata={"tenant_id": "umbrella", "feature": "nightly", "route": "summ", "prompt_version": "v4"},
    )
queue.submit()
queue.run(timeout=60)
handler.tracker.flush()

out = {
    "report": handler.report(),
    "report_by_tenant": handler.report(by="tenant"),
    "report_by_day": handler.report(by=["day"]),
    "report_by_tenant_since": handler.report(by="tenant", since="2026-11-01"),
}
with open(OUT, "w") as f:
    json.dump(out, f, indent=1, default=str)
ledger.close()
print(len(handler.records()) if False else "ok")
