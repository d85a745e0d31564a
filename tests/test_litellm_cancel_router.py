"""A ``Router.acompletion`` call cut by a timeout: LiteLLM sends no end event, and the
logger still settles its budget hold and records it as cancelled while the loop runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_litellm_cancel_hold import _BASE, _request_sent, _settled, _setup, slow_model, slow_server

__all__ = ["slow_model", "slow_server"]  # fixtures used here


def test_a_router_call_cut_by_wait_for_settles_its_hold(litellm_clean: Any, slow_model: str) -> None:
    cost_logger, guard = _setup(litellm_clean)
    router = litellm_clean.Router(
        model_list=[
            {
                "model_name": "support",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_key": "sk-test",
                    "api_base": slow_model,
                },
            }
        ],
        num_retries=0,
    )
    seen: list[Any] = []
    kwargs = {k: v for k, v in _BASE.items() if k not in ("model", "api_key")}

    async def run() -> None:
        # The cancel below cuts the call once the model has the request (waited for up to
        # 60 s); the wait_for's own timeout must not run out first on a loaded machine.
        task = asyncio.ensure_future(asyncio.wait_for(router.acompletion(model="support", **kwargs), 120))
        await _request_sent()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await _settled()
        seen.append(guard.usage("daily", "acme"))

    asyncio.run(run())
    assert seen[0][1] == 0.0 and seen[0][0] > 0
    cost_logger.tracker.flush(5)
    (record,) = cost_logger.records()
    assert record.error_type == "CancelledError" and record.tags["litellm.cancelled"] == "request"
    assert record.input_tokens > 0 and record.output_tokens == 0
    assert seen[0][0] == pytest.approx(record.cost_usd)
