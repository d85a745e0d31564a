"""The framework-free pieces the LangChain adapter drives: the test models' reply script
and usage shape, breakpoint options, the single-flight step and downgrade choice of the
guarded call, and the tier run configs."""

from __future__ import annotations

import asyncio
import threading

import pytest

from llm_cost_hooks import BudgetExceeded, ConfigurationError, TokenUsage
from llm_cost_hooks.budget import Downgrade
from llm_cost_hooks.budget._call import GuardedCall, Target, ashared_call, pick_downgrade, shared_call
from llm_cost_hooks.dedup import SingleFlight
from llm_cost_hooks.prompt_cache._placement import BreakpointOptions, message_view
from llm_cost_hooks.routing._tiers import shadow_run, tier_run
from llm_cost_hooks.tokens._reply import ReplyScript, usage_metadata

POLICY = "Refunds need a receipt and are reviewed within two working days. " * 150


def test_reply_script_raises_scripted_errors_then_cycles_and_counts() -> None:
    script = ReplyScript()
    boom = RuntimeError("down")
    with pytest.raises(RuntimeError, match="down"):
        script.next([], ["a", "b"], errors=[boom, None])
    got = [script.next([], ["a", "b"], errors=[boom, None]) for _ in range(3)]
    assert got == ["a", "b", "a"] and script.calls == 4  # the failed call counts too


def test_reply_script_responder_sees_the_messages_and_is_thread_safe() -> None:
    script = ReplyScript()
    assert script.next(["hello"], ["unused"], respond=lambda m: m[0].upper()) == "HELLO"
    threads = [threading.Thread(target=lambda: script.next([], ["x"])) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert script.calls == 21


def test_usage_metadata_lists_details_only_when_non_zero() -> None:
    plain = usage_metadata(TokenUsage(input_tokens=10, output_tokens=5))
    assert plain == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    full = usage_metadata(
        TokenUsage(input_tokens=100, output_tokens=40, cache_read_tokens=60, reasoning_tokens=30)
    )
    assert full["input_token_details"] == {"cache_read": 60}
    assert full["output_token_details"] == {"reasoning": 30}


def test_breakpoint_options_check_and_mark_system_prompt_only() -> None:
    with pytest.raises(ConfigurationError, match="Step needs model="):
        BreakpointOptions("").checked("Step")
    with pytest.raises(ConfigurationError, match="ttl must be"):
        BreakpointOptions("claude-sonnet-4-5", ttl="2h").checked("Step")  # type: ignore[arg-type]
    options = BreakpointOptions("claude-sonnet-4-5", ttl="1h").checked("Step")
    messages = [{"role": "system", "content": POLICY}, {"role": "user", "content": "hi"}]
    plan = options.plan([message_view(m) for m in messages], None)
    marked = options.marked(plan, [m["content"] for m in messages])
    assert list(marked) == [0]  # never the user's turn
    assert marked[0][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert marked[0][0]["text"] == POLICY


def test_breakpoint_options_mark_tools_only_when_they_reach_the_minimum() -> None:
    small = [{"name": "t", "input_schema": {"type": "object", "properties": {}}}]
    assert "cache_control" not in BreakpointOptions("claude-sonnet-4-5").tools([dict(t) for t in small])[-1]
    big = [
        {"name": f"t{i}", "description": "Looks up records. " * 40, "input_schema": {"type": "object"}}
        for i in range(6)
    ]
    marked = BreakpointOptions("claude-sonnet-4-5").tools([dict(t) for t in big])
    assert marked[-1]["cache_control"] == {"type": "ephemeral"}
    assert all("cache_control" not in t for t in marked[:-1])
    # A provider that caches by itself gets no mark however long the tools are.
    assert all("cache_control" not in t for t in BreakpointOptions("gpt-4o-mini").tools(list(big)))


def _downgrade(to: str | None) -> Downgrade:
    error = BudgetExceeded("daily", limit=1.0, spent=1.0, requested=0.1)
    return Downgrade(limit_name="daily", to_model=to, from_model="big", error=error)


def test_pick_downgrade_names_the_target_or_the_only_choice() -> None:
    assert pick_downgrade(_downgrade("small"), {"small": 1, "tiny": 2}) == 1
    assert pick_downgrade(_downgrade(None), {"small": 1}) == 1
    assert pick_downgrade(_downgrade(None), {"small": 1, "tiny": 2}) is None  # ambiguous: refuse
    assert pick_downgrade(_downgrade("other"), {"small": 1}) is None


def test_shared_call_tags_a_follower_and_passes_through_without_a_key() -> None:
    flight = SingleFlight(result_ttl=60)
    calls: list[int] = []

    def upstream() -> str:
        calls.append(1)
        return "answer"

    first, second = GuardedCall(Target("m", "m")), GuardedCall(Target("m", "m"))
    assert shared_call(first, flight, "k", upstream) == ("answer", False)
    assert shared_call(second, flight, "k", upstream) == ("answer", True)  # served from the flight
    assert calls == [1] and first.tags["dedup.source"] == "leader"
    assert second.tags["dedup.source"] == "cached" and second.tags["dedup.key"] == "k"
    plain = GuardedCall(Target("m", "m"))
    assert shared_call(plain, flight, None, upstream) == ("answer", False) and calls == [1, 1]
    assert "dedup.source" not in plain.tags


def test_ashared_call_joins_one_upstream_call() -> None:
    flight = SingleFlight(result_ttl=0)
    calls: list[int] = []

    async def upstream() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)
        return "answer"

    async def main() -> list[tuple[str, bool]]:
        return list(
            await asyncio.gather(
                *(ashared_call(GuardedCall(Target("m", "m")), flight, "k", upstream) for _ in range(5))
            )
        )

    results = asyncio.run(main())
    assert calls == [1] and [shared for _, shared in results].count(False) == 1


def test_tier_and_shadow_runs() -> None:
    assert tier_run("small", 1) == {
        "metadata": {"route": "small", "llm_cost_hooks_attempt": 1},
        "run_name": "route:small",
    }
    assert tier_run("large", 2)["tags"] == ["retry:attempt:2"]
    assert shadow_run("large") == {"metadata": {"route": "shadow:large"}, "run_name": "shadow:large"}


def test_prompt_cache_step_reads_its_options_and_checks_them() -> None:
    from llm_cost_hooks.langchain import PromptCacheBreakpoints

    step = PromptCacheBreakpoints(model="claude-sonnet-4-5", ttl="1h", cache_documents=False)
    assert (step.model, step.ttl, step.cache_documents, step.tools) == ("claude-sonnet-4-5", "1h", False, [])
    with pytest.raises(AttributeError):
        _ = step.no_such_option
    with pytest.raises(ConfigurationError, match="PromptCacheBreakpoints needs model="):
        PromptCacheBreakpoints(model="")
