"""The proxy as docs/litellm.md runs it after ``pip install``: the page's ``config.yaml``,
alone in an empty directory, names the package's callback; the page's ``export`` lines and
``litellm --config`` command start the real proxy, and one request lands in the ledger."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from _servers import ServerStartError, free_port, start_process
from test_litellm_proxy import PROXY_START_TIMEOUT, http_ready, post, wait_record

from llm_cost_hooks import PriceBook, TokenUsage

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "litellm.md"
CALLBACK = "llm_cost_hooks.litellm.proxy.proxy_handler_instance"


def _page_config() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), flags=re.S)
    [config] = [b for b in blocks if "model_list:" in b and CALLBACK in b]
    return config


def _page_run() -> tuple[dict[str, str], list[str]]:
    """The ``export`` assignments and the ``litellm --config`` arguments of the page's run block."""
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(), flags=re.S)
    [block] = [b for b in blocks if re.search(r"^litellm --config config\.yaml", b, flags=re.M)]
    exported = dict(
        re.findall(r"\b([A-Z][A-Z0-9_]+)=(\S+)", "\n".join(re.findall(r"^export (.*)$", block, re.M)))
    )
    [command] = re.findall(r"^litellm (--config .*)$", block, flags=re.M)
    return exported, command.split()


def test_the_page_config_names_an_importable_callback() -> None:
    config = yaml.safe_load(_page_config())
    assert config["litellm_settings"]["callbacks"] == CALLBACK
    assert list(config) == ["model_list", "litellm_settings"]  # nothing else the proxy would need


@pytest.fixture(scope="module")
def installed_proxy(tmp_path_factory: pytest.TempPathFactory, openai_stub_server: Any) -> Any:
    litellm_cli = Path(sys.executable).with_name("litellm")
    if not litellm_cli.exists():
        pytest.fail("the `litellm` CLI is missing: pip install 'litellm[proxy]'", pytrace=False)
    workdir = tmp_path_factory.mktemp("proxy-from-install")
    (workdir / "config.yaml").write_text(_page_config())
    assert [p.name for p in workdir.iterdir()] == ["config.yaml"]
    exported, args = _page_run()
    assert args[:2] == ["--config", "config.yaml"]
    key = "sk-" + secrets.token_hex(32)
    port = free_port()
    env = {
        # As exported on the page; the page's placeholders get test values.
        **{name: value for name, value in exported.items() if "..." not in value and "$(" not in value},
        "LITELLM_MASTER_KEY": key,
        "OPENAI_API_KEY": "sk-upstream-test",
        "OPENAI_API_BASE": openai_stub_server.base,
        # Stands in for `pip install`: the package under test, imported by module path.
        "PYTHONPATH": str(ROOT),
    }
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    ledger_url = env["LLM_COST_HOOKS_LEDGER"]
    assert ledger_url.startswith("sqlite:///") and not ledger_url.startswith(
        "sqlite:////"
    )  # relative: in workdir
    cmd = [str(litellm_cli), *args[:2], "--host", "127.0.0.1", "--port", str(port)]
    proc = None
    error = ""
    try:
        proc = start_process(cmd, http_ready(port), env=env, timeout=PROXY_START_TIMEOUT, cwd=str(workdir))
    except ServerStartError as exc:
        error = str(exc)
    if error or proc is None:
        pytest.fail(f"the proxy does not start from the page's config: {error}", pytrace=False)
    try:
        yield {"port": port, "key": key, "ledger": workdir / ledger_url.removeprefix("sqlite:///")}
    finally:
        proc.stop()


def test_a_request_through_the_proxy_is_recorded_with_tenant_model_and_cost(installed_proxy: Any) -> None:
    content = "z" * 200  # the stub counts 200 // 4 + 7 = 57 prompt tokens
    body = post(
        installed_proxy,
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": 9,
            "metadata": {"tenant_id": "acme", "feature": "faq", "task_id": "installed-1"},
        },
    )
    assert (body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]) == (57, 9)
    [rec] = wait_record(installed_proxy["ledger"], lambda r: r.task_id == "installed-1")
    assert (rec.tenant, rec.feature, rec.model, rec.success) == ("acme", "faq", "gpt-4o-mini", True)
    assert (rec.input_tokens, rec.output_tokens) == (57, 9)
    expected = PriceBook.default().cost(TokenUsage(input_tokens=57, output_tokens=9), "gpt-4o-mini").total
    assert expected > 0
    assert rec.cost_usd == pytest.approx(expected)


def test_every_setting_the_callback_reads_is_in_the_page_table() -> None:
    source = (ROOT / "llm_cost_hooks" / "litellm" / "proxy.py").read_text()
    read = set(re.findall(r'_(?:env|switch)\("(LLM_COST_HOOKS_PROXY_[A-Z_]+)"', source))
    rows = set(re.findall(r"^\| `(LLM_COST_HOOKS_PROXY_[A-Z_]+)` \|", PAGE.read_text(), flags=re.M))
    assert len(read) >= 10
    assert read == rows


# The page's `environment_variables:` example, applied as the proxy applies it: after the
# module is imported, before LiteLLM asks for the callback.
_ENV_BLOCK = """
import os, sys, yaml
import llm_cost_hooks.litellm.proxy as proxy
os.environ.update({k: str(v) for k, v in yaml.safe_load(sys.stdin.read())["environment_variables"].items()})
handler = proxy.proxy_handler_instance
assert proxy.proxy_handler_instance is handler  # one callback per process
print(handler.guard is not None, handler.dedup is not None, handler.breaker is None)
"""


def test_the_page_environment_variables_example_configures_the_callback(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), flags=re.S)
    [example] = [b for b in blocks if b.startswith("environment_variables:")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_COST_HOOKS_")}
    env.update(LLM_COST_HOOKS_LEDGER="memory://", PYTHONPATH=str(ROOT), LITELLM_LOCAL_MODEL_COST_MAP="True")
    done = subprocess.run(
        [sys.executable, "-c", _ENV_BLOCK],
        input=example,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "True"]
