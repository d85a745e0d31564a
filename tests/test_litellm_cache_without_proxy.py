"""A cache hit through ``litellm.completion`` on an install without LiteLLM's proxy
dependencies (``pip install '.[litellm]'``): LiteLLM's cache-hit path imports proxy modules
(fastapi, ...) to recognise one stream type, which raised ModuleNotFoundError into the
caller's completion() on every hit, ours and LiteLLM's own cache alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter with fastapi made unimportable (what a litellm install without
# its proxy extra looks like); prints one JSON line.
SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.modules["fastapi"] = None  # not installed
    import litellm
    from llm_cost_hooks.litellm import LiteLLMSemanticCache

    cache = LiteLLMSemanticCache(path=":memory:", semantic=False)
    litellm.cache = cache
    ask = dict(model="gpt-4o-mini", messages=[{"role": "user", "content": "Refund policy?"}],
               metadata={"tenant_id": "acme"})
    out = {}
    out["first"] = litellm.completion(**ask, mock_response="Within 30 days.").choices[0].message.content
    out["again"] = litellm.completion(**ask, mock_response="paid again").choices[0].message.content
    out["async"] = asyncio.run(litellm.acompletion(**ask, mock_response="paid again")).choices[0].message.content
    stream = litellm.completion(**ask, mock_response="paid again", stream=True)
    out["stream"] = "".join(c.choices[0].delta.content or "" for c in stream)
    out["other_tenant"] = litellm.completion(
        **{**ask, "metadata": {"tenant_id": "globex"}}, mock_response="globex's own"
    ).choices[0].message.content
    out["exact_hits"] = cache.stats.exact_hits
    print(json.dumps(out))
    """
)


def test_cache_hits_work_without_the_proxy_dependencies() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first"] == "Within 30 days."
    assert (out["again"], out["async"], out["stream"]) == ("Within 30 days.",) * 3
    assert out["other_tenant"] == "globex's own"
    assert out["exact_hits"] == 3
