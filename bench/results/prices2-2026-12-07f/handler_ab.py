"""CPU per LiteLLM call of CostHooksLogger's pre-call + success handlers, on the kwargs LiteLLM
passed for one completion whose provider returned a dated model (gpt-4o-mini ->
gpt-4o-mini-2024-07-18). Run once per package version (PYTHONPATH) and compare.

    python handler_ab.py   ->  prints µs per call (best of 5 repeats of 3000 calls)
    CG=1 N=300 valgrind --tool=callgrind --callgrind-out-file=cg.out python handler_ab.py
        -> counters zeroed after warm-up, N calls, dumped: grep ^summary cg.out.1
"""

from __future__ import annotations

import os
import time
import timeit
import uuid
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm
from litellm.integrations.custom_logger import CustomLogger

from llm_cost_hooks.litellm import CostHooksLogger

captured: dict[str, Any] = {}


class Capture(CustomLogger):
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        captured["pre"] = (model, messages, kwargs)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        captured["ok"] = (kwargs, response_obj, start_time, end_time)


litellm.callbacks = [Capture()]
msgs = [{"role": "user", "content": "Where is my parcel? It was due yesterday."}]
litellm.completion(model="gpt-4o-mini", messages=msgs, mock_response="It left the depot this morning.")
deadline = time.monotonic() + 300  # slow under valgrind
while "ok" not in captured and time.monotonic() < deadline:
    time.sleep(0.001)
litellm.callbacks = []
model, messages, pre_kwargs = captured["pre"]
ok_kwargs, response, start, end = captured["ok"]
pre_kwargs, ok_kwargs = dict(pre_kwargs), dict(ok_kwargs)
if os.environ.get("DATED", "1") == "1":
    response.model = "gpt-4o-mini-2024-07-18"  # as a provider answers
    response._hidden_params["provider_response_model"] = "gpt-4o-mini-2024-07-18"
ours = CostHooksLogger(ledger="memory://")


def pair() -> None:
    cid = uuid.uuid4().hex
    pre_kwargs["litellm_call_id"] = ok_kwargs["litellm_call_id"] = cid
    ours.log_pre_api_call(model, messages, pre_kwargs)
    ours.log_success_event(ok_kwargs, response, start, end)


for _ in range(50):
    pair()
ours.flush()
if os.environ.get("CG"):
    import subprocess

    subprocess.run(["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True)
    for _ in range(int(os.environ.get("N", "300"))):
        pair()
    ours.flush()
    subprocess.run(["callgrind_control", "-d", str(os.getpid())], check=True, capture_output=True)
    raise SystemExit(0)
best = min(timeit.repeat(pair, number=3000, repeat=5)) / 3000
ours.flush()
print(f"{best * 1e6:.2f}")
