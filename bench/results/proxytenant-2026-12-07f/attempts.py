"""Who pays behind the LiteLLM proxy: a table of attempts and whose spend moved.

Run with the python of a venv holding the wheel (``llm_cost_hooks[litellm-proxy]``), from
an empty directory::

    VENV/bin/python attempts.py WORKTREE [LABEL] [--require | --cache]

Starts ``VENV/bin/litellm --config config.yaml`` (the shipped config and callback module,
plus a mock model and a ``custom_auth`` giving four virtual keys: two bound to tenants by
their metadata, one by its team's metadata, one unbound), a spend limit of $0.00001 per
tenant per day (one request of max_tokens=10 fits, a second does not), sends each
attempt, and reads the ledger after each: the records added, by tenant. ``--cache``:
LiteLLM's own response cache on, no limit, and the attempts of ``CACHE_ATTEMPTS`` (one prompt): which
requests are answered from which tenant's entries (needs OPENAI_API_BASE: an
OpenAI-compatible upstream, e.g. ``python tests/openai_stub_server.py 18950`` and
``OPENAI_API_BASE=http://127.0.0.1:18950/v1``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from llm_cost_hooks.ledger import open_ledger

AUTH = """
from litellm.proxy._types import UserAPIKeyAuth

KEYS = {
    "sk-acme": {"metadata": {"tenant_id": "acme"}},
    "sk-globex": {"metadata": {"tenant_id": "globex"}},
    "sk-initech-team": {"team_id": "team-initech", "team_metadata": {"tenant_id": "initech"}},
    "sk-unbound": {},
}


async def user_api_key_auth(request, api_key):
    if api_key not in KEYS:
        raise Exception("unknown key")
    return UserAPIKeyAuth(api_key=api_key, key_alias=api_key, **KEYS[api_key])
"""

ATTEMPTS = [  # (key, request metadata)
    ("sk-acme", {"tenant_id": "globex"}),
    ("sk-acme", {"tenant_id": "fresh-tenant"}),
    ("sk-acme", {}),
    ("sk-acme", {"tenant_id": "acme"}),
    ("sk-globex", {}),
    ("sk-initech-team", {"cache_tenant": "globex"}),
    ("sk-initech-team", {}),
    ("sk-unbound", {"tenant_id": "hooli"}),
    ("sk-unbound", {"tenant_id": "globex"}),
]

CACHE_ATTEMPTS = [
    ("sk-acme", {"tenant_id": "acme"}),  # a miss: stored in acme's partition (for this key)
    ("sk-acme", {"tenant_id": "acme"}),  # the same request again: the control
    ("sk-acme", {}),  # the same tenant: a hit
    ("sk-globex", {}),  # another tenant: a miss
    ("sk-unbound", {"tenant_id": "acme"}),  # another key naming acme: a miss
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spend(ledger: Path) -> dict[str, tuple[int, float]]:
    if not ledger.exists():
        return {}
    led = open_ledger(f"sqlite:///{ledger}")
    try:
        out: dict[str, tuple[int, float]] = {}
        for r in led.records():
            name = str(r.tenant) if not CACHE else f"{r.tenant} ({r.cache_status.value})"
            n, usd = out.get(name, (0, 0.0))
            out[name] = (n + 1, usd + r.cost_usd)
        return out
    finally:
        led.close()


def ask(port: int, key: str, metadata: dict[str, str]) -> tuple[int, str]:
    # LiteLLM caches no mock_response answer: the cache run asks the shipped gpt-4o-mini
    # model, sent to OPENAI_API_BASE (e.g. tests/openai_stub_server.py).
    payload = {
        "model": "gpt-4o-mini" if CACHE else "mock-mini",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    payload["metadata"] = metadata
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, "ok"
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
        return exc.code, str((body.get("error") or {}).get("type"))


CACHE = "--cache" in sys.argv


def main() -> None:
    worktree = Path(sys.argv[1]).resolve()
    label = sys.argv[2] if len(sys.argv) > 2 else "run"
    require = "--require" in sys.argv
    work = Path.cwd() / label
    work.mkdir()
    integration = worktree / "integrations" / "litellm-proxy"
    config = yaml.safe_load((integration / "config.yaml").read_text())
    config["model_list"].append(
        {
            "model_name": "mock-mini",
            "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-fake", "mock_response": "Hello"},
        }
    )
    config["general_settings"] = {"custom_auth": "tenant_auth.user_api_key_auth"}
    if CACHE:  # LiteLLM's own response cache, in the proxy's memory
        config["litellm_settings"].update({"cache": True, "cache_params": {"type": "local"}})
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.copy(integration / "cost_hooks_callback.py", work / "cost_hooks_callback.py")
    (work / "tenant_auth.py").write_text(AUTH)
    ledger = work / "llm_costs.db"
    port = free_port()
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": "sk-" + secrets.token_hex(16),
        "OPENAI_API_KEY": "sk-unused",
        "OPENAI_API_BASE": os.environ.get("OPENAI_API_BASE", "http://127.0.0.1:9/v1"),
        "LLM_COST_HOOKS_LEDGER": f"sqlite:///{ledger}",
        "LLM_COST_HOOKS_PROXY_DEDUP": "off",
        "LLM_COST_HOOKS_PROXY_LIMITS": json.dumps(
            [{"metric": "usd", "amount": 0.00001, "period": "day", "scope": "tenant"}]
        ),
    }
    if require:
        env["LLM_COST_HOOKS_PROXY_REQUIRE_TENANT"] = "true"
    if CACHE:
        del env["LLM_COST_HOOKS_PROXY_LIMITS"]
    litellm = Path(sys.executable).with_name("litellm")
    log = (work / "proxy.log").open("w")
    cmd = [str(litellm), "--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"proxy did not start; see {work / 'proxy.log'}") from None
                time.sleep(0.5)
        print("| # | key | request metadata | HTTP | error type | records added (tenant: n, $) |")
        print("|---|---|---|---|---|---|")
        before = spend(ledger)
        for i, (key, metadata) in enumerate(CACHE_ATTEMPTS if CACHE else ATTEMPTS, 1):
            status, kind = ask(port, key, metadata)
            # Records are written by the ledger's background writer: wait for this one.
            after = before
            wait = time.monotonic() + 15
            while time.monotonic() < wait:
                after = spend(ledger)
                if sum(n for n, _ in after.values()) > sum(n for n, _ in before.values()):
                    time.sleep(0.5)
                    after = spend(ledger)
                    break
                time.sleep(0.2)
            moved = []
            for tenant, (n, usd) in sorted(after.items()):
                n0, usd0 = before.get(tenant, (0, 0.0))
                if n != n0:
                    moved.append(f"{tenant}: {n - n0}, ${usd - usd0:.7f}")
            before = after
            shown = json.dumps(metadata) if metadata else "(none)"
            print(f"| {i} | {key} | `{shown}` | {status} | {kind} | {'; '.join(moved) or '-'} |")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":
    main()
