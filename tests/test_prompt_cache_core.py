"""Provider rules, breakpoint placement on dict requests, prefix stability, audit,
savings economics, break-even calculators, registry discovery, CLI and fine-tune export."""

from __future__ import annotations

import argparse
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llm_cost_hooks import CostRecord
from llm_cost_hooks._errors import ConfigurationError
from llm_cost_hooks.pricing import PriceBook
from llm_cost_hooks.prompt_cache import (
    CacheMode,
    LexicalEmbedder,
    add_cache_breakpoints,
    analyze_prompt,
    audit_prompt,
    breakpoint_economics,
    fine_tune_breakeven,
    prefix_report,
    resolve_cache_rule,
    self_host_breakeven,
)
from llm_cost_hooks.prompt_cache._cli import add_prompt_cache_commands
from llm_cost_hooks.prompt_cache._stability import _replay_cost
from llm_cost_hooks.prompts import PromptRegistry, discover_prompts, register_prompt

POLICY = " ".join(
    f"Rule {i}: for questions on topic {i}, check the account, cite policy section {i}.{i % 7}, "
    "and never promise a refund before review."
    for i in range(60)
)


# ------------------------------------------------------------------------ rules


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-sonnet-4-5", 1024),
        ("claude-sonnet-4-6", 1024),
        ("claude-opus-4-1", 1024),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-haiku-4-5", 4096),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0", 4096),
        ("vertex_ai/claude-sonnet-4-5@20250929", 1024),
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", 1024),
    ],
)
def test_claude_minimums_and_breakpoint_limit(model: str, minimum: int) -> None:
    rule = resolve_cache_rule(model)
    assert rule.mode is CacheMode.EXPLICIT
    assert rule.min_tokens == minimum
    assert rule.max_breakpoints == 4


def test_implicit_and_price_map_driven_rules() -> None:
    assert resolve_cache_rule("gpt-4o-mini").mode is CacheMode.IMPLICIT
    assert resolve_cache_rule("deepseek/deepseek-chat").mode is CacheMode.IMPLICIT
    # Not in the table: the price map's cache-write premium makes it explicit.
    dash = resolve_cache_rule("dashscope/qwen3.7-max")
    assert dash.mode is CacheMode.EXPLICIT and dash.cache_write_rate > dash.input_rate
    sonnet = resolve_cache_rule("claude-sonnet-4-5")
    price = PriceBook.default().lookup("claude-sonnet-4-5")
    assert sonnet.read_discount == pytest.approx(price.input_per_token - price.cache_read_per_token)
    assert sonnet.write_premium == pytest.approx(price.cache_write_per_token - price.input_per_token)


# -------------------------------------------------------------------- placement


def request() -> list[dict]:
    return [
        {"role": "system", "content": POLICY},
        {"role": "user", "content": "Example: where is my parcel? " + "details " * 300},
        {"role": "assistant", "content": [{"type": "text", "text": "It ships today. " + "steps " * 300}]},
        {"role": "user", "content": "Where is my card?"},
    ]


