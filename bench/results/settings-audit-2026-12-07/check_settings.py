"""Configuration audit: every setting and LLM_COST_HOOKS_* variable, from outside.

Run with the Python of an environment where the package is installed from its wheel
(``pip install 'llm_cost_hooks-*.whl[litellm]' langchain-core``), from an empty folder:

    /tmp/st_venv/bin/python check_settings.py --docs /path/to/docs/configuration.md

Each check runs in its own interpreter with only the variables it sets (no other
LLM_COST_HOOKS_*), drives a real call (a LangChain chat model with CostCallbackHandler, or
litellm.completion(mock_response=...) with CostHooksLogger) and looks at what came out.
Prints one line per check (PASS/FAIL) and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(tempfile.mkdtemp(prefix="settings-audit-"))

CALL = """
from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Within 3-5 business days."])
handler = CostCallbackHandler({ledger})
llm.invoke("When will my card arrive?", config={{"callbacks": [handler], "metadata": {{"user_id": "u-1"}}}})
handler.flush()
records = list(handler.tracker.ledger.records())
"""


def run(
    code: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("LLM_COST_HOOKS_")}
    base.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LLM_COST_HOOKS_CACHE_DIR": str(HERE / "cache")})
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=base,
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_line(p: subprocess.CompletedProcess[str]) -> str:
    lines = (p.stdout.strip() or p.stderr.strip()).splitlines()
    return lines[-1] if lines else ""


def error_of(p: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in p.stderr.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    return lines[-1] if lines else ""


results: list[tuple[str, str, bool, str]] = []


def check(setting: str, what: str, ok: bool, detail: str) -> None:
    results.append((setting, what, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'}  {setting:<22} {what:<44} {detail[:160]}", flush=True)


def expect_error(setting: str, what: str, env: dict[str, str], code: str, kinds: tuple[str, ...]) -> None:
    """The code must fail with one of ``kinds`` and a message naming the variable."""
    p = run(code, env)
    err = error_of(p)
    variable = f"LLM_COST_HOOKS_{setting}"
    ok = p.returncode != 0 and err.split(":")[0].rsplit(".", 1)[-1] in kinds and variable in err
    check(setting, what, ok, err or last_line(p))


def docs_table(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| setting | default"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        m = re.match(r"\|\s*`([A-Z_]+)`\s*\|\s*(.*?)\s*\|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--docs", type=Path, default=Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
    )
    args = parser.parse_args()

    # --- documented, with the real default -------------------------------------------
    p = run(
        "import json; from llm_cost_hooks import Settings; "
        "print(json.dumps({n.upper(): f.default for n, f in Settings.model_fields.items()}))"
    )
    fields = json.loads(p.stdout)
    table = docs_table(args.docs)
    for name, default in fields.items():
        cell = table.get(name)
        if cell is None:
            check(name, "documented in configuration.md", False, "missing from the table")
            continue
        literal = cell[1:-1] if re.fullmatch(r"`[^`]*`", cell) else None
        if default is None:
            ok = literal is None
        elif isinstance(default, bool):
            ok = literal == str(default).lower()
        elif isinstance(default, float):
            ok = literal is not None and float(literal) == default
        elif default == "":
            ok = cell == "empty"
        else:
            ok = literal == default
        check(name, "documented default is the real one", ok, f"docs {cell!r}, code {default!r}")
    for name in sorted(set(table) - set(fields)):
        check(name, "documented setting exists", False, "in the docs table, not in Settings")

    # --- every LLM_COST_HOOKS_* name the package reads is a setting or documented -------
    p = run(
        "import llm_cost_hooks, pathlib, re; root = pathlib.Path(llm_cost_hooks.__file__).parent; "
        "names = set(); [names.update(re.findall(r'LLM_COST_HOOKS_([A-Z][A-Z_]*[A-Z])(?![A-Z_*])', f.read_text())) "
        "for f in root.rglob('*.py')]; print(' '.join(sorted(names)))"
    )
    read = set(p.stdout.split())
    docs_text = args.docs.read_text()
    for name in sorted(read - set(fields)):
        check(
            name,
            "read by the package: documented",
            name in docs_text,
            "in configuration.md" if name in docs_text else "not in configuration.md",
        )

    # --- effect of each setting on a real call -----------------------------------------
    ledger = HERE / "env-ledger.jsonl"
    p = run(CALL.format(ledger="") + "print(len(records))", {"LLM_COST_HOOKS_LEDGER": f"jsonl:///{ledger}"})
    check(
        "LEDGER",
        "env ledger receives the record",
        p.returncode == 0 and ledger.exists() and len(ledger.read_text().splitlines()) == 1,
        last_line(p),
    )
    kw = HERE / "kw-ledger.jsonl"
    ledger2 = HERE / "env-ledger-2.jsonl"
    p = run(
        CALL.format(ledger=f'ledger="jsonl:///{kw}"') + "print(len(records))",
        {"LLM_COST_HOOKS_LEDGER": f"jsonl:///{ledger2}"},
    )
    check(
        "LEDGER",
        "keyword beats env",
        p.returncode == 0 and kw.exists() and not ledger2.exists(),
        last_line(p),
    )

    price_map = HERE / "map.json"
    price_map.write_text(
        json.dumps(
            {
                "gpt-4o-mini": {
                    "input_cost_per_token": 1e-3,
                    "output_cost_per_token": 1e-3,
                    "litellm_provider": "openai",
                    "mode": "chat",
                }
            }
        )
    )
    cost = "r = records[0]; print(r.cost_usd, (r.input_tokens + r.output_tokens) * 1e-3)"
    p = run(CALL.format(ledger='ledger="memory://"') + cost, {"LLM_COST_HOOKS_PRICE_MAP": str(price_map)})
    got = p.stdout.split()
    check(
        "PRICE_MAP",
        "prices come from the given map",
        len(got) == 2 and abs(float(got[0]) - float(got[1])) < 1e-12,
        last_line(p),
    )

    overrides = HERE / "prices.yaml"
    overrides.write_text("gpt-4o-mini:\n  input_per_million: 1000\n  output_per_million: 1000\n")
    p = run(
        CALL.format(ledger='ledger="memory://"') + cost, {"LLM_COST_HOOKS_PRICE_OVERRIDES": str(overrides)}
    )
    got = p.stdout.split()
    check(
        "PRICE_OVERRIDES",
        "prices come from the override file",
        len(got) == 2 and abs(float(got[0]) - float(got[1])) < 1e-12,
        last_line(p),
    )
    kw_over = HERE / "kw.yaml"
    kw_over.write_text("gpt-4o-mini:\n  input_per_million: 2000\n  output_per_million: 2000\n")
    p = run(
        f"""
        from llm_cost_hooks.pricing import PriceBook
        c = PriceBook(overrides={str(kw_over)!r}).cost({{"input_tokens": 1000, "output_tokens": 0}}, "gpt-4o-mini").total
        print(round(c, 9))
        """,
        {"LLM_COST_HOOKS_PRICE_OVERRIDES": str(overrides)},
    )
    check("PRICE_OVERRIDES", "PriceBook(overrides=) beats env", p.stdout.strip() == "2.0", last_line(p))
    p = run(
        CALL.format(
            ledger=f'tracker=CostTracker(ledger="memory://", settings=Settings(price_overrides={str(kw_over)!r}))'
        ).replace(
            "from llm_cost_hooks.langchain",
            "from llm_cost_hooks import Settings\nfrom llm_cost_hooks.tracking import CostTracker\nfrom llm_cost_hooks.langchain",
        )
        + "r = records[0]; print(r.cost_usd, (r.input_tokens + r.output_tokens) * 2e-3)",
    )
    got = p.stdout.split()
    check(
        "PRICE_OVERRIDES",
        "Settings(price_overrides=) in code is used",
        len(got) == 2 and abs(float(got[0]) - float(got[1])) < 1e-12,
        last_line(p),
    )

    p = run(
        CALL.format(ledger='ledger="memory://"') + "print(records[0].tenant)",
        {"LLM_COST_HOOKS_DEFAULT_TENANT": "acme"},
    )
    check("DEFAULT_TENANT", "tenant of a call naming none", p.stdout.strip() == "acme", last_line(p))

    users = []
    for salt in ("", "s1", "s2"):
        p = run(
            CALL.format(ledger='ledger="memory://"') + "print(records[0].user)",
            {"LLM_COST_HOOKS_USER_HASH_SALT": salt} if salt else {},
        )
        users.append(p.stdout.strip())
    check(
        "USER_HASH_SALT",
        "salt changes the user hash, never raw",
        len(set(users)) == 3 and "u-1" not in users,
        " / ".join(users),
    )

    p = run(
        "from llm_cost_hooks._shutdown import exit_timeout; print(exit_timeout())",
        {"LLM_COST_HOOKS_EXIT_TIMEOUT": "0.25"},
    )
    check("EXIT_TIMEOUT", "exit deadline read", p.stdout.strip() == "0.25", last_line(p))

    sig_code = CALL.format(ledger=f'ledger="jsonl:///{HERE}/sig-{{0}}.jsonl"').replace(
        "handler.flush()\nrecords = list(handler.tracker.ledger.records())\n", ""
    )
    sig_code += "import os, signal, time; os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)"
    outcomes = {}
    for value in ("true", "false"):
        p = run(sig_code.replace("{0}", value), {"LLM_COST_HOOKS_HANDLE_SIGTERM": value})
        f = HERE / f"sig-{value}.jsonl"
        outcomes[value] = (p.returncode, f.exists() and len(f.read_text().splitlines()))
    check(
        "HANDLE_SIGTERM",
        "true: SIGTERM writes the record; false: default kill",
        outcomes["true"][1] == 1 and outcomes["false"][0] == -15,
        str(outcomes),
    )

    p = run(
        "from llm_cost_hooks.tokens._counter import default_counter; print(default_counter().source)",
        {"LLM_COST_HOOKS_TOKENIZER_SOURCE": "tiktoken"},
    )
    check("TOKENIZER_SOURCE", "tiktoken source chosen", p.stdout.strip() == "tiktoken", last_line(p))

    p = run("import llm_cost_hooks.tokens as t, pathlib; print(pathlib.Path(t.__file__).parent / 'data')")
    bundled = Path(p.stdout.strip())
    copy = HERE / "bpe"
    copy.mkdir(exist_ok=True)
    for f in bundled.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    count = "from llm_cost_hooks.tokens import count_tokens; print(count_tokens('hello world', 'gpt-4o'))"
    p1 = run(count, {"LLM_COST_HOOKS_TOKENIZER_DIR": str(copy)})
    p2 = run(count, {"LLM_COST_HOOKS_TOKENIZER_DIR": str(HERE / "empty")})
    check(
        "TOKENIZER_DIR",
        "files read from the folder",
        p1.stdout.strip() == "2" and p2.returncode != 0,
        f"{last_line(p1)} / {error_of(p2)[:90]}",
    )

    db = HERE / "policy.db"
    p = run(
        f"""
        from langchain_core.prompts import ChatPromptTemplate
        from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
        bad = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["x"], errors=[RuntimeError("down")])
        ok = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"])
        h = CostCallbackHandler(ledger="sqlite:///{db}")
        (ChatPromptTemplate.from_messages([("human", "{{q}}")]) | bad.with_fallbacks([ok])).invoke({{"q": "hi"}}, config={{"callbacks": [h]}})
        h.flush()
        """
    )
    report = (
        "import sys; from llm_cost_hooks.cli import main; "
        f"main(['report', {str(db)!r}, '--show', 'tasks', '--format', 'json'] + sys.argv[1:])"
    )
    outs = {}
    for env in ({}, {"LLM_COST_HOOKS_TASK_FAILURE_POLICY": "root_error"}):
        q = run(report, env)
        try:
            outs[env.get("LLM_COST_HOOKS_TASK_FAILURE_POLICY", "default")] = json.loads(q.stdout)["tasks"][0][
                "successful_tasks"
            ]
        except Exception:
            outs[env.get("LLM_COST_HOOKS_TASK_FAILURE_POLICY", "default")] = last_line(q)
    check(
        "TASK_FAILURE_POLICY",
        "llm-cost report follows it",
        outs == {"default": 0, "root_error": 1},
        f"successful tasks {outs}",
    )

    p = run(
        "from llm_cost_hooks._demo._workload import data_dir; print(data_dir())",
        {"LLM_COST_HOOKS_DATA_DIR": str(HERE / "data")},
    )
    check("DATA_DIR", "demo data folder", p.stdout.strip() == str(HERE / "data"), last_line(p))
    p = run(
        "from llm_cost_hooks.pricing._map_source import user_cache_dir; print(user_cache_dir())",
        {"LLM_COST_HOOKS_CACHE_DIR": str(HERE / "cd")},
    )
    check("CACHE_DIR", "price map cache folder", p.stdout.strip() == str(HERE / "cd"), last_line(p))
    p = run(
        "from llm_cost_hooks.langchain import SemanticCache; c = SemanticCache(semantic=False); print('opened')",
        {"LLM_COST_HOOKS_CACHE_PATH": str(HERE / "c.db")},
    )
    # The file is created before the cache loads it; opening it needs numpy (see README).
    check(
        "CACHE_PATH",
        "exact cache opens its file there",
        p.returncode == 0 and (HERE / "c.db").exists(),
        f"file created: {(HERE / 'c.db').exists()}; {error_of(p) or last_line(p)}",
    )
    p = run(
        "from llm_cost_hooks.langchain import SemanticCache; c = SemanticCache(path=':memory:', semantic=False); print(c.core.audit.capture_text)",
        {"LLM_COST_HOOKS_CAPTURE_CONTENT": "true"},
    )
    check(
        "CAPTURE_CONTENT", "cache audit keeps text only when true", p.stdout.strip() == "True", last_line(p)
    )
    p = run(
        "from llm_cost_hooks.langchain import SemanticCache; c = SemanticCache(path=':memory:', semantic=False); print(c.core.audit.capture_text)"
    )
    check("CAPTURE_CONTENT", "off by default", p.stdout.strip() == "False", last_line(p))
    p = run(
        "from llm_cost_hooks.embeddings._onnx import _default_model_path; print(_default_model_path())",
        {"LLM_COST_HOOKS_EMBEDDING_MODEL_PATH": str(HERE / "m.onnx")},
    )
    check("EMBEDDING_MODEL_PATH", "model file path", p.stdout.strip() == str(HERE / "m.onnx"), last_line(p))

    lit = HERE / "litellm.jsonl"
    p = run(
        """
        import litellm
        from llm_cost_hooks.litellm import CostHooksLogger
        logger = CostHooksLogger()
        litellm.callbacks = [logger]
        litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], mock_response="hello")
        logger.flush()
        print(len(list(logger.tracker.ledger.records())))
        """,
        {"LLM_COST_HOOKS_LEDGER": f"jsonl:///{lit}", "LLM_COST_HOOKS_DEFAULT_TENANT": "acme"},
        timeout=300,
    )
    rec = json.loads(lit.read_text().splitlines()[0]) if lit.exists() and lit.read_text().strip() else {}
    check("LEDGER", "LiteLLM logger: env ledger + tenant", rec.get("tenant") == "acme", last_line(p))

    # --- bad values: a typed error naming the variable, at the first use ----------------
    make = CALL.format(ledger='ledger="memory://"')
    settings_error = ("SettingsError",)
    for setting, value in [
        ("EXIT_TIMEOUT", "abc"),
        ("EXIT_TIMEOUT", "-1"),
        ("EXIT_TIMEOUT", ""),
        ("HANDLE_SIGTERM", "perhaps"),
        ("CAPTURE_CONTENT", "maybe"),
        ("CAPTURE_CONTENT", ""),
        ("TOKENIZER_SOURCE", "tiktokn"),
        ("TASK_FAILURE_POLICY", "nope"),
    ]:
        expect_error(
            setting, f"bad value {value!r}", {f"LLM_COST_HOOKS_{setting}": value}, make, settings_error
        )
    expect_error(
        "LEDGER", "empty value", {"LLM_COST_HOOKS_LEDGER": ""}, CALL.format(ledger=""), settings_error
    )
    expect_error(
        "PRICE_MAP",
        "path that does not exist",
        {"LLM_COST_HOOKS_PRICE_MAP": "/nope/map.json"},
        make,
        ("ConfigurationError",),
    )
    expect_error(
        "PRICE_OVERRIDES",
        "path that does not exist",
        {"LLM_COST_HOOKS_PRICE_OVERRIDES": "/nope/o.yaml"},
        make,
        ("PriceOverrideError",),
    )
    bad_yaml = HERE / "bad.yaml"
    bad_yaml.write_text("gpt-4o:\n  input_per_million: [1,\n")
    bad_json = HERE / "bad.json"
    bad_json.write_text('{"gpt-4o": {"input_per_million": 1,}')
    neg = HERE / "neg.yaml"
    neg.write_text("gpt-4o:\n  input_per_million: -1\n")
    for f in (bad_yaml, bad_json, neg):
        expect_error(
            "PRICE_OVERRIDES",
            f"bad file {f.name}",
            {"LLM_COST_HOOKS_PRICE_OVERRIDES": str(f)},
            make,
            ("PriceOverrideError",),
        )
    expect_error(
        "TOKENIZER_SOURCE",
        "bad value at count_tokens",
        {"LLM_COST_HOOKS_TOKENIZER_SOURCE": "x"},
        count,
        settings_error,
    )
    expect_error(
        "TOKENIZER_DIR",
        "folder that does not exist",
        {"LLM_COST_HOOKS_TOKENIZER_DIR": "/nope"},
        count,
        ("TokenizerUnavailableError",),
    )
    p = run(
        "from llm_cost_hooks.embeddings._onnx import OnnxEmbedder; OnnxEmbedder()",
        {"LLM_COST_HOOKS_EMBEDDING_MODEL_PATH": "/nope/m.onnx"},
    )
    check(
        "EMBEDDING_MODEL_PATH",
        "missing file (needs the embed extra)",
        p.returncode != 0,
        error_of(p) or last_line(p),
    )

    p = run(
        "import llm_cost_hooks, llm_cost_hooks.langchain, llm_cost_hooks.litellm, llm_cost_hooks.pricing, llm_cost_hooks.tokens; print('imported')",
        {
            "LLM_COST_HOOKS_EXIT_TIMEOUT": "abc",
            "LLM_COST_HOOKS_LEDGER": "",
            "LLM_COST_HOOKS_CAPTURE_CONTENT": "x",
            "LLM_COST_HOOKS_TOKENIZER_SOURCE": "x",
            "LLM_COST_HOOKS_PRICE_OVERRIDES": "/nope",
            "LLM_COST_HOOKS_PRICE_MAP": "/nope",
        },
    )
    check("(all)", "import never fails on bad values", p.stdout.strip() == "imported", last_line(p))

    p = run(make + "print(len(records))", {"LLM_COST_HOOKS_LEDGR": "memory://"})
    warned = [line for line in p.stderr.splitlines() if "LLM_COST_HOOKS_LEDGR" in line]
    check(
        "(typo)",
        "LLM_COST_HOOKS_LEDGR warned once",
        len(warned) == 1 and "LLM_COST_HOOKS_LEDGER" in warned[0],
        warned[0] if warned else "no warning",
    )

    for name, table_text in [
        ("unknown key", 'prompt_module = ["a"]'),
        ("wrong type", 'prompt_files = "p/*.txt"'),
        ("bad TOML", "default_model = ["),
    ]:
        pp = HERE / f"pyproject-{name.replace(' ', '-')}.toml"
        pp.write_text(f"[tool.llm-cost-hooks]\n{table_text}\n")
        p = run(
            f"from llm_cost_hooks.prompts._registry import load_project_config; print(load_project_config({str(pp)!r}))"
        )
        err = error_of(p)
        check("[tool.llm-cost-hooks]", name, "ConfigurationError" in err, err or last_line(p))

    failed = [r for r in results if not r[2]]
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
