"""config.yaml = the shipped integrations/litellm-proxy/config.yaml plus loopback models.

Usage: mkconfig.py UPSTREAM_PORT OUT [callback-name]
"""

import sys
from pathlib import Path

import yaml

SHIPPED = Path(__file__).resolve().parents[4] / "integrations" / "litellm-proxy" / "config.yaml"
cfg = yaml.safe_load(SHIPPED.read_text())
port = sys.argv[1]


def up(name, kind, **extra):
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_key": "sk-up",
            "api_base": f"http://127.0.0.1:{port}/{kind}/v1",
            **extra,
        },
    }


cfg["model_list"] = [m for m in cfg["model_list"] if m["model_name"] != "gpt-4o-mini"] + [
    up("gpt-4o-mini", "ok"),
    up("slow-mini", "slow", timeout=60),
    up("fail-mini", "fail"),
    up("hang-mini", "hang", timeout=2),
    {
        "model_name": "mock-mini",
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_key": "sk-fake",
            "mock_response": "CANARY-ANSWER-7731 from the mock",
        },
    },
]
cfg["router_settings"] = {"num_retries": 0}
cfg["environment_variables"]["LLM_COST_HOOKS_PROXY_CACHE"] = "off"
if len(sys.argv) > 3:
    cfg["litellm_settings"]["callbacks"] = sys.argv[3]
Path(sys.argv[2]).write_text(yaml.safe_dump(cfg))