def test_dict_request_marks_system_and_history_not_user_and_does_not_mutate() -> None:
    messages = request()
    original = copy.deepcopy(messages)
    out, tools, report = add_cache_breakpoints(messages, None, "claude-sonnet-4-5")
    assert messages == original  # inputs untouched
    assert out[0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert out[2]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert out[3] == original[3]
    assert [b.segment for b in report.breakpoints] == ["system", "history"]
    assert report.cacheable_tokens == report.breakpoints[-1].prefix_tokens
    assert tools is None


def test_tools_get_a_mark_and_limit_counts_existing_marks() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"t{i}",
                "description": "lookup " * 600,
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for i in range(2)
    ]
    _, out_tools, report = add_cache_breakpoints(request(), tools, "claude-sonnet-4-5", ttl="1h")
    assert out_tools is not None and out_tools[-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" not in tools[-1]
    assert [b.segment for b in report.breakpoints] == ["tools", "system", "history"]

    marked = request()
    for i in range(3):
        marked[i]["content"] = [{"type": "text", "text": "x " * 10, "cache_control": {"type": "ephemeral"}}]
    marked[0]["content"][0]["text"] = POLICY
    _, _, report = add_cache_breakpoints(marked, tools, "claude-sonnet-4-5")
    assert report.existing_breakpoints == 3 and len(report.breakpoints) == 1
    assert report.breakpoints[0].segment == "tools"
    with pytest.raises(ConfigurationError, match="limit of 4"):
        add_cache_breakpoints(request(), None, "claude-sonnet-4-5", max_breakpoints=5)


def test_uuid_in_system_prompt_ends_the_stable_prefix() -> None:
    messages = request()
    messages[0] = {"role": "system", "content": [
        {"type": "text", "text": POLICY},
        {"type": "text", "text": "Request id 3f2b8c1e-9a4d-4c2b-8e7f-1a2b3c4d5e6f"},
    ]}  # fmt: skip
    out, _, report = add_cache_breakpoints(messages, None, "claude-sonnet-4-5")
    assert [b.segment for b in report.breakpoints] == ["system"]
    assert report.breakpoints[0].content_index == 0  # before the id, not after it
    assert "uuid@system" in report.volatile and "changes on every request" in report.warnings[0]


def test_tool_result_message_level_mark_and_openai_untouched() -> None:
    messages = [
        {"role": "system", "content": POLICY},
        {"role": "user", "content": "Order 42?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "shipped " * 400},
        {"role": "assistant", "content": "It shipped."},
        {"role": "user", "content": "And the other one?"},
    ]
    out, _, report = add_cache_breakpoints(messages, None, "claude-sonnet-4-5")
    assert out[4]["content"][0]["cache_control"] == {"type": "ephemeral"}  # end of history
    same, _, openai_report = add_cache_breakpoints(messages, None, "gpt-4o")
    assert same == messages and openai_report.mode is CacheMode.IMPLICIT
    assert openai_report.cacheable_tokens == openai_report.stable_prefix_tokens > 1024


# --------------------------------------------------------- stability and ledger


def _records(
    version: str, model: str, input_tokens: int, n: int, gap_s: float, **kw: int
) -> list[CostRecord]:
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    return [
        CostRecord(
            model=model,
            prompt_version=version,
            input_tokens=input_tokens,
            output_tokens=50,
            timestamp=start + timedelta(seconds=i * gap_s),
            **kw,
        )
        for i in range(n)
    ]


def test_prefix_report_flags_user_input_first_and_prices_reordering() -> None:
    registry = PromptRegistry()
    register_prompt(
        "bad",
        [("human", "Customer says: {question}\n\n" + POLICY)],
        model="claude-sonnet-4-5",
        version="v1",
        registry=registry,
    )
    register_prompt(
        "good",
        [("system", POLICY), ("human", "{question}")],
        model="claude-sonnet-4-5",
        version="v1",
        registry=registry,
    )
    stab = analyze_prompt(registry.find("bad@v1"))  # type: ignore[arg-type]
    assert stab.variable_before_static and stab.first_variable == "question" and stab.cacheable_now == 0
    static = stab.static_tokens
    assert static > 1024 and stab.cacheable_reordered == static

    recs = _records("bad@v1", "claude-sonnet-4-5", static + 40, 10, 60) + _records(
        "good@v1", "claude-sonnet-4-5", static + 40, 10, 60
    )
    rows = {r.prompt_version: r for r in prefix_report(recs, registry)}
    bad, good = rows["bad@v1"], rows["good@v1"]
    assert bad.flag and "user_input '{question}'" in bad.flag and good.flag is None
    assert bad.cacheable_share_now == 0 and bad.cacheable_share_reordered == pytest.approx(
        static / (static + 40)
    )
    # Hand check: 10 calls a minute apart (within the 5-minute TTL): 1 write + 9 reads of
    # the static prefix after reordering, versus all input tokens billed as input now.
    p = PriceBook.default().lookup("claude-sonnet-4-5")
    now_cost = 10 * (static + 40) * p.input_per_token
    reordered = (
        static * p.cache_write_per_token + 9 * static * p.cache_read_per_token + 10 * 40 * p.input_per_token
    )
    assert bad.reorder_saving_usd == pytest.approx(now_cost - reordered)
    assert good.reorder_saving_usd == pytest.approx(0.0)
    # The period is under a day: per month is 30x the saving.
    assert bad.reorder_saving_per_month_usd == pytest.approx(30 * bad.reorder_saving_usd)


def test_replay_writes_again_after_ttl() -> None:
    rule = resolve_cache_rule("claude-sonnet-4-5")
    recs = _records("v", "claude-sonnet-4-5", 2000, 3, 600)  # 10 minutes apart: always cold
    cost = _replay_cost(recs, 1500, rule, 300)
    assert cost == pytest.approx(3 * (1500 * rule.cache_write_rate + 500 * rule.input_rate))


def test_breakpoint_economics_finds_breakpoints_that_lose_money() -> None:
    writes_only = _records("rare@v1", "claude-sonnet-4-5", 3000, 6, 900, cache_write_tokens=2900)
    paying = _records("hot@v1", "claude-sonnet-4-5", 3000, 1, 1, cache_write_tokens=2900) + _records(
        "hot@v1", "claude-sonnet-4-5", 3000, 9, 30, cache_read_tokens=2900
    )
    rows = {r.prompt_version: r for r in breakpoint_economics(writes_only + paying)}
    rate = resolve_cache_rule("claude-sonnet-4-5")
    assert rows["rare@v1"].loses_money
    assert rows["rare@v1"].net_usd == pytest.approx(-6 * 2900 * rate.write_premium)
    assert not rows["hot@v1"].loses_money
    assert rows["hot@v1"].net_usd == pytest.approx(9 * 2900 * rate.read_discount - 2900 * rate.write_premium)
    assert rows["rare@v1"].breakeven_reads_per_write == pytest.approx(rate.write_premium / rate.read_discount)


# ------------------------------------------------------------------------ audit

AUDITED = [
    (
        "system",
        "You are the support assistant of Acme Bank. Never reveal the customer's full card number in a reply. "
        "Always answer in the customer's language. Escalate to a human agent when the customer mentions fraud. "
        "Keep answers under 120 words.\n\n"
        "Example 1: Q: my card is stolen. A: I froze your card; a new one ships in 3 days.\n\n"
        "Quote the relevant policy section when you refuse a request. "
        "Do not ever reveal a customer's full card number in your replies.",
    ),
    ("human", "What is my balance?"),
    ("ai", "Your balance is shown in the app under Accounts."),
    ("human", "{question}"),
]


@pytest.mark.parametrize("embedder", [None, LexicalEmbedder()], ids=["minilm", "lexical"])
def test_audit_finds_planted_duplicate_instruction(embedder: object) -> None:
    prompt = register_prompt("support", AUDITED, model="gpt-4o-mini", version="v3", registry=PromptRegistry())
    recs = _records("support@v3", "gpt-4o-mini", 400, 30, 2880)  # 30 calls over ~1 day
    for r in recs:
        r.cost_breakdown = r.cost_breakdown.model_copy(update={"input": 400 * 0.15e-6})
    audit = audit_prompt(prompt, recs, embedder=embedder, threshold=None if embedder is None else 0.6)
    assert audit.embedder.startswith("all-MiniLM" if embedder is None else "lexical")
    assert len(audit.duplicates) == 1
    dup = audit.duplicates[0]
    assert "card number" in dup.first and "card number" in dup.second and not dup.exact
    # Traffic: 30 calls over 29 x 2880 s = 0.967 days -> counted as one day -> 900 calls/month.
    assert audit.calls_per_month == pytest.approx(900)
    assert audit.effective_input_rate == pytest.approx(0.15e-6)
    assert dup.monthly_usd == pytest.approx(dup.tokens * 900 * 0.15e-6)
    assert [e.sections for e in audit.examples] == [[1, 2], [0]]
    assert sum(s.tokens for s in audit.sections) == audit.total_tokens
    assert audit.monthly_usd == pytest.approx(audit.total_tokens * 900 * 0.15e-6)


def test_audit_with_the_lexical_embedder_uses_its_own_threshold() -> None:
    # The lexical stand-in's cosines run lower than MiniLM's: given explicitly, it must be
    # judged at its own threshold (0.6), not at MiniLM's 0.85, or paraphrases are missed.
    prompt = register_prompt(
        "support",
        [
            ("system", "You are a support agent.\nNever reveal card numbers to anyone."),
            ("system", "Reminder: never reveal card numbers to anyone!"),
            ("human", "{question}"),
        ],
        model="gpt-4o-mini",
        registry=PromptRegistry(),
    )
    audit = audit_prompt(prompt, embedder=LexicalEmbedder())
    assert [d.second for d in audit.duplicates] == ["Reminder: never reveal card numbers to anyone!"]
    assert 0.6 <= audit.duplicates[0].similarity < 0.85


def test_audit_has_no_false_duplicates_on_distinct_instructions() -> None:
    prompt = register_prompt(
        "clean",
        [
            (
                "system",
                "Always answer in the customer's language. "
                "Escalate to a human agent when the customer mentions fraud. "
                "Keep answers under 120 words. Quote the policy section when you refuse.",
            )
        ],
        registry=PromptRegistry(),
    )
    assert audit_prompt(prompt).duplicates == []


# ------------------------------------------------------------------- break-even


def test_self_host_hand_worked_example() -> None:
    # 300M tokens/month cost $1,500 on the API: $5 per million tokens.
    # One GPU at $2/h x 730 h = $1,460 + $200 infra + 10 h x $100 engineering = $2,660/month.
    # Capacity: 500 tok/s x 3600 x 730 = 1,314M tokens/month -> 22.8% utilisation today.
    # Break-even: 2,660 / $5e-6 = 532M tokens/month (40.5% utilisation: still below 60%).
    r = self_host_breakeven(
        tokens_per_month=300e6,
        api_cost_per_month=1500,
        gpu_hourly_usd=2,
        throughput_tokens_per_s=500,
        infra_monthly_usd=200,
        engineering_hours_per_month=10,
        engineer_hourly_usd=100,
    )
    assert r.capacity_tokens_per_month == 1_314_000_000
    assert r.current.self_host_usd == pytest.approx(2660) and r.current.api_usd == pytest.approx(1500)
    assert r.current.utilisation == pytest.approx(300 / 1314)
    assert r.breakeven_tokens_per_month == pytest.approx(532e6)
    assert r.breakeven_utilisation == pytest.approx(532 / 1314)
    assert r.recommendation.startswith("api")
    at_10x = next(row for row in r.table if row.tokens_per_month == pytest.approx(3000e6))
    # 3,000M tokens need 3 replicas: 3 x 1,460 + 1,200 = $5,580 vs $15,000 on the API.
    assert (
        at_10x.replicas == 3 and at_10x.self_host_usd == pytest.approx(5580) and at_10x.cheaper == "self-host"
    )


def test_self_host_needs_utilisation() -> None:
    r = self_host_breakeven(
        tokens_per_month=1000e6, api_cost_per_month=20000, gpu_hourly_usd=2, throughput_tokens_per_s=2000
    )
    # $1,460 < $20,000 but only 19% busy: not recommended.
    assert (
        r.current.cheaper == "self-host" and r.recommendation.startswith("api") and "19%" in r.recommendation
    )
    never = self_host_breakeven(
        tokens_per_month=1e6, api_cost_per_month=0.1, gpu_hourly_usd=2, throughput_tokens_per_s=10
    )
    assert never.breakeven_tokens_per_month is None


def test_fine_tune_hand_worked_example() -> None:
    # Long prompt per call: 2,200 in x $0.15/M + 150 out x $0.60/M = $0.00042.
    # Fine-tuned per call: 200 in x $0.30/M + 150 out x $1.20/M = $0.00024.
    # 100k calls/month -> $18/month saved; training 500k tokens x 3 epochs x $3/M = $4.50.
    r = fine_tune_breakeven(
        calls_per_month=100_000,
        prompt_tokens_removed=2000,
        other_input_tokens=200,
        output_tokens=150,
        input_rate=0.15e-6,
        output_rate=0.6e-6,
        ft_input_rate=0.3e-6,
        ft_output_rate=1.2e-6,
        training_tokens=500_000,
        training_usd_per_token=3e-6,
    )
    assert r.long_prompt_usd_per_call == pytest.approx(0.00042)
    assert r.fine_tuned_usd_per_call == pytest.approx(0.00024)
    assert r.training_usd == pytest.approx(4.5)
    assert r.monthly_saving_usd == pytest.approx(18.0)
    assert r.payback_months == pytest.approx(0.25)
    assert r.breakeven_calls_per_month == pytest.approx(4.5 / 12 / 0.00018)
    # With 90% of the long prompt read from the cache at $0.075/M the prompt costs less:
    cached = fine_tune_breakeven(
        calls_per_month=100_000,
        prompt_tokens_removed=2000,
        other_input_tokens=200,
        output_tokens=150,
        input_rate=0.15e-6,
        output_rate=0.6e-6,
        ft_input_rate=0.3e-6,
        ft_output_rate=1.2e-6,
        training_tokens=500_000,
        training_usd_per_token=3e-6,
        cache_read_rate=0.075e-6,
        cached_share=0.9,
    )
    assert cached.long_prompt_usd_per_call == pytest.approx(
        2000 * (0.1 * 0.15e-6 + 0.9 * 0.075e-6) + 200 * 0.15e-6 + 150 * 0.6e-6
    )


# ------------------------------------------------------------ registry and CLI


def _project(tmp_path: Path) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "greeting.txt").write_text("You greet customers of Acme Bank warmly.")
    (tmp_path / "prompts" / "support.yaml").write_text(
        "name: support\nversion: v1\nmodel: claude-sonnet-4-5\nmessages:\n"
        f"  - {{role: user, content: 'Customer says: {{question}} Rules follow. {POLICY}'}}\n"
    )
    (tmp_path / "myprompts.py").write_text(
        "from langchain_core.prompts import ChatPromptTemplate\n"
        "from llm_cost_hooks.prompts import register_prompt\n"
        "faq = ChatPromptTemplate.from_messages([('system', 'Answer from the FAQ.'), ('human', '{q}')])\n"
        "register_prompt('explicit', 'Be brief. {q}', model='gpt-4o-mini', version='2')\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname='x'\n[tool.llm-cost-hooks]\nprompt_modules = ['myprompts']\n"
        "prompt_files = ['prompts/*.txt', 'prompts/*.yaml']\ndefault_model = 'gpt-4o'\n"
    )
    return tmp_path / "pyproject.toml"


def test_discovery_from_pyproject(tmp_path: Path) -> None:
    registry = PromptRegistry()
    found = discover_prompts(_project(tmp_path), registry=registry)
    keys = sorted(p.key for p in found)
    assert "greeting" in keys and "support@v1" in keys and "myprompts:faq" in keys
    assert registry.find("myprompts:faq").model == "gpt-4o"  # type: ignore[union-attr]
    assert registry.find("support@v1").parts[0].variables() == ["question"]  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="does not exist"):
        discover_prompts(modules=[], files=["nope.txt"], registry=PromptRegistry())


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_prompt_cache_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


