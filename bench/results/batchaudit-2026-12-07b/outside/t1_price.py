import os
import tempfile

from fake import Fake

from llm_cost_hooks import PriceBook, TokenUsage
from llm_cost_hooks.batch import Backoff, BatchQueue

d = tempfile.mkdtemp()
pb = PriceBook.default()
for model, prov in [
    ("gpt-4o-mini", "openai"),
    ("gpt-4o", "openai"),
    ("claude-sonnet-4-5", "anthropic"),
    ("claude-3-5-haiku-20241022", "anthropic"),
]:
    q = BatchQueue(
        Fake(),
        os.path.join(d, model + ".json"),
        ledger=f"sqlite:///{d}/{model}.db",
        provider=prov,
        backoff=Backoff(initial=0.01),
    )
    q.add(
        model,
        [{"role": "user", "content": "hi"}],
        custom_id="a",
        metadata={"tenant_id": "acme", "feature": "digest"},
    )
    res = q.run(timeout=5)
    q.tracker.flush()
    [rec] = list(q.tracker.ledger.records())
    u = TokenUsage(input_tokens=1000, output_tokens=100)
    rt = pb.cost(u, model).total
    print(
        model,
        res["a"].status.value,
        "batch",
        rec.cost_usd,
        "realtime",
        rt,
        "ratio",
        round(rec.cost_usd / rt, 4),
        "saved",
        rec.saved_usd,
        "tenant",
        rec.tenant,
        "feature",
        rec.feature,
        "tags",
        rec.tags,
        rec.cache_status,
        rec.price_estimated,
    )
