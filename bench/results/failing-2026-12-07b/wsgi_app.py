"""A pre-fork WSGI app on the PostgreSQL ledger: the tracker is made (and used) before the fork."""

import logging
import os
import uuid

logging.basicConfig(
    level=logging.WARNING, format="%(relativeCreated)6.0fms %(process)d %(name)s %(levelname)s %(message)s"
)
from llm_cost_hooks import CostTracker, TokenUsage  # noqa: E402

tracker = CostTracker(ledger=os.environ["PG_URL"])


def call(tag):
    rid = f"{tag}-{uuid.uuid4().hex[:8]}"
    tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai", messages=[], params={}, metadata={})
    tracker.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=20))


for _ in range(3):
    call("master")
tracker.flush()


def app(environ, start_response):
    call("worker")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
