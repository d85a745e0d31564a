"""A small app on the PostgreSQL ledger: writes records, forks, exits (scenario in argv)."""

import logging
import multiprocessing as mp
import os
import sys
import time
import uuid

logging.basicConfig(
    level=logging.WARNING, format="%(relativeCreated)6.0fms %(process)d %(name)s %(levelname)s %(message)s"
)
from llm_cost_hooks import CostTracker, TokenUsage  # noqa: E402

URL = sys.argv[1]
scenario = sys.argv[2]
tracker = CostTracker(ledger=URL)


def call(tag):
    rid = f"{tag}-{uuid.uuid4().hex[:8]}"
    tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai", messages=[], params={}, metadata={})
    tracker.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=20))


def work(i):
    for j in range(5):
        call(f"child{i}")
    return os.getpid()


for i in range(5):
    call("parent")
tracker.flush()
if scenario == "pool":
    with mp.get_context("fork").Pool(2) as pool:
        print("children", pool.map(work, range(4)), flush=True)
elif scenario == "process":
    ps = [mp.get_context("fork").Process(target=work, args=(i,)) for i in range(2)]
    [p.start() for p in ps]
    [p.join() for p in ps]
    print("exitcodes", [p.exitcode for p in ps], flush=True)
elif scenario == "osfork":
    pid = os.fork()
    if pid == 0:
        work(0)
        sys.exit(0)  # a normal exit in the child: exit hooks run
    os.waitpid(pid, 0)
elif scenario == "lose-pool":
    print("STOP-SERVER-NOW", flush=True)
    time.sleep(float(os.environ.get("WAIT", "3")))
    with mp.get_context("fork").Pool(2) as pool:
        print("children", pool.map(work, range(4)), flush=True)
elif scenario == "lose-osfork":
    print("STOP-SERVER-NOW", flush=True)
    time.sleep(float(os.environ.get("WAIT", "3")))
    pid = os.fork()
    if pid == 0:
        work(0)
        sys.exit(0)
    os.waitpid(pid, 0)
elif scenario == "lose":
    # the server goes away before the next records (the caller stops it on cue)
    print("STOP-SERVER-NOW", flush=True)
    time.sleep(float(os.environ.get("WAIT", "3")))
    for i in range(5):
        call("late")
    time.sleep(1)
for i in range(3):
    call("parent-end")
logging.getLogger("app").warning("exiting")
