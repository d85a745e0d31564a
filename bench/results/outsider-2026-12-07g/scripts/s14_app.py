# WSGI app loaded once in the gunicorn master (--preload): handler and writer made before fork
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage

handler = CostCallbackHandler(ledger="sqlite:///gunicorn.db")
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
llm.invoke("warm-up in the master", config={"callbacks": [handler], "metadata": {"tenant_id": "master"}})


def app(environ, start_response):
    llm.invoke("hello", config={"callbacks": [handler], "metadata": {"tenant_id": "web"}})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
