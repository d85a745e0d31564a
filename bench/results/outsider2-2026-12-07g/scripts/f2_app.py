# WSGI app loaded once in the gunicorn master (--preload). WARM=1: one call in the master
# (the salt is read there); else the workers are the first to ask for the salt.
import os

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

handler = CostCallbackHandler(ledger="sqlite:///gunicorn_salt.db")
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
META = {"tenant_id": "web", "user_id": "alice@example.com"}
if os.environ.get("WARM") == "1":
    llm.invoke("warm-up in the master", config={"callbacks": [handler], "metadata": META})


def app(environ, start_response):
    llm.invoke("hello", config={"callbacks": [handler], "metadata": META})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
