"""Scenario 7 (LiteLLM side): real litellm.completion(mock_response=...) calls, sync, async
(acompletion in asyncio.run) and streamed, then the script ends at once with sys.exit, or
takes SIGTERM mid-run. Every call returned must be a row or a counted dead-letter line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import dead_letter_lines, fresh_dir, sqlite_rows, verdict

CHILD = r"""
import asyncio, os, sys, logging
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
import litellm
from llm_cost_hooks.litellm import CostHooksLogger
cost_logger = CostHooksLogger(ledger="sqlite:///llm_costs.db", defaults={"tenant_id": "acme"})
litellm.callbacks = [cost_logger]
how, n = sys.argv[1], int(sys.argv[2])
fd = os.open("progress", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
msgs = [{"role": "user", "content": "hi"}]
def sync_call(i):
    litellm.completion(model="gpt-4o-mini", messages=msgs, mock_response=f"answer {i}")
async def async_calls(k):
    await asyncio.gather(*(litellm.acompletion(model="gpt-4o-mini", messages=msgs, mock_response="a") for _ in range(k)))
def stream_call(i):
    for _ in litellm.completion(model="gpt-4o-mini", messages=msgs, mock_response=f"streamed {i}", stream=True,
                                stream_options={"include_usage": True}):
        pass
os.write(fd, b"ready\n")
for i in range(n):
    os.write(fd, b"s\n")
    if i % 10 == 9:
        asyncio.run(async_calls(5)); os.write(fd, b"e\n" * 5 + b"s\n" * 4)
    elif i % 3 == 0:
        stream_call(i); os.write(fd, b"e\n")
    else:
        sync_call(i); os.write(fd, b"e\n")
if how == "exit":
    sys.exit(0)
while True:
    sync_call(0)
"""


def one(how: str) -> None:
    work = fresh_dir(f"s8-{how}")
    n = 60
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, how, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    if how == "sigterm":
        while Path("progress").exists() is False or Path("progress").read_text().count("e\n") < 30:
            time.sleep(0.01)
        p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=120)
    prog = Path("progress").read_text()
    started, ended = prog.count("s\n"), prog.count("e\n")
    rows = sqlite_rows(work / "llm_costs.db")
    dl = dead_letter_lines(work / "llm_costs.db.dead-letter.jsonl")
    print(f"--- {how}: rc={p.returncode} started={started} ended={ended} rows={rows} set_aside={dl}")
    print("\n".join(ln for ln in out.splitlines() if "llm_cost_hooks" in ln or "Error" in ln)[-3000:])
    verdict(f"s8 litellm {how}", ended <= rows + dl <= started, f"{rows}+{dl} of {ended}..{started}")


if __name__ == "__main__":
    for how in sys.argv[1:] or ("exit", "sigterm"):
        one(how)
