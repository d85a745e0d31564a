"""Configuration from outside: every setting documented with its real default, bad values
raise a typed error naming the variable, typos are reported, and precedence holds."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.prompts import ChatPromptTemplate

import llm_cost_hooks._settings as settings_module
from llm_cost_hooks import Settings, SettingsError, get_settings
from llm_cost_hooks.cli import main
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.tokens import _counter
from llm_cost_hooks.tracking import CostTracker

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch):
    import os

    for name in list(os.environ):
        if name.upper().startswith("LLM_COST_HOOKS_") and name != "LLM_COST_HOOKS_CACHE_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setattr(settings_module, "_warned", set(), raising=False)
    get_settings(reload=True)
    yield
    settings_module._settings = None  # read again, from the restored environment


def _documented_settings() -> dict[str, str]:
    """The settings table of docs/configuration.md: NAME -> default cell."""
    rows: dict[str, str] = {}
    lines = DOCS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| setting | default"))
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        match = re.match(r"\|\s*`([A-Z_]+)`\s*\|\s*(.*?)\s*\|", line)
        assert match, line
        rows[match.group(1)] = match.group(2)
    return rows


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    documented = set(_documented_settings())
    fields = {name.upper() for name in Settings.model_fields}
    assert documented == fields


def test_documented_defaults_are_the_real_ones() -> None:
    documented = _documented_settings()
    for name, field in Settings.model_fields.items():
        cell = documented[name.upper()]
        default = field.default
        if default is None:
            # A computed default (bundled file, package folder, ...) is described in words.
            assert not re.fullmatch(r"`[^`]*`", cell), f"{name}: documented {cell}, real default None"
            continue
        literal = cell[1:-1] if re.fullmatch(r"`[^`]*`", cell) else cell
        if isinstance(default, bool):
            assert literal == str(default).lower(), name
        elif isinstance(default, float):
            assert float(literal) == default, name
        elif default == "":
            assert literal == "empty", name
        else:
            assert literal == default, name


def test_misspelled_variable_is_warned_about_once_with_the_right_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_LEDGR", "memory://")
    # Read elsewhere (budgets, the LiteLLM proxy callback): no warning.
    monkeypatch.setenv("LLM_COST_HOOKS_SPEND_JOURNAL", "/tmp/journal")
    monkeypatch.setenv("LLM_COST_HOOKS_PROXY_DEDUP_TTL", "30")
    with caplog.at_level(logging.WARNING, logger="llm_cost_hooks"):
        get_settings(reload=True)
        get_settings(reload=True)
    warnings = [r.getMessage() for r in caplog.records if "LLM_COST_HOOKS_" in r.getMessage()]
    assert len(warnings) == 1
    assert "LLM_COST_HOOKS_LEDGR" in warnings[0] and "LLM_COST_HOOKS_LEDGER" in warnings[0]


def test_empty_ledger_variable_is_a_settings_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: accepted, then the handler failed opening a SQLite file named '.'.
    monkeypatch.setenv("LLM_COST_HOOKS_LEDGER", "  ")
    with pytest.raises(SettingsError) as info:
        get_settings(reload=True)
    assert info.value.variable == "LLM_COST_HOOKS_LEDGER"
    assert "memory://" in str(info.value)


def test_prices_of_a_settings_argument_are_used(tmp_path: Path) -> None:
    overrides = tmp_path / "prices.yaml"
    overrides.write_text("gpt-4o-mini:\n  input_per_million: 1000\n  output_per_million: 1000\n")
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
    tracker = CostTracker(ledger="memory://", settings=Settings(price_overrides=str(overrides)))
    handler = CostCallbackHandler(tracker=tracker)
    llm.invoke("hello", config={"callbacks": [handler]})
    handler.flush()
    (record,) = list(handler.ledger.records())
    tokens = record.input_tokens + record.output_tokens
    assert record.cost_usd == pytest.approx(tokens * 1000 / 1e6)


def test_keyword_beats_env_for_settings_and_the_handler(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_LEDGER", f"jsonl:///{tmp_path}/env.jsonl")
    assert Settings(ledger="memory://").ledger == "memory://"
    assert get_settings(reload=True).ledger.endswith("env.jsonl")
    handler = CostCallbackHandler(ledger="memory://")
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
    llm.invoke("hello", config={"callbacks": [handler]})
    handler.flush()
    assert len(list(handler.ledger.records())) == 1
    assert not (tmp_path / "env.jsonl").exists()


def test_bad_tokenizer_source_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_TOKENIZER_SOURCE", "tiktokn")
    monkeypatch.setattr(_counter, "_default_counter", None)
    with pytest.raises(SettingsError) as info:
        _counter.count_tokens("hello", "gpt-4o")
    assert info.value.variable == "LLM_COST_HOOKS_TOKENIZER_SOURCE"
    assert "'bundled'" in str(info.value)


def test_missing_tokenizer_dir_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLM_COST_HOOKS_TOKENIZER_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(_counter.TokenizerUnavailableError, match="LLM_COST_HOOKS_TOKENIZER_DIR"):
        _counter.TokenCounter().count_text("hello", "gpt-4o")


def test_report_failure_policy_comes_from_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    # A task whose first model call fails and whose fallback answers: failed under
    # any_error (the default), successful under root_error.
    db = tmp_path / "costs.db"
    failing = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["x"], errors=[RuntimeError("down")])
    backup = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
    handler = CostCallbackHandler(ledger=f"sqlite:///{db}")
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | failing.with_fallbacks([backup])
    chain.invoke({"q": "hello"}, config={"callbacks": [handler]})
    handler.flush()

    def successful_tasks() -> int:
        capsys.readouterr()
        assert main(["report", str(db), "--show", "tasks", "--format", "json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)["tasks"]
        return int(row["successful_tasks"])

    assert successful_tasks() == 0
    monkeypatch.setenv("LLM_COST_HOOKS_TASK_FAILURE_POLICY", "root_error")
    get_settings(reload=True)
    assert successful_tasks() == 1


def test_import_never_fails_on_bad_values(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_COST_HOOKS_")}
    env.update(
        LLM_COST_HOOKS_EXIT_TIMEOUT="abc",
        LLM_COST_HOOKS_LEDGER="",
        LLM_COST_HOOKS_CAPTURE_CONTENT="maybe",
        LLM_COST_HOOKS_TOKENIZER_SOURCE="nope",
        LLM_COST_HOOKS_PRICE_OVERRIDES=str(tmp_path / "missing.yaml"),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    code = "import llm_cost_hooks, llm_cost_hooks.langchain, llm_cost_hooks.pricing, llm_cost_hooks.tokens"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('prompt_module = ["app.prompts"]', "did you mean 'prompt_modules'"),
        ('prompt_files = "prompts/*.txt"', "must be a list of strings"),
        ("default_model = [", "not valid TOML"),
    ],
)
def test_bad_pyproject_table_is_a_configuration_error(tmp_path: Path, table: str, expected: str) -> None:
    from llm_cost_hooks import ConfigurationError
    from llm_cost_hooks.prompts._registry import load_project_config

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.llm-cost-hooks]\n{table}\n")
    with pytest.raises(ConfigurationError, match=re.escape(expected)):
        load_project_config(pyproject)


def test_good_pyproject_table_loads(tmp_path: Path) -> None:
    from llm_cost_hooks.prompts._registry import load_project_config

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.llm-cost-hooks]\nprompt_files = ["p/*.txt"]\ndefault_model = "gpt-4o"\n')
    config = load_project_config(pyproject)
    assert config["prompt_files"] == ["p/*.txt"] and config["default_model"] == "gpt-4o"
