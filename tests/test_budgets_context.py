"""Context budgets: trimming real MultiWOZ dialogues, tool pairs, retrieval, LangChain step."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import SEGMENTS, ContextBudget, SegmentBudgets, fact_clauses, segment_of
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.langchain._budget import GuardedChatModel
from llm_cost_hooks.langchain._context import ContextBudgetRunnable, trim_messages
from llm_cost_hooks.tokens import default_counter

MODEL = "gpt-4o-mini"
REPO = Path(__file__).resolve().parents[1]
from _shared_data import SHARED_DATA as DATA  # noqa: E402
from _shared_data import need_shared  # noqa: E402

MULTIWOZ = DATA / "conversations" / "multiwoz21_val" / "val.json.zip"
SYSTEM = "You are a helpful travel desk assistant for Cambridge. Answer briefly and book only when asked."


def _load_multiwoz() -> dict[str, Any]:
    need_shared("conversations", "multiwoz21_val", "val.json.zip")
    with zipfile.ZipFile(MULTIWOZ) as zf:
        return json.load(zf.open("val.json"))


@pytest.fixture(scope="module")
def dialogues() -> list[tuple[str, list[dict[str, Any]]]]:
    data = _load_multiwoz()
    return sorted(data.items())[:150]


def _tool_pair(dialog_id: str, turn: int, acts: dict[str, Any]) -> list[dict[str, Any]]:
    """Synthesise a tool call and its result from a turn's dialogue acts (MultiWOZ has
    no tool calls; the slots make a plausible database lookup)."""
    call_id = f"call_{dialog_id}_{turn}"
    slots = {slot: value for act in acts.values() for slot, value in act}
    domain = next(iter(acts), "General-none").split("-")[0].lower()
    rows = [
        {"name": f"{domain} option {i}", **slots, "price": f"{10 + i} GBP", "phone": f"01223 {300000 + i}"}
        for i in range(8)
    ]
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": f"search_{domain}", "arguments": json.dumps(slots)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps(rows)},
    ]


def _conversation(
    dialog_id: str, log: list[dict[str, Any]], upto: int, with_tools: bool
) -> list[dict[str, Any]]:
    """System prompt + turns 0..upto (upto is a user turn: even index), with tool pairs
    inserted after every other user turn when ``with_tools``."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for i, turn in enumerate(log[: upto + 1]):
        role = "user" if i % 2 == 0 else "assistant"
        if role == "assistant" and with_tools and (i // 2) % 2 == 0 and turn.get("dialog_act"):
            messages += _tool_pair(dialog_id, i, turn["dialog_act"])
        messages.append({"role": role, "content": turn["text"]})
    return messages


def _segment_tokens(messages: list[dict[str, Any]]) -> dict[str, int]:
    counter = default_counter()
    totals = dict.fromkeys(SEGMENTS, 0)
    seen_system = False
    for m in messages:
        seg = segment_of(m, first_system=not seen_system)
        seen_system = seen_system or m["role"] == "system"
        totals[seg] += counter.count_messages([m], MODEL).tokens - 3
    return totals


def _check_pairs(messages: list[dict[str, Any]]) -> None:
    """Every tool call is answered right after it, and every result has its call."""
    for i, m in enumerate(messages):
        if m.get("tool_calls"):
            ids = [c["id"] for c in m["tool_calls"]]
            following = [x.get("tool_call_id") for x in messages[i + 1 : i + 1 + len(ids)]]
            assert following == ids, f"tool call {ids} separated from its result"
        if m["role"] == "tool":
            calls = [c["id"] for x in messages[:i] for c in (x.get("tool_calls") or [])]
            assert m["tool_call_id"] in calls, "tool result without its call"


BUDGETS = SegmentBudgets(system=100, policy=50, history=160, retrieved=200, tools=120, output=120)


@pytest.mark.parametrize("with_tools", [False, True])
def test_multiwoz_trimming_fits_budgets_keeps_system_and_last_user(dialogues, with_tools: bool) -> None:
    budget = ContextBudget(BUDGETS, model=MODEL)
    counter = default_counter()
    checked = trimmed = kept_pairs = 0
    for dialog_id, dialog in dialogues:
        log = dialog["log"]
        for upto in range(0, len(log), 4):  # replay at every other user turn
            messages = _conversation(dialog_id, log, upto, with_tools)
            result = budget.apply(messages, max_tokens=1000)
            out = result.messages
            sizes = _segment_tokens(out)
            for seg in SEGMENTS:
                limit = BUDGETS.of(seg)
                assert limit is None or sizes[seg] <= limit, (dialog_id, upto, seg, sizes[seg], limit)
            assert sizes == result.after
            # The same tokenizer counts the whole request to the same size.
            assert counter.count_messages(out, MODEL).tokens == result.prompt_tokens
            assert out[0] == messages[0]  # system message intact and first
            assert out[-1] == messages[-1] and out[-1]["role"] == "user"  # last user turn kept
            _check_pairs(out)
            assert result.max_tokens == 120
            removed = sum(result.removed.values())
            assert removed == sum(result.before.values()) - sum(result.after.values())
            trimmed += bool(result.removed)
            kept_pairs += any(m["role"] == "tool" for m in out)
            checked += 1
    assert checked > 400
    assert trimmed > 50  # the budgets really bite on these dialogues
    assert (kept_pairs > 50) if with_tools else kept_pairs == 0


def test_tool_results_cut_with_marker_and_newest_first(dialogues) -> None:
    dialog_id, dialog = dialogues[3]
    log = dialog["log"]
    messages = _conversation(dialog_id, log, 4, with_tools=True)
    tools_before = [m for m in messages if m["role"] == "tool"]
    assert tools_before, "the synthesised dialogue has tool results"
    budget = ContextBudget(SegmentBudgets(tools=60, history=2000), model=MODEL)
    result = budget.apply(messages)
    kept_tools = [m for m in result.messages if m["role"] == "tool"]
    assert len(kept_tools) == len(tools_before)  # cut, not dropped: history had room
    assert all("[... truncated" in m["content"] for m in kept_tools)
    assert result.after["tools"] <= 60 and result.removed["tools"] > 0
    assert result.tags()["budget.trimmed.tools"] == str(result.removed["tools"])


def test_agent_loop_last_turn_keeps_newest_tool_pair() -> None:
    """An in-progress agent turn bigger than the history budget: older pairs of the last
    turn go first, the user message and the newest call+result stay together."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Agent."},
        {"role": "user", "content": "Find me a cheap hotel in the north."},
    ]
    for i in range(4):
        messages.append(
            {
                "role": "assistant",
                "content": f"step {i} " * 10,
                "tool_calls": [
                    {"id": f"c{i}", "type": "function", "function": {"name": "search", "arguments": "{}"}}
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": f"result {i}"})
    result = ContextBudget(SegmentBudgets(history=120, tools=100), model=MODEL).apply(messages)
    out = result.messages
    assert out[1]["content"] == "Find me a cheap hotel in the north."
    assert out[-1] == messages[-1] and out[-2] == messages[-2]
    assert len(out) < len(messages)  # older pairs of the turn were dropped
    _check_pairs(out)
    assert result.after["history"] <= 120
    # Even the newest step alone is too big: its text is cut, the user message stays.
    messages[-2] = dict(messages[-2], content="a very long plan " * 60)
    result = ContextBudget(SegmentBudgets(history=120, tools=100), model=MODEL).apply(messages)
    out = result.messages
    assert out[1]["content"] == "Find me a cheap hotel in the north."
    assert out[-2]["tool_calls"] == messages[-2]["tool_calls"] and "[... truncated" in out[-2]["content"]
    _check_pairs(out)
    assert result.after["history"] <= 120


def test_retrieved_documents_best_first_by_score() -> None:
    docs = [
        {
            "role": "system",
            "content": f"Document {i}: " + "facts " * 40,
            "segment": "retrieved",
            "score": score,
        }
        for i, score in enumerate([0.2, 0.9, 0.5, 0.7])
    ]
    messages = [
        {"role": "system", "content": "Use the documents."},
        *docs,
        {"role": "user", "content": "question"},
    ]
    budget = ContextBudget(SegmentBudgets(retrieved=100), model=MODEL)
    one = budget.count_message({"role": "system", "content": docs[0]["content"]})
    result = budget.apply(messages)
    kept = [m["content"].split(":")[0] for m in result.messages if m["content"].startswith("Document")]
    assert kept == ["Document 1", "Document 3"][: 100 // one]  # best scores, original order
    assert all("segment" not in m and "score" not in m for m in result.messages)


def test_system_over_budget_raises_with_segment_name() -> None:
    budget = ContextBudget(SegmentBudgets(system=5), model=MODEL)
    with pytest.raises(BudgetExceeded, match="context.system"):
        budget.apply(
            [{"role": "system", "content": "a long system prompt " * 10}, {"role": "user", "content": "x"}]
        )
    truncating = ContextBudget(SegmentBudgets(policy=20), model=MODEL, oversize="truncate")
    out = truncating.apply(
        [
            {"role": "system", "content": "persona"},
            {"role": "developer", "content": "rule " * 80},
            {"role": "user", "content": "x"},
        ]
    )
    assert out.after["policy"] <= 20 and out.messages[0]["content"] == "persona"


def test_routes_and_litellm_request() -> None:
    budget = ContextBudget({"chat": {"output": 50}, "default": {"output": 500}}, model=MODEL)
    request = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4000}
    new, result = budget.apply_request(request, route="chat")
    assert new["max_tokens"] == 50 and request["max_tokens"] == 4000
    assert budget.apply_request(request)[0]["max_tokens"] == 500
    assert result.tags()["budget.output.clamped_from"] == "4000"


def test_langchain_step_trims_and_tags_the_record(dialogues) -> None:
    dialog_id, dialog = dialogues[0]
    history = []
    for i, turn in enumerate(dialog["log"][:9]):
        history.append(HumanMessage(turn["text"]) if i % 2 == 0 else AIMessage(turn["text"]))
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), MessagesPlaceholder("history")])
    step = ContextBudgetRunnable(budget=ContextBudget(SegmentBudgets(history=60), model=MODEL))
    model = FakeChatModelWithUsage(responses=["Sure."])
    handler = CostCallbackHandler(ledger="memory://")
    chain = prompt | step | model
    chain.invoke({"history": history}, config={"callbacks": [handler]})
    (record,) = handler.records()
    assert int(record.tags["budget.trimmed.history"]) > 0
    # What the model was billed for is the trimmed prompt.
    trimmed, result = trim_messages(step.budget, prompt.invoke({"history": history}).to_messages())
    assert record.input_tokens == result.prompt_tokens
    assert trimmed[-1].content == history[-1].content


def test_budget_pipe_model_clamps_output_and_keeps_tool_pairs() -> None:
    budget = ContextBudget(SegmentBudgets(history=60, tools=30, output=64), model=MODEL)
    model = FakeChatModelWithUsage(responses=["Done."])
    guarded = ContextBudgetRunnable(budget=budget) | model
    assert isinstance(guarded, GuardedChatModel)
    handler = CostCallbackHandler(ledger="memory://")
    messages = [
        SystemMessage(SYSTEM),
        HumanMessage("old question " * 20),
        AIMessage("old answer " * 20),
        HumanMessage("book it"),
        AIMessage("", tool_calls=[{"id": "t1", "name": "book", "args": {"n": 1}}]),
        ToolMessage("booking reference ABC123 " * 30, tool_call_id="t1"),
    ]
    guarded.invoke(messages, config={"callbacks": [handler]})
    (record,) = handler.records()
    assert int(record.tags["budget.trimmed.history"]) > 0
    assert int(record.tags["budget.trimmed.tools"]) > 0
    sent, result = trim_messages(budget, messages, max_tokens=None)
    assert [type(m).__name__ for m in sent] == ["SystemMessage", "HumanMessage", "AIMessage", "ToolMessage"]
    assert result.max_tokens == 64


# -- facts of dropped turns, on generic chats (not MultiWOZ) -------------------------------

SUPPORT = [
    ("user", "Hi, my order #A-7731 arrived with a cracked screen. I paid $249.99 with my Visa ending 4421."),
    (
        "assistant",
        "I'm sorry to hear that! I can help with a replacement or a refund. Which would you prefer?",
    ),
    ("user", "A refund please, not store credit. I also need it before March 3 because I'm travelling."),
    (
        "assistant",
        "Understood. I'll start the refund to the original payment method. Anything else I can do?",
    ),
    ("user", "Can you send the return label to jane.doe@example.com instead of my old address?"),
    ("assistant", "Of course, the return label will go to that address within the next hour or so."),
    ("user", "How long will the refund take once you receive the phone?"),
]
TRAVEL = [
    ("user", "I want to fly from Lisbon to Tokyo on 14 June, economy, for 2 adults and 1 child."),
    ("assistant", "Great choice! There are several options. Do you have a preferred airline or time of day?"),
    ("user", "No red-eye flights, and we'd prefer a stopover under 3 hours, ideally in Istanbul."),
    ("assistant", "Noted. I found a few itineraries that match. Would you like the cheapest or the fastest?"),
    ("user", "The cheapest one, but our budget is 2,400 euros in total."),
    ("assistant", "The cheapest itinerary is 2,310 euros for all three of you. Shall I hold it?"),
    ("user", "Yes, and add a window seat for the child."),
]
SHOPPING = [
    ("user", "I'm looking for running shoes, size 42, for trail running."),
    ("assistant", "We have several trail models in size 42. Do you have a brand or color preference?"),
    ("user", "Salomon or Hoka, in blue or black, nothing white."),
    ("assistant", "Got it. There are four pairs that fit. What is your budget for these?"),
    ("user", "Under 150 dollars, and I need them delivered to Berlin by Friday."),
    ("assistant", "Three of them ship to Berlin by Friday. Would you like me to compare their grip?"),
    ("user", "Which one has the best grip on wet rocks?"),
]


def _chat(turns: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You are a helpful assistant."}] + [
        {"role": role, "content": text} for role, text in turns
    ]


@pytest.mark.parametrize(
    ("turns", "facts"),
    [
        (
            SUPPORT,
            [
                "A-7731",
                "$249.99",
                "Visa",
                "4421",
                "refund",
                "not store credit",
                "March 3",
                "jane.doe@example.com",
            ],
        ),
        (
            TRAVEL,
            [
                "Lisbon",
                "Tokyo",
                "14 June",
                "economy",
                "2 adults",
                "1 child",
                "not red-eye",
                "under 3 hours",
                "Istanbul",
                "cheapest",
                "2,400 euros",
            ],
        ),
        (
            SHOPPING,
            [
                "running shoes",
                "size 42",
                "trail",
                "Salomon",
                "Hoka",
                "blue or black",
                "not white",
                "Under 150 dollars",
                "Berlin by Friday",
            ],
        ),
    ],
    ids=["support", "travel", "shopping"],
)
def test_dropped_turns_leave_their_facts_in_one_compact_message(turns, facts) -> None:
    messages = _chat(turns)
    budget = ContextBudget(SegmentBudgets(history=110), model=MODEL)
    plain = ContextBudget(SegmentBudgets(history=110), model=MODEL, keep_facts=False).apply(messages)
    result = budget.apply(messages)
    assert result.after["history"] <= 110 and _segment_tokens(result.messages) == result.after
    assert result.messages[0] == messages[0] and result.messages[-1] == messages[-1]
    assert result.dropped_messages >= max(plain.dropped_messages, 4)
    ((position, added),) = result.inserted.items()
    assert result.messages[position] is added and added["role"] == "user"
    assert added["content"].startswith("Earlier in this conversation I said: ")
    text = "\n".join(m["content"] for m in result.messages)
    plain_text = "\n".join(m["content"] for m in plain.messages)
    missing = [f for f in facts if f.lower() not in text.lower()]
    assert missing == []
    assert any(f.lower() not in plain_text.lower() for f in facts)  # dropping alone loses some
    report = result.report()["history"]
    assert (
        report["facts_kept"] == len(result.facts_kept) > 0
        and report["messages_dropped"] == result.dropped_messages
    )
    tags = result.tags()
    assert tags["budget.history.facts_kept"] == str(len(result.facts_kept))
    assert not any(f.lower() in " ".join(tags.values()).lower() for f in facts)  # counts only, no prompt text


def test_facts_line_shrinks_to_values_when_room_is_short() -> None:
    messages = _chat(TRAVEL)
    result = ContextBudget(SegmentBudgets(history=70), model=MODEL).apply(messages)
    assert result.after["history"] <= 70 and result.messages[-1] == messages[-1]
    assert result.facts_dropped and result.facts_kept, "the budget holds some clauses, not all"
    strong = {f.text: f.strong for role, text in TRAVEL if role == "user" for f in fact_clauses(text)}
    # Clauses without a value leave first: none is kept while one with a value is dropped.
    assert not (
        any(strong[c] for c in result.facts_dropped) and not all(strong[c] for c in result.facts_kept)
    )
    assert "2,400 euros" in " ".join(result.facts_kept)
    added = next(iter(result.inserted.values()))["content"]
    assert all(c in added for c in result.facts_kept)


def test_facts_reach_the_model_through_the_langchain_step() -> None:
    history = [SystemMessage("You are a helpful assistant.")] + [
        (HumanMessage if role == "user" else AIMessage)(text) for role, text in SHOPPING
    ]
    sent, result = trim_messages(ContextBudget(SegmentBudgets(history=110), model=MODEL), history)
    assert len(sent) == len(result.messages)
    assert [m.content for m in sent] == [m["content"] for m in result.messages]
    ((position, _),) = result.inserted.items()
    assert isinstance(sent[position], HumanMessage) and "Salomon" in sent[position].content


def test_last_user_turn_alone_over_budget_keeps_head_and_tail() -> None:
    long_question = (
        "My flight AB123 from Oslo was cancelled. "
        + "Some details about my trip. " * 60
        + "Can I get a refund of 420 euros to my card?"
    )
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": long_question},
    ]
    budget = ContextBudget(SegmentBudgets(history=60), model=MODEL)
    result = budget.apply(messages)
    assert result.after["history"] <= 60 and _segment_tokens(result.messages) == result.after
    last = result.messages[-1]["content"]
    assert last.startswith("My flight AB123") and last.endswith("420 euros to my card?")
    assert "truncated" in last and result.last_user_cut > 0
    assert result.tags()["budget.history.last_user_cut"] == str(result.last_user_cut)
    with pytest.raises(BudgetExceeded, match="context.history"):
        ContextBudget(SegmentBudgets(history=60), model=MODEL, strict=True).apply(messages)
    # Too small for even the marker: a clear error, never a request over budget.
    with pytest.raises(BudgetExceeded, match="context.history"):
        ContextBudget(SegmentBudgets(history=8), model=MODEL).apply(messages)
