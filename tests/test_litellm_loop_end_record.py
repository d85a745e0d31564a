"""A LiteLLM call whose event loop ends right after it returns (a script or a job running
``asyncio.run(litellm.acompletion(...))``) is still recorded: no cost record is lost."""

from __future__ import annotations

import asyncio
from typing import Any


def test_acompletion_recorded_when_the_loop_ends_at_once(litellm_clean: Any) -> None:
    from llm_cost_hooks.litellm import CostHooksLogger

    logger = CostHooksLogger(ledger="memory://")
    litellm_clean.callbacks = [logger]
    answer = asyncio.run(
        litellm_clean.acompletion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "When will my card arrive?"}],
            mock_response="Within 3-5 business days.",
            metadata={"tenant_id": "acme"},
        )
    )
    assert answer.choices[0].message.content == "Within 3-5 business days."
    logger.flush()
    records = logger.records()
    assert len(records) == 1
    assert records[0].tenant == "acme" and records[0].cost_usd > 0
