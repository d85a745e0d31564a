"""pytest plugin (``-p slow_events``, this directory on PYTHONPATH): each sync success or
failure event reaches CostHooksLogger 3 s late, as LiteLLM's logging thread can deliver
it on a loaded machine."""

import time
from typing import Any

from llm_cost_hooks.litellm import CostHooksLogger

_ok, _fail = CostHooksLogger.log_success_event, CostHooksLogger.log_failure_event


def _late_ok(self: CostHooksLogger, *args: Any, **kwargs: Any) -> Any:
    time.sleep(3.0)
    return _ok(self, *args, **kwargs)


def _late_fail(self: CostHooksLogger, *args: Any, **kwargs: Any) -> Any:
    time.sleep(3.0)
    return _fail(self, *args, **kwargs)


CostHooksLogger.log_success_event = _late_ok  # type: ignore[method-assign]
CostHooksLogger.log_failure_event = _late_fail  # type: ignore[method-assign]
