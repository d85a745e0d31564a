"""The llm-cost-hooks logger as a LiteLLM proxy callback, for a config kept next to
this file (``callbacks: cost_hooks_callback.proxy_handler_instance``).

Installed from PyPI, you need no file of ours: name the package's callback in your
``config.yaml`` instead (``callbacks: llm_cost_hooks.litellm.proxy.proxy_handler_instance``).
Both are the same logger, configured from the environment (or the config's
``environment_variables:`` block, which the proxy applies before loading this); every
setting is described in ``llm_cost_hooks/litellm/proxy.py`` and docs/litellm.md.
"""

from llm_cost_hooks.litellm.proxy import ProxyCostHooksLogger, _from_environment

__all__ = ["ProxyCostHooksLogger", "proxy_handler_instance"]

proxy_handler_instance = _from_environment()
