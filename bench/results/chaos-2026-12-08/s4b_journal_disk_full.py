"""Scenario 4b: Redis is down (a closed port: connection refused) and the spend guard's
outage journal cannot grow (RLIMIT_FSIZE at its size, SIGXFSZ ignored). Fail-open promises
that calls go on and every settlement is kept for the replay."""

from __future__ import annotations

import glob
import logging
import os
import resource
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import capture_logs, fresh_dir, verdict


def main() -> None:
    work = fresh_dir("s4b")
    os.environ["LLM_COST_HOOKS_STATE_DIR"] = str(work / "state")
    lines = capture_logs()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from llm_cost_hooks.budget import Limit, SpendGuard
    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage, GuardedChatModel

    guard = SpendGuard([Limit.usd(100, per="day", scope="tenant")], store=f"redis://127.0.0.1:{port}")
    model = GuardedChatModel(inner=FakeChatModelWithUsage(model_name="gpt-4o", responses=["A."]), guard=guard)
    handler = CostCallbackHandler(ledger="memory://")
    cfg = {"callbacks": [handler], "metadata": {"tenant_id": "acme"}}
    errors = []
    for i in range(3):
        model.invoke(f"q{i}", config=cfg)
    files = glob.glob(f"{work}/state/**/*.jsonl", recursive=True)
    resource.setrlimit(
        resource.RLIMIT_FSIZE, (max(os.path.getsize(f) for f in files), resource.RLIM_INFINITY)
    )
    for i in range(3, 10):
        try:
            model.invoke(f"q{i}", config=cfg)
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
    # space back before printing (the limit applies to a redirected stdout too)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    journal = guard.store.journal
    spent, reserved = guard.usage(guard.limits[0], "acme")
    print(
        f"N=10 errors={len(errors)} {errors[:2]} records={len(handler.records())} "
        f"failed records={sum(not r.success for r in handler.records())}"
    )
    print(
        f"journal pending={journal.pending} (10 settlements made) set_aside={journal.set_aside}; "
        f"local spent={spent:.6f} reserved={reserved:.6f}"
    )
    for w in lines.at_least(logging.WARNING):
        print("  ", w[:300])
    verdict(
        "s4b journal disk full",
        not errors and journal.pending == 10 and reserved == 0,
        f"{len(errors)} calls failed, {journal.pending} of 10 settlements kept, {reserved:.6f} left reserved",
    )


if __name__ == "__main__":
    main()
