"""A WSGI app built at import, before gunicorn --preload forks its workers: a
CostCallbackHandler with the default ledger (sqlite:///llm_costs.db in the working
directory, or LLM_COST_HOOKS_LEDGER) and a LangChain fake chat model per request."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import call, fake_model

from llm_cost_hooks.langchain import CostCallbackHandler

handler = CostCallbackHandler()
call(handler, fake_model(1), "master")  # queued in the master before the fork


def app(environ, start_response):
    tag = environ["PATH_INFO"].strip("/") or "root"
    call(handler, fake_model(1), tag)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
