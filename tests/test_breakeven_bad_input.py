"""`self_host_breakeven` / `llm-cost breakeven self-host` refuse a utilisation threshold that is
not a fraction (7 would mean 700%: self-hosting never recommended, silently)."""

from __future__ import annotations

import pytest

from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.cli import main
from llm_cost_hooks.prompt_cache import self_host_breakeven


@pytest.mark.parametrize("value", [7.0, -0.1, float("nan")])
def test_min_utilisation_must_be_a_fraction(value: float, capsys: pytest.CaptureFixture[str]) -> None:
    args = dict(tokens_per_month=3e8, api_cost_per_month=1500, gpu_hourly_usd=2, throughput_tokens_per_s=500)
    with pytest.raises(ConfigurationError, match="min_utilisation"):
        self_host_breakeven(**args, min_utilisation=value)  # type: ignore[arg-type]
    cli = ["breakeven", "self-host", "--tokens-per-month", "3e8", "--api-cost-per-month", "1500"]
    assert main([*cli, "--gpu-hourly", "2", "--throughput", "500", "--min-utilisation", str(value)]) == 2
    assert "min_utilisation" in capsys.readouterr().err
