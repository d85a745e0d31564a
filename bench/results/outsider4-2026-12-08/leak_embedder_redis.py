import io
import logging

from langchain_core.globals import set_llm_cache

from llm_cost_hooks.embeddings import CallableEmbedder
from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache

buf = io.StringIO()
logging.basicConfig(stream=buf, level=logging.DEBUG)
SECRET = "ZEBRA-PROMPT-7731"


def bad_embed(texts):
    raise RuntimeError(f"embedding service rejected: {texts}")


set_llm_cache(SemanticCache(path=":memory:", embedder=CallableEmbedder(bad_embed, name="x", dim=4)))
m = FakeChatModelWithUsage(responses=["ok"])
print(m.invoke(f"When will my card {SECRET} arrive?", config={"metadata": {"tenant_id": "a"}}).content)
set_llm_cache(SemanticCache(redis_url="redis://:s3cretpw@127.0.0.1:16397", semantic=False))
print(m.invoke(f"When will my card {SECRET} arrive?", config={"metadata": {"tenant_id": "a"}}).content)
logs = buf.getvalue()
print("secret in logs:", SECRET in logs, "password in logs:", "s3cretpw" in logs)
print([line[:160] for line in logs.splitlines() if "WARNING" in line])
