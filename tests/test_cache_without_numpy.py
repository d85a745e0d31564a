"""The exact cache on a file, in the base install (no numpy): it works, or says which extra
to install. Found by the configuration audit (LLM_COST_HOOKS_CACHE_PATH in a fresh venv
with only the litellm extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_file_cache_without_numpy_works_or_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['numpy'] = None\n"  # as if numpy were not installed
        "from llm_cost_hooks import MissingExtraError\n"
        "from llm_cost_hooks.langchain import SemanticCache\n"
        "from langchain_core.globals import set_llm_cache\n"
        "from llm_cost_hooks.langchain import FakeChatModelWithUsage\n"
        "try:\n"
        "    for _ in range(2):  # written, then read back by a new cache on the same file\n"
        f"        set_llm_cache(SemanticCache(path={str(tmp_path / 'cache.db')!r}, semantic=False))\n"
        "        msg = FakeChatModelWithUsage(responses=['Paris.']).invoke('Capital of France?')\n"
        "    print('ok', msg.response_metadata['llm_cost_hooks_cache']['status'])\n"
        "except MissingExtraError as exc:\n"
        "    print('extra', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-600:]
    assert done.stdout.startswith(("ok exact", "extra")), done.stdout
