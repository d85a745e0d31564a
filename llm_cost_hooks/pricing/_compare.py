"""Our price of a call checked against the price another system computed for it (a gateway's
own cost field): counted, kept, and tagged on the record when they differ."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

__all__ = ["CostChecks", "CostComparison"]

logger = logging.getLogger("llm_cost_hooks")


@dataclass(frozen=True)
class CostComparison:
    """Our price of one call next to LiteLLM's own ``response_cost`` for it; the LiteLLM
    logger keeps the last ones in ``comparisons``.

    >>> import litellm
    >>> from llm_cost_hooks.litellm import install, uninstall
    >>> cost_logger = install(ledger="memory://")
    >>> _ = litellm.completion(model="gpt-4o-mini", mock_response="hi",
    ...                        messages=[{"role": "user", "content": "hello"}])
    >>> cost_logger.flush()
    True
    >>> uninstall(cost_logger)
    >>> [(c.model, c.ours_usd, c.litellm_usd, c.matched) for c in cost_logger.comparisons]
    [('gpt-4o-mini', 1.35e-05, 1.35e-05, True)]
    """

    request_id: str
    model: str
    ours_usd: float
    litellm_usd: float | None
    matched: bool | None  # None: LiteLLM computed no cost


class CostChecks:
    """The last ``keep`` comparisons and counts of ``matched`` / ``mismatched`` /
    ``unavailable``; a mismatch is warned about once per model."""

    def __init__(self, keep: int, *, source: str = "LiteLLM") -> None:
        self.comparisons: deque[CostComparison] = deque(maxlen=keep)
        self.counts = {"matched": 0, "mismatched": 0, "unavailable": 0}
        self.source = source
        self._warned: set[str] = set()

    def check(
        self, request_id: str, model: str, ours: float, theirs: float | None, tolerance: float
    ) -> dict[str, str]:
        """Compare (relative ``tolerance``); the tags for the record when they differ."""
        tags: dict[str, str] = {}
        if theirs is None:
            matched = None
            self.counts["unavailable"] += 1
        else:
            scale = max(abs(ours), abs(theirs))
            matched = abs(ours - theirs) <= max(1e-12, tolerance * scale)
            self.counts["matched" if matched else "mismatched"] += 1
            if not matched:
                tags = {"litellm_cost_usd": f"{theirs:.10g}", "cost_mismatch": "true"}
                if model not in self._warned:
                    self._warned.add(model)
                    logger.warning(
                        "llm-cost-hooks: our price of %r ($%.10g) differs from %s's "
                        "response_cost ($%.10g) by more than %.2g%%; the record is tagged "
                        "cost_mismatch. Check price overrides or %s's price map version.",
                        model,
                        ours,
                        self.source,
                        theirs,
                        tolerance * 100,
                        self.source,
                    )
        self.comparisons.append(CostComparison(request_id, model, ours, theirs, matched))
        return tags
