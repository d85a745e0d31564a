"""GuardedChatModel's reserve counts what the prompt carries besides text: images (OpenAI's
tile recipe, the size read from inline data) and tool schemas."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from llm_cost_hooks import BudgetExceeded
from llm_cost_hooks.budget import Limit, SpendGuard
from llm_cost_hooks.langchain import FakeChatModelWithUsage, GuardedChatModel
from llm_cost_hooks.tokens import count_message_tokens


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk).decode()


def _image(url: str, detail: str | None = None) -> dict[str, Any]:
    ref = {"url": url, **({"detail": detail} if detail else {})}
    return {
        "role": "user",
        "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": ref}],
    }


TEXT = count_message_tokens([{"role": "user", "content": "What is this?"}], "gpt-4o")


@pytest.mark.parametrize(
    ("url", "detail", "image_tokens"),
    [
        (f"data:image/png;base64,{_png(1024, 1024)}", None, 765),  # OpenAI's worked examples
        (f"data:image/png;base64,{_png(2048, 4096)}", "high", 1105),
        (f"data:image/png;base64,{_png(2048, 4096)}", "low", 85),
        ("https://example.com/cat.png", None, 1445),  # size unknown: the largest high-detail image
    ],
    ids=["1024x1024", "2048x4096-high", "2048x4096-low", "url"],
)
def test_image_parts_count_as_openai_bills_them(url: str, detail: str | None, image_tokens: int) -> None:
    assert count_message_tokens([_image(url, detail)], "gpt-4o") == TEXT + image_tokens


def test_claude_images_count_as_anthropic_bills_them() -> None:
    text = count_message_tokens([{"role": "user", "content": "What is this?"}], "claude-3-5-sonnet")
    png = _image(f"data:image/png;base64,{_png(1024, 1024)}")
    assert count_message_tokens([png], "claude-3-5-sonnet") == text + 1399  # 1024 * 1024 / 750
    assert count_message_tokens([_image("https://example.com/cat.png")], "claude-3-5-sonnet") == text + 1600


def _guarded(limit_usd: float) -> tuple[GuardedChatModel, FakeChatModelWithUsage]:
    inner = FakeChatModelWithUsage(model_name="gpt-4o", max_tokens=10, responses=["A cat."])
    return GuardedChatModel(inner=inner, guard=SpendGuard([Limit.usd_per_request(limit_usd)])), inner


def test_an_image_that_does_not_fit_is_refused_before_the_call() -> None:
    # gpt-4o input is $2.50/M: a 1024x1024 image (765 tokens) alone needs $0.0019.
    guarded, inner = _guarded(0.0015)
    message = HumanMessage(content=_image(f"data:image/png;base64,{_png(1024, 1024)}")["content"])
    with pytest.raises(BudgetExceeded):
        guarded.invoke([message])
    assert inner.call_count == 0  # refused before the provider was called and billed


def test_a_low_detail_image_that_fits_is_not_refused() -> None:
    guarded, inner = _guarded(0.0015)
    message = HumanMessage(content=_image("https://example.com/cat.png", "low")["content"])
    assert guarded.invoke([message]).content == "A cat."
    assert inner.call_count == 1


class Order(BaseModel):
    """Place an order with many fields."""

    customer: str
    address: str
    item: str
    quantity: int
    notes: str


def test_tool_schemas_are_in_the_reserve() -> None:
    # "hi" plus a 10-token cap needs ~$0.00012; the schema adds ~90 tokens (~$0.00022).
    guarded, inner = _guarded(0.0002)
    assert guarded.invoke("hi").content == "A cat."
    with pytest.raises(BudgetExceeded):
        guarded.bind_tools([Order]).invoke("hi")
    assert inner.call_count == 1


def test_a_json_schema_response_format_is_in_the_reserve() -> None:
    # The schema is prompt the provider bills, like a tool's: the same limit refuses it.
    fmt = {"type": "json_schema", "json_schema": {"name": "Order", "schema": Order.model_json_schema()}}
    guarded, inner = _guarded(0.0002)
    with pytest.raises(BudgetExceeded):
        guarded.bind(response_format=fmt).invoke("hi")
    assert inner.call_count == 0
