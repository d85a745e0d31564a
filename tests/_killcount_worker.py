"""A process of the killed-process tests: ``python _killcount_worker.py MODE DB WRITTEN QUEUED``.

Makes WRITTEN LangChain calls (invoke and stream, through ``CostCallbackHandler`` with a
SQLite or PostgreSQL ledger whose writer waits to be woken), flushes them, makes QUEUED more that stay
queued, then by MODE:

- ``stream``: starts one more stream, prints its counts as JSON and waits mid-stream for
  the SIGKILL the test sends;
- ``clean``: prints its counts and exits normally;
- ``fork``: forks a child that makes QUEUED calls of its own and ends with ``os._exit(1)``
  without flushing; the parent waits for it, prints both counts and exits normally.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    mode, db, written, queued = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.ledger import PostgresLedger, SQLiteLedger

    # The writer wakes only when asked (flush) or every hour: queued records stay queued.
    # DB is a SQLite file or a postgresql:// URL.
    if db.startswith("postgresql://"):
        ledger: SQLiteLedger | PostgresLedger = PostgresLedger(db, flush_interval=3600)
    else:
        ledger = SQLiteLedger(db, flush_interval=3600)
    handler = CostCallbackHandler(ledger=ledger)
    model = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Paris is the capital."])
    config = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    ended = 0

    def calls(n: int) -> None:
        nonlocal ended
        for i in range(n):
            if i % 2:
                model.invoke("Capital of France?", config=config)
            else:
                for _ in model.stream("Capital of France?", config=config):
                    pass
            ended += 1

    calls(written)
    assert handler.flush(60)
    calls(queued)
    if mode == "stream":
        stream = model.stream("Capital of France?", config=config)
        next(iter(stream))  # one chunk in: this call has not ended, it makes no record yet
        print(json.dumps({"pid": os.getpid(), "accepted": ended, "written": written}), flush=True)
        time.sleep(600)
    elif mode == "clean":
        print(json.dumps({"pid": os.getpid(), "accepted": ended, "written": written}), flush=True)
    elif mode == "fork":
        pid = os.fork()
        if pid == 0:
            ended = 0
            calls(queued)
            os._exit(1)  # no flush, no exit hooks: the child's records are lost
        _, status = os.waitpid(pid, 0)
        assert handler.flush(60)
        print(json.dumps({"pid": os.getpid(), "child": pid, "child_lost": queued}), flush=True)


if __name__ == "__main__":
    main()
