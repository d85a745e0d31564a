"""Seconds until the LiteLLM proxy of tests/test_litellm_proxy.py listens: python proxy_start.py N"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, "tests")
import test_litellm_proxy as t

for _ in range(int(sys.argv[1])):
    d = Path(tempfile.mkdtemp(prefix="proxy-"))
    t0 = time.monotonic()
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-4o-mini"}}]}
    proc, port, key = t.start_proxy(d, config, {}, timeout=900)
    dt = time.monotonic() - t0
    proc.close()
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"proxy ready in {dt:.1f}s load={load}", flush=True)
