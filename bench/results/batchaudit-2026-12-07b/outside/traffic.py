# A user's day: 40 realtime FAQ answers through LangChain (Anthropic prompt cache: first call
# writes 2,000 tokens, the rest read them), and 20 digests sent through the batch API.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake import Fake
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from llm_cost_hooks.batch import Backoff, BatchQueue
from llm_cost_hooks.langchain import CostCallbackHandler

led = sys.argv[1]
h = CostCallbackHandler(ledger=f"sqlite:///{led}")
msgs = []
for i in range(40):
    det = {"cache_creation": 2000} if i == 0 else {"cache_read": 2000}
    msgs.append(
        AIMessage(
            content="ok",
            usage_metadata={
                "input_tokens": 2100,
                "output_tokens": 80,
                "total_tokens": 2180,
                "input_token_details": det,
            },
            response_metadata={"model_name": "claude-sonnet-4-5"},
        )
    )
m = GenericFakeChatModel(messages=iter(msgs))
for i in range(40):
    m.invoke(
        "q",
        config={
            "callbacks": [h],
            "metadata": {"tenant_id": "acme", "feature": "faq", "prompt_version": "faq@v1"},
        },
    )
h.flush()
be = Fake(
    answer=lambda r: {
        "prompt_tokens": 2100,
        "completion_tokens": 300,
        "cache_read_input_tokens": 2000 if r["custom_id"] != "d0" else 0,
        "cache_creation_input_tokens": 2000 if r["custom_id"] == "d0" else 0,
    }
)
q = BatchQueue(
    be,
    os.path.dirname(led) + "/state.json",
    ledger=f"sqlite:///{led}",
    provider="anthropic",
    backoff=Backoff(initial=0.01),
)
for i in range(20):
    q.add(
        "claude-sonnet-4-5",
        [{"role": "user", "content": "digest"}],
        custom_id=f"d{i}",
        metadata={"tenant_id": "acme", "feature": "digest", "prompt_version": "faq@v1"},
    )
q.run(timeout=5)
q.tracker.flush()
