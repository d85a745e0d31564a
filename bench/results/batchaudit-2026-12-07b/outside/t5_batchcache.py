import os
import sys

from fake import Fake

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.batch import Backoff, BatchQueue

d = sys.argv[1]
pb = PriceBook.default()
for model, prov, u in [
    (
        "gpt-4o-mini",
        "openai",
        {"prompt_tokens": 3000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 2048}},
    ),
    (
        "claude-sonnet-4-5",
        "anthropic",
        {
            "prompt_tokens": 3000,
            "completion_tokens": 100,
            "cache_read_input_tokens": 2000,
            "cache_creation_input_tokens": 500,
        },
    ),
]:
    q = BatchQueue(
        Fake(answer=lambda r, u=u: u),
        os.path.join(d, model + ".json"),
        ledger=f"sqlite:///{d}/ledger.db",
        provider=prov,
        backoff=Backoff(initial=0.01),
    )
    q.add(
        model,
        [{"role": "user", "content": "hi"}],
        custom_id="b-" + model,
        metadata={"tenant_id": "acme", "feature": "digest"},
    )
    q.run(timeout=5)
    q.tracker.flush()
    rec = [r for r in q.tracker.ledger.records() if r.request_id == "b-" + model][0]
    tu = TokenUsage(
        input_tokens=3000,
        output_tokens=100,
        cache_read_tokens=u.get("prompt_tokens_details", {}).get(
            "cached_tokens", u.get("cache_read_input_tokens", 0)
        ),
        cache_write_tokens=u.get("cache_creation_input_tokens", 0),
    )
    nocache = pb.cost(TokenUsage(input_tokens=3000, output_tokens=100), model).total
    print(
        model,
        "rec",
        rec.input_tokens,
        rec.cache_read_tokens,
        rec.cache_write_tokens,
        "cost",
        rec.cost_usd,
        "exp batch",
        pb.cost(tu, model, batch=True).total,
        pb.cost(tu, model, batch=True),
        "realtime w/cache",
        pb.cost(tu, model).total,
        "realtime no cache",
        nocache,
        "saved",
        rec.saved_usd,
        rec.cache_status,
        rec.tags,
    )
    q.tracker.close() if hasattr(q.tracker, "close") else None
