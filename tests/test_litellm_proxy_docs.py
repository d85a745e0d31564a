"""The proxy's run instructions (docs/litellm.md, integrations/litellm-proxy/README.md)
export ``LITELLM_LOCAL_MODEL_COST_MAP=True`` before ``litellm --config``: the proxy imports
LiteLLM before it reads the config, so without it LiteLLM fetches its price map at start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("page", ["docs/litellm.md", "integrations/litellm-proxy/README.md"])
def test_proxy_run_instructions_use_the_bundled_price_map(page: str) -> None:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / page).read_text(), flags=re.S)
    runs = [b for b in blocks if re.search(r"^litellm --config", b, flags=re.M)]
    assert runs, f"{page} shows no `litellm --config` command"
    for block in runs:
        before = block[: re.search(r"^litellm --config", block, flags=re.M).start()]  # type: ignore[union-attr]
        assert re.search(r"^export .*\bLITELLM_LOCAL_MODEL_COST_MAP=True\b", before, flags=re.M), block
