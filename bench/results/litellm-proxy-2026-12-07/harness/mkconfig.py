import sys
from pathlib import Path

import yaml

cfg = yaml.safe_load(Path("/work/wt/proxy/integrations/litellm-proxy/config.yaml").read_text())
slow, fail, mode = sys.argv[1], sys.argv[2], sys.argv[3]
cfg["model_list"] += [
    {
        "model_name": "mock-mini",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_key": "sk-fake",
            "mock_response": "CANARY-ANSWER-7731 from the mock",
        },
    },
    {
        "model_name": "slow-mini",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_key": "sk-fake",
            "api_base": f"http://127.0.0.1:{slow}/v1",
        },
    },
    {
        "model_name": "flaky-4o",
        "litellm_params": {
            "model": "openai/gpt-4o",
            "api_key": "sk-fake",
            "api_base": f"http://127.0.0.1:{fail}/v1",
        },
    },
]
cfg["router_settings"] = {"num_retries": 1, "fallbacks": [{"flaky-4o": ["gpt-4o-mini"]}], "retry_after": 0}
env = cfg["environment_variables"]
if mode == "ours":
    env["LLM_COST_HOOKS_PROXY_CACHE"] = "semantic"
    env["LLM_COST_HOOKS_PROXY_CACHE_STORE"] = "cache.db"
elif mode == "litellm":
    env["LLM_COST_HOOKS_PROXY_CACHE"] = "off"
    cfg["litellm_settings"]["cache"] = True
    cfg["litellm_settings"]["cache_params"] = {"type": "local"}
else:
    env["LLM_COST_HOOKS_PROXY_CACHE"] = "off"
Path(sys.argv[4]).write_text(yaml.safe_dump(cfg))
