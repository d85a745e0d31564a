import tempfile
import time

import litellm
from litellm.types.utils import ModelResponse, PromptTokensDetailsWrapper, Usage

from llm_cost_hooks import PriceBook
from llm_cost_hooks.litellm import CostHooksLogger

d = tempfile.mkdtemp()
pb = PriceBook.default()
lg = CostHooksLogger(ledger=f"sqlite:///{d}/l.db")
litellm.callbacks = [lg]


def resp(model, **u):
    return ModelResponse(
        model=model,
        choices=[{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop", "index": 0}],
        usage=Usage(**u),
    )


cases = [
    (
        "anthropic/claude-sonnet-4-5",
        "claude-sonnet-4-5",
        dict(
            prompt_tokens=3000,
            completion_tokens=100,
            total_tokens=3100,
            cache_read_input_tokens=2000,
            cache_creation_input_tokens=500,
            prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=2000),
        ),
    ),
    (
        "openai/gpt-4o-mini",
        "gpt-4o-mini",
        dict(
            prompt_tokens=3000,
            completion_tokens=100,
            total_tokens=3100,
            prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=2048),
        ),
    ),
]
for full, model, u in cases:
    r = litellm.completion(
        model=full,
        messages=[{"role": "user", "content": "hi"}],
        mock_response=resp(model, **u),
        metadata={"tenant_id": "acme"},
    )
    print("litellm usage:", r.usage)
    print("litellm response_cost:", r._hidden_params.get("response_cost"))
lg.flush() if hasattr(lg, "flush") else None
time.sleep(1)
for rec in lg.tracker.ledger.records() if hasattr(lg, "tracker") else []:
    print(
        rec.model,
        rec.input_tokens,
        rec.cache_read_tokens,
        rec.cache_write_tokens,
        rec.cost_usd,
        rec.saved_usd,
        rec.cache_status,
        rec.tags,
    )
