"""A Celery app on the filesystem transport (no broker service); the handler is built at
import in the worker's main process, before the prefork pool forks its children."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from celery import Celery
from common import call, fake_model

from llm_cost_hooks.langchain import CostCallbackHandler

work = os.environ["FORK_WORK"]
app = Celery("celery_tasks")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={
        "data_folder_in": f"{work}/broker",
        "data_folder_out": f"{work}/broker",
        "processed_folder": f"{work}/processed",
        "store_processed": False,
    },
    result_backend=f"file://{work}/results",
    worker_hijack_root_logger=False,
)
# FORK_NO_HANDLER=1: the same tasks without the package, for comparison.
handler = None if os.environ.get("FORK_NO_HANDLER") else CostCallbackHandler()


@app.task
def ask(tag: str, calls: int) -> int:
    model = fake_model(calls)
    for _ in range(calls):
        if handler is None:
            model.invoke("hello")
        else:
            call(handler, model, tag)
    return calls
