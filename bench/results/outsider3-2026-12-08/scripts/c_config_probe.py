"""Each LLM_COST_HOOKS_* variable of docs/configuration.md set to a bad value, in a fresh
interpreter: what the first handler (or the first use) raises, its type and its message."""

import json
import os
import subprocess
import sys
import tempfile

PROBE = r"""
import json, os, sys
what = sys.argv[1]
out = {}
try:
    if what == "handler":
        from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
        h = CostCallbackHandler()
        FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["ok"]).invoke("hi", config={"callbacks": [h], "metadata": {"user_id": "u1"}})
        out["flushed"] = h.flush()
        out["stats"] = str(h.ledger.stats)[:200]
        r = h.records()[-1] if h.records() else None
        out["record"] = None if r is None else {"tenant": r.tenant, "cost": r.cost_usd, "user": r.user}
    elif what == "count":
        from llm_cost_hooks.tokens import count_tokens
        out["count"] = count_tokens("hello world", "gpt-4o-mini")
    elif what == "cache":
        from llm_cost_hooks.langchain import SemanticCache
        c = SemanticCache()
        out["cache"] = type(c).__name__
    elif what == "embed":
        from llm_cost_hooks.embeddings import default_embedder
        e = default_embedder()
        out["embed"] = len(e.embed(["hi"])[0]) if hasattr(e, "embed") else type(e).__name__
    elif what == "settings":
        from llm_cost_hooks import get_settings
        s = get_settings()
        out["settings"] = {k: str(v) for k, v in s.model_dump().items() if k != "cache_hmac_key"}
    out["ok"] = True
except BaseException as exc:
    import llm_cost_hooks
    out["error"] = type(exc).__module__ + "." + type(exc).__name__
    out["typed"] = isinstance(exc, llm_cost_hooks.LLMCostHooksError)
    out["variable"] = getattr(exc, "variable", None)
    out["message"] = str(exc)[:400]
print("RESULT " + json.dumps(out, default=str))
"""

CASES = [
    # (variable, value, what to run)
    ("LEDGER", "", "handler"),
    ("LEDGER", "sqlit:///costs.db", "handler"),
    ("LEDGER", "costs.db", "handler"),
    ("LEDGER", "sqlite:////nonexistent_dir/costs.db", "handler"),
    ("PRICE_MAP", "/nonexistent/prices.json", "handler"),
    ("PRICE_MAP", "@BADJSON", "handler"),
    ("PRICE_OVERRIDES", "/nonexistent/overrides.yaml", "handler"),
    ("PRICE_OVERRIDES", "@BADYAML", "handler"),
    ("TOKENIZER_SOURCE", "bundle", "handler"),
    ("TOKENIZER_DIR", "/nonexistent/tok", "count"),
    ("TOKENIZER_DIR", "/nonexistent/tok", "handler"),
    ("EXIT_TIMEOUT", "-1", "handler"),
    ("EXIT_TIMEOUT", "5s", "handler"),
    ("LEDGER_READ_TIMEOUT", "1m", "handler"),
    ("HANDLE_SIGTERM", "maybe", "handler"),
    ("DEFAULT_TENANT", "acme", "handler"),
    ("DEFAULT_TENANT", "", "handler"),
    ("USER_HASH_SALT", "pepper", "settings"),
    ("CACHE_REQUIRE_TENANT", "sometimes", "handler"),
    ("CACHE_REQUIRE_TENANT", "yes", "settings"),
    ("CAPTURE_CONTENT", "perhaps", "handler"),
    ("TASK_FAILURE_POLICY", "any", "handler"),
    ("DATA_DIR", "/nonexistent/data", "settings"),
    ("CACHE_DIR", "/proc/forbidden", "settings"),
    ("STATE_DIR", "/proc/forbidden", "settings"),
    ("CACHE_PATH", "/nonexistent_dir/llm_cache.db", "cache"),
    ("CACHE_PATH", "", "cache"),
    ("EMBEDDING_MODEL_PATH", "/nonexistent/model.onnx", "embed"),
    ("LEDGR", "memory://", "handler"),
]

work = tempfile.mkdtemp(prefix="o3cfg")
with open(os.path.join(work, "bad.json"), "w") as f:
    f.write("{not json")
with open(os.path.join(work, "bad.yaml"), "w") as f:
    f.write("gpt-4o-mini:\n  input_cost_per_token: [oops\n")
only = sys.argv[1:] or None
for variable, value, what in CASES:
    if only and variable not in only:
        continue
    value = value.replace("@BADJSON", os.path.join(work, "bad.json")).replace(
        "@BADYAML", os.path.join(work, "bad.yaml")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_COST_HOOKS_")}
    env.setdefault("LLM_COST_HOOKS_LEDGER", "memory://") if variable not in ("LEDGER", "LEDGR") else None
    env["LLM_COST_HOOKS_" + variable] = value
    cwd = tempfile.mkdtemp(dir=work)
    p = subprocess.run(
        [sys.executable, "-c", PROBE, what], env=env, cwd=cwd, capture_output=True, text=True, timeout=240
    )
    line = [out for out in p.stdout.splitlines() if out.startswith("RESULT ")]
    result = json.loads(line[0][7:]) if line else {"crash": p.stderr[-400:]}
    warn = [err for err in p.stderr.splitlines() if "WARNING" in err or "warn" in err.lower()][:2]
    print(
        f"LLM_COST_HOOKS_{variable}={value!r} [{what}] -> {json.dumps(result)}"
        + (f"\n    stderr: {warn}" if warn else "")
    )
    print("    files left:", sorted(os.listdir(cwd)))
