"""How many records of ``with Pool() as pool:`` workers reach the ledger, run after run.

    python pool_repeat.py RUNS

Each run is a fresh process: a CostCallbackHandler on a SQLite ledger, a fork Pool of 3
workers, 30 LangChain calls through it; the ``with`` block's ``terminate()`` then signals
the workers. Prints the pool records in the ledger per run (30 expected), or "hung" when the run did not
end within 20 s (it is then killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

RUN = """
import multiprocessing, sqlite3, sys
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from llm_cost_hooks.langchain import CostCallbackHandler

db = sys.argv[1]
handler = CostCallbackHandler(ledger="sqlite:///" + db)


def task(i):
    model = GenericFakeChatModel(messages=iter([AIMessage("hi", usage_metadata={
        "input_tokens": 12, "output_tokens": 3, "total_tokens": 15})]))
    model.invoke("hello", config={"callbacks": [handler],
                 "metadata": {"tenant_id": "pool", "ls_model_name": "gpt-4o-mini"}})
    return 1


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(3) as pool:
        assert sum(pool.map(task, range(30))) == 30
    handler.flush()
    print(sqlite3.connect(db).execute("SELECT count(*) FROM cost_records").fetchone()[0])
"""

if __name__ == "__main__":
    counts = []
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 10):
        with tempfile.TemporaryDirectory() as d:
            script = f"{d}/run.py"
            with open(script, "w") as fh:
                fh.write(RUN)
            proc = subprocess.Popen(
                [sys.executable, script, f"{d}/costs.db"],
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                out, _ = proc.communicate(timeout=20)
                counts.append(int(out.strip() or -1))
            except subprocess.TimeoutExpired:  # a worker never ended: kill the run's process group
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                counts.append("hung")
    print("records of 30 per run:", counts)
