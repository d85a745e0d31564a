"""semantic-cache.md 'Shared with LiteLLM': one EmbeddedBackend object, LangChain writes, LiteLLM reads."""

# ruff: noqa: I001  (ours first: litellm then reads its bundled price map, as the page says)
from llm_cost_hooks.litellm import LiteLLMSemanticCache

import litellm
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.cache import EmbeddedBackend
from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache

backend = EmbeddedBackend(":memory:")
set_llm_cache(SemanticCache(backend=backend, semantic=False))
litellm.cache = LiteLLMSemanticCache(backend=backend, semantic=False)
m = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["From LangChain."])
print("langchain:", m.invoke("Refund policy?", config={"metadata": {"tenant_id": "A"}}).content)
ask = dict(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "Refund policy?"}])
r = litellm.completion(**ask, mock_response="from the model", metadata={"tenant_id": "A"})
print("litellm same tenant:", r.choices[0].message.content)
r = litellm.completion(**ask, mock_response="from the model", metadata={"tenant_id": "B"})
print("litellm tenant B:", r.choices[0].message.content)
