"""Token counting: exact tiktoken counts from LiteLLM's bundled files, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_cost_hooks import ConfigurationError
from llm_cost_hooks.tokens import TokenCounter, TokenizerUnavailableError, count_message_tokens, count_tokens
from llm_cost_hooks.tokens._counter import _bundled_dir

SAMPLES = [
    "hello world",
    "The quick brown fox jumps over the lazy dog. 1234567890!",
    "  leading spaces\nand\ttabs\r\nand CRLF",
    "Ünïcödé — emoji 🚀 and 中文字符 and عربي",
    "def f(x):\n    return x ** 2  # comment\n",
    "<|endoftext|> special tokens are counted as text",
]

# OpenAI cookbook "How to count tokens with tiktoken": prompt tokens reported by the API.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base", "p50k_base"])
def test_bundled_encodings_match_tiktoken(encoding: str) -> None:
    """Our encodings tokenise exactly like tiktoken's own (fed the same files via its cache)."""
    directory = _bundled_dir()
    assert directory is not None and directory.is_dir()
    script = (
        "import json, sys, tiktoken\n"
        f"enc = tiktoken.get_encoding({encoding!r})\n"
        "print(json.dumps([enc.encode(s, disallowed_special=()) for s in json.loads(sys.argv[1])]))\n"
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(directory)}
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(SAMPLES)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = json.loads(out)
    enc = TokenCounter().get_encoding(encoding)
    assert [enc.encode(s, disallowed_special=()) for s in SAMPLES] == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_chat_message_counts_match_openai_api(model: str, expected: int) -> None:
    count = TokenCounter().count_messages(COOKBOOK_MESSAGES, model)
    assert count.tokens == expected
    assert not count.estimated


def test_model_resolution_and_flags() -> None:
    c = TokenCounter()
    assert c.count_text("hello world", "gpt-4o").encoding == "o200k_base"
    assert c.count_text("hello world", "openai/gpt-4o-mini").estimated is False
    assert c.count_text("hello world", "azure/gpt-4").encoding == "cl100k_base"
    claude = c.count_text("hello world", "claude-3-5-sonnet-20241022")
    assert claude.estimated is True and claude.tokens > 0
    assert c.count_text("hello", "anthropic/claude-sonnet-4").estimated is True


def test_does_not_touch_tiktoken_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "user-cache"))
    TokenCounter().count_text("hi", "gpt-4o")
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "user-cache")
    assert not (tmp_path / "user-cache").exists()  # nothing written there either


def test_offline_without_network_in_fresh_process() -> None:
    """A fresh interpreter counts tokens with sockets disabled and does not import litellm."""
    script = (
        "import socket, sys\n"
        "def no_net(*a, **k): raise RuntimeError('network used')\n"
        "socket.socket.connect = no_net\n"
        "socket.create_connection = no_net\n"
        "from llm_cost_hooks.tokens import count_tokens\n"
        "assert count_tokens('hello world', 'gpt-4o') == 2\n"
        "assert 'litellm' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TIKTOKEN_CACHE_DIR"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_lazy_loading_once() -> None:
    c = TokenCounter()
    assert c._encodings == {}
    c.count_text("a", "gpt-4o")
    enc = c._encodings["o200k_base"]
    c.count_text("b", "gpt-4o-mini")
    assert c._encodings["o200k_base"] is enc


def test_damaged_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "fb374d419588a4632f3f557e76b4b70aebbca790").write_bytes(b"aGVsbG8= 0\n")
    with pytest.raises(TokenizerUnavailableError, match="sha256"):
        TokenCounter(bundled_dir=tmp_path).count_text("x", "gpt-4o")


def test_bad_input_errors() -> None:
    c = TokenCounter()
    with pytest.raises(ConfigurationError, match="model must be a non-empty string"):
        c.count_text("x", "")
    with pytest.raises(ConfigurationError, match="text must be a string"):
        c.count_text(123, "gpt-4o")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="OpenAI format"):
        c.count_messages(["not a dict"], "gpt-4o")  # type: ignore[list-item]
    with pytest.raises(ConfigurationError):
        TokenCounter(source="web")  # type: ignore[arg-type]


def test_helpers_and_tools_are_flagged() -> None:
    assert count_tokens("hello world") == 2
    msgs = [{"role": "user", "content": "What's the weather in Paris?"}]
    plain = TokenCounter().count_messages(msgs, "gpt-4o")
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    with_tools = TokenCounter().count_messages(msgs, "gpt-4o", tools=tools)
    assert with_tools.tokens > plain.tokens and with_tools.estimated and not plain.estimated
    assert count_message_tokens(msgs, "gpt-4o") == plain.tokens
    image = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x"}}],
        }
    ]
    assert TokenCounter().count_messages(image, "gpt-4o").estimated