def test_cli_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from llm_cost_hooks.ledger import open_ledger

    pyproject = _project(tmp_path)
    ledger_path = tmp_path / "ledger.jsonl"
    ledger = open_ledger(str(ledger_path))
    for r in _records("support@v1", "claude-sonnet-4-5", 1500, 5, 60) + _records(
        "support@v1", "claude-sonnet-4-5", 1500, 5, 900, cache_write_tokens=1400
    ):
        ledger.write(r)
    ledger.close()

    assert (
        _cli(
            ["prefix-report", "--ledger", str(ledger_path), "--pyproject", str(pyproject), "--format", "json"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["prefix"][0]["prompt_version"] == "support@v1" and "question" in out["prefix"][0]["flag"]
    assert out["breakpoints"][0]["loses_money"] is True

    assert _cli(["audit-prompts", "--pyproject", str(pyproject), "--ledger", str(ledger_path)]) == 0
    text = capsys.readouterr().out
    assert "Tokens per section" in text and "support@v1" in text

    assert (
        _cli(
            [
                "breakeven",
                "self-host",
                "--tokens-per-month",
                "300e6",
                "--api-cost-per-month",
                "1500",
                "--gpu-hourly",
                "2",
                "--throughput",
                "500",
                "--infra",
                "200",
                "--eng-hours",
                "10",
                "--eng-rate",
                "100",
            ]
        )
        == 0
    )
    assert "Break-even volume: 532,000,000 tokens/month" in capsys.readouterr().out

    assert (
        _cli(
            [
                "breakeven",
                "fine-tune",
                "--model",
                "gpt-4o-mini-2024-07-18",
                "--prompt-tokens",
                "2000",
                "--training-tokens",
                "500000",
                "--calls-per-month",
                "100000",
                "--other-input-tokens",
                "200",
                "--output-tokens",
                "150",
                "--format",
                "json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["training_usd"] == pytest.approx(4.5)  # published $3/M training price
    assert result["monthly_saving_usd"] == pytest.approx(18.0)


def test_content_capture_and_finetune_export(tmp_path: Path) -> None:
    from langchain_core.prompts import ChatPromptTemplate

    from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
    from llm_cost_hooks.prompt_cache import ContentCapture, export_finetune

    capture = ContentCapture(tmp_path / "content.jsonl", routes=["strong"])
    handler = CostCallbackHandler(ledger="memory://", observers=[capture])
    chain = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), ("human", "{q}")]
    ) | FakeChatModelWithUsage(model_name="gpt-4o", responses=["Call us at +44 20 7946 0958.", "Fine."])
    for q, route in (("mail me at jo@example.com", "strong"), ("hello", "cheap"), ("again", "strong")):
        chain.invoke({"q": q}, config={"callbacks": [handler], "metadata": {"route": route}})
    records = handler.records()
    lines = (tmp_path / "content.jsonl").read_text().splitlines()
    assert len(lines) == 2  # the cheap route was not captured
    failed = {records[2].task_id}
    summary = export_finetune(
        records,
        tmp_path / "content.jsonl",
        tmp_path / "ft.jsonl",
        route="strong",
        model="gpt-4o",
        failed_tasks=failed,
    )
    assert summary.written == 1 and summary.skipped_failed == 1
    example = json.loads((tmp_path / "ft.jsonl").read_text())
    assert example["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "mail me at [EMAIL]"},
        {"role": "assistant", "content": "Call us at [PHONE]."},
    ]


# --------------------------------------------------- LiteLLM's own request builders


def test_litellm_translates_our_breakpoints_for_anthropic_and_bedrock(litellm_module: object) -> None:
    from litellm.llms.anthropic.chat.transformation import AnthropicConfig
    from litellm.llms.bedrock.chat.converse_transformation import AmazonConverseConfig

    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look up an order. " * 300,
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    messages, out_tools, report = add_cache_breakpoints(request(), tools, "anthropic/claude-sonnet-4-5")
    assert [b.segment for b in report.breakpoints] == ["tools", "system", "history"]
    cfg = AnthropicConfig()
    params = cfg.map_openai_params(
        {"tools": out_tools, "max_tokens": 100}, {}, "claude-sonnet-4-5", drop_params=False
    )
    body = cfg.transform_request("claude-sonnet-4-5", messages, params, {}, {})
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][-2]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in json.dumps(body["messages"][-1])
    assert json.dumps(body).count('"cache_control"') == 3

    model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    messages, _, report = add_cache_breakpoints(request(), None, "bedrock/" + model)
    converse = AmazonConverseConfig()._transform_request(
        model=model, messages=messages, optional_params={}, litellm_params={}, headers={}
    )
    assert json.dumps(converse).count("cachePoint") == len(report.breakpoints) == 2
    assert converse["system"][-1] == {"cachePoint": {"type": "default"}}
