"""The framework-free pieces the LangChain adapter drives: the test models' reply script
and usage shape, breakpoint options and tool conversion, the single-flight step and
downgrade choice of the guarded call, the tier checks, run configs, call parameters,
breakpoint outcome and structured output of a routed call, and what the cost handler
reads of a call."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from llm_cost_hooks import BudgetExceeded, ConfigurationError, TokenUsage
from llm_cost_hooks.budget import Downgrade
from llm_cost_hooks.budget._call import GuardedCall, Target, ashared_call, pick_downgrade, shared_call
from llm_cost_hooks.dedup import SingleFlight
from llm_cost_hooks.prompt_cache._placement import BreakpointOptions, anthropic_tools, message_view
from llm_cost_hooks.routing._run import structured_output
from llm_cost_hooks.routing._tiers import CallExtras, check_tiers, shadow_run, tier_params, tier_run
from llm_cost_hooks.tokens._reply import ReplyScript, usage_metadata
from llm_cost_hooks.tracking import RunKind
from llm_cost_hooks.tracking._calls import annotate_run, call_model, run_kind
from llm_cost_hooks.tracking._usage import (
    model_name_of,
    replayed_by_cache,
    usage_from_llm_output,
    usage_from_metadata,
    usage_of_message,
)

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


def test_check_tiers_refuses_no_tiers_and_a_tier_of_another_kind() -> None:
    check_tiers("Router", {"small": 1, "large": 2}, int, "an int")
    with pytest.raises(ConfigurationError, match="Router needs at least one tier"):
        check_tiers("Router", {}, int, "an int")
    with pytest.raises(ConfigurationError, match="tier 'large' must be an int, got str"):
        check_tiers("Router", {"small": 1, "large": "x"}, int, "an int")


def test_tier_params_put_call_kwargs_over_set_defaults_and_take_out_bound_keys() -> None:
    params, (tools, structured) = tier_params(
        {"temperature": 0.0, "tools_kw": ["t"], "stop": ["\n"]},
        {"temperature": 0.7, "max_tokens": None},
        "tools_kw",
        "struct_kw",
    )
    assert params == {"temperature": 0.0, "stop": ["\n"]}
    assert (tools, structured) == (["t"], None)
    assert tier_params({}, {"max_tokens": 50}) == ({"max_tokens": 50}, [])


def test_call_extras_place_notes_the_report_or_the_failure() -> None:
    extras = CallExtras()
    report = SimpleNamespace(breakpoints=[1, 2], cacheable_tokens=1500, mode="explicit")
    assert extras.place("small", "m", lambda: (["placed"], report), ["as is"]) == ["placed"]

    def fail() -> tuple[list[str], object]:
        raise ValueError("no rule")

    assert extras.place("large", "m2", fail, ["as is"]) == ["as is"]
    assert extras.prompt_cache == {
        "small": {"breakpoints": 2, "cacheable_tokens": 1500, "mode": "explicit"},
        "large": {"breakpoints": 0, "error": "ValueError"},
    }


def test_structured_output_returns_the_value_raises_its_error_or_returns_all() -> None:
    assert structured_output({"parsed": {"a": 1}, "parsing_error": None}) == {"a": 1}
    with pytest.raises(KeyError):
        structured_output({"parsed": None, "parsing_error": KeyError("a")})
    with pytest.raises(ValueError, match="bad json"):
        structured_output({"parsing_error": "bad json"})
    assert structured_output({"parsing_error": "bad json"}, "raw", include_raw=True) == {
        "raw": "raw",
        "parsed": None,
        "parsing_error": "bad json",
    }


def test_anthropic_tools_keep_anthropic_dicts_convert_others_and_mark_the_last() -> None:
    ready = {"name": "a", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    function = {"name": "b", "description": "B.", "parameters": {"type": "object", "properties": {}}}
    tools = anthropic_tools([ready, "b"], lambda tool: function, ttl="1h")
    assert tools[0] == {"name": "a", "input_schema": {"type": "object"}}
    assert tools[1]["description"] == "B." and tools[1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" not in anthropic_tools([ready], lambda tool: function, mark=False)[0]


def test_prompt_cache_step_reads_its_options_and_checks_them() -> None:
    from llm_cost_hooks.langchain import PromptCacheBreakpoints

    step = PromptCacheBreakpoints(model="claude-sonnet-4-5", ttl="1h", cache_documents=False)
    assert (step.model, step.ttl, step.cache_documents, step.tools) == ("claude-sonnet-4-5", "1h", False, [])
    with pytest.raises(AttributeError):
        _ = step.no_such_option
    with pytest.raises(ConfigurationError, match="PromptCacheBreakpoints needs model="):
        PromptCacheBreakpoints(model="")


# --- what the cost handler reads of a call (tracking._calls, tracking._usage) ----------------


def test_call_model_prefers_metadata_then_invocation_params_then_defaults() -> None:
    inv = {"model": "gpt-4o", "_type": "openai-chat", "temperature": None, "top_p": 0.9, "stream": True}
    model, provider, params = call_model({"name": "ChatOpenAI"}, {}, {"invocation_params": inv}, None)
    assert (model, provider, params) == (
        "gpt-4o",
        "openai-chat",
        {"top_p": 0.9},
    )  # None and non-request keys dropped
    meta = {
        "ls_model_name": "claude-haiku-4-5",
        "ls_provider": "anthropic",
        "ls_temperature": 0.1,
        "ls_max_tokens": 64,
    }
    assert call_model(None, meta, {"invocation_params": {"max_tokens": 32}}, None) == (
        "claude-haiku-4-5",
        "anthropic",
        {"max_tokens": 32, "temperature": 0.1},  # the call's own max_tokens wins over ls_max_tokens
    )
    assert call_model({"name": "Mine"}, {}, {}, "fallback-model")[0] == "fallback-model"
    assert call_model({"name": "Mine"}, {}, {}, None)[0] == "Mine"
    assert call_model(None, {}, {}, None)[0] == "unknown"


def test_run_kind_names_a_run_and_finds_agents() -> None:
    assert run_kind(RunKind.CHAIN, {"name": "AgentExecutor"}, {}) == (RunKind.AGENT, "AgentExecutor")
    assert run_kind(RunKind.TOOL, {"name": "agent_lookup"}, {}) == (RunKind.TOOL, "agent_lookup")
    assert run_kind(RunKind.CHAIN, None, {"name": "summarise"}) == (RunKind.CHAIN, "summarise")
    assert run_kind(RunKind.RETRIEVER, None, {}) == (RunKind.RETRIEVER, RunKind.RETRIEVER.value)


def test_annotate_run_tags_each_tracker_once() -> None:
    class Tracker:
        def __init__(self) -> None:
            self.seen: list[tuple[str, dict[str, str]]] = []

        def annotate(self, run_id: str, tags: dict[str, str]) -> bool:
            self.seen.append((run_id, tags))
            return True

    class Handler:
        def __init__(self, tracker: Tracker | None) -> None:
            self.tracker = tracker

    shared, other = Tracker(), Tracker()

    manager = SimpleNamespace(
        run_id="run-1",
        handlers=[Handler(shared), Handler(None)],
        inheritable_handlers=[Handler(shared), Handler(other)],
    )

    assert annotate_run(manager, {"budget.trimmed": "history"}) == 2
    assert shared.seen == [("run-1", {"budget.trimmed": "history"})] and len(other.seen) == 1
    assert annotate_run(manager, {"a": "b"}, run_id="parent") == 2 and shared.seen[-1][0] == "parent"
    assert annotate_run(manager, {}) == 0 and annotate_run(None, {"a": "b"}) == 0


def test_message_usage_readers() -> None:
    um = {
        "input_tokens": 120,
        "output_tokens": 40,
        "input_token_details": {"cache_read": 100, "cache_creation": 10},
        "output_token_details": {"reasoning": 25},
    }
    usage = usage_from_metadata(um)
    assert (usage.input_tokens, usage.output_tokens) == (120, 40)
    assert (usage.cache_read_tokens, usage.cache_write_tokens, usage.reasoning_tokens) == (100, 10, 25)

    class Message:
        usage_metadata: dict[str, int] | None = None

    assert usage_of_message(Message()) is None
    message = Message()
    message.usage_metadata = {"input_tokens": 3, "output_tokens": 1}
    assert usage_of_message(message) == TokenUsage.from_reported(input_tokens=3, output_tokens=1)
    assert replayed_by_cache({**um, "total_cost": 0}) and not replayed_by_cache(um)
    assert not replayed_by_cache({**um, "total_cost": 0.002}) and not replayed_by_cache(None)
    out = usage_from_llm_output({"token_usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    assert out is not None and (out.input_tokens, out.output_tokens) == (7, 2)
    assert usage_from_llm_output({"model_name": "gpt-4o"}) is None
    assert usage_from_llm_output({"usage": {"other": 1}}) == TokenUsage()  # reported, unreadable


def test_model_name_of_reads_langsmith_params_then_attributes() -> None:
    class Reported:
        def _get_ls_params(self) -> dict[str, str]:
            return {"ls_model_name": "gpt-4o-mini", "ls_provider": "openai"}

    class Broken:
        model = "claude-haiku-4-5"

        def _get_ls_params(self) -> dict[str, str]:
            raise TypeError("needs call-time arguments")

    class Bare:
        pass

    assert model_name_of(Reported()) == ("gpt-4o-mini", "openai")
    assert model_name_of(Broken()) == ("claude-haiku-4-5", None)
    assert model_name_of(Bare()) == ("Bare", None)
