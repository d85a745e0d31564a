"""A Redis restart and a flush in the middle of a run, as a user sees them through
``set_llm_cache(SemanticCache(redis_url=...))`` with the default settings.

    python redis_outage.py redis://127.0.0.1:PORT "command that starts that server again"

Steps: fill the cache (an exact entry, and five wordings per keyed answer so the default
policy serves a new wording semantically); FLUSHALL; then SHUTDOWN NOSAVE, calls during the
outage, start the server again. After each event, calls go on every 0.2 s and the script
prints how many seconds passed until the exact tier and the semantic tier hit again, how many
calls raised (must be 0), and the warnings the cache logged (each kind once, not per call).
"""

from __future__ import annotations

import collections
import logging
import subprocess
import sys
import time
import uuid

import redis
from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache, cache_scope

URL, RESTART = sys.argv[1], sys.argv[2]
warnings: collections.Counter[str] = collections.Counter()


class Count(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            warnings[record.getMessage()[:90]] += 1


logging.getLogger("llm_cost_hooks").addHandler(Count())
cache = SemanticCache(redis_url=URL, redis_prefix=f"outage{uuid.uuid4().hex[:6]}")
set_llm_cache(cache)
model = FakeChatModelWithUsage(model_name="gpt-4o-mini", respond=lambda m: f"paid {time.time()}")
raised = 0
KEYED = {f"faq-{i}": q for i, q in enumerate(["How do I reset my PIN?", "When will my card arrive?"])}
PADS = ["{q}", "Hi, {q}", "Quick question: {q}", "{q} Thanks!", "Hello there. {q}"]
# Unseen wordings of a keyed question, each asked once (a probe that misses is stored, and
# asked again would be an exact hit).
_OPENERS = ["Hey", "Hiya", "Good morning", "Good evening", "Sorry", "Excuse me", "Hello again", "Hi there"]
PROBES = iter(
    [f"{o}, how do I reset my PIN?" for o in _OPENERS]
    + [f"{o}! How do I reset my PIN?" for o in _OPENERS] * 1
    + [f"{o}, when will my card arrive?" for o in _OPENERS]
)


def call(q: str, key: str | None = None) -> str:
    global raised
    try:
        with cache_scope(tenant="acme", answer_key=key):
            out = model.invoke(q)
    except Exception as exc:  # the chain must never see the cache's failures
        raised += 1
        print(f"  raised: {type(exc).__name__}: {exc}")
        return "raised"
    return str((out.response_metadata.get("llm_cost_hooks_cache") or {}).get("status", "miss"))


_probe = [next(PROBES)]


def probe() -> str:
    """An unseen wording; the next one once this one was stored."""
    status = call(_probe[0], "faq-0")  # keyed like the app keys every question
    if status != "miss" or cache.core._breaker.is_closed:  # answered by Redis, or stored there
        _probe[0] = next(PROBES)
    return status


def fill() -> None:
    call("What is the exchange rate?")
    for key, q in KEYED.items():
        for pad in PADS:
            call(pad.format(q=q), key)


def until_hits(t0: float, limit: float = 30.0) -> tuple[float | None, float | None]:
    """Seconds from t0 until an exact and a semantic hit (refilling after each miss)."""
    exact = semantic = None
    while time.monotonic() - t0 < limit and (exact is None or semantic is None):
        if exact is None and call("What is the exchange rate?") == "exact":
            exact = time.monotonic() - t0
        if semantic is None:
            if probe() == "semantic":
                semantic = time.monotonic() - t0
            else:
                fill()
        time.sleep(0.2)
    return exact, semantic


fill()
print("before:", call("What is the exchange rate?"), probe())
r = redis.Redis.from_url(URL)

r.flushall()
print("FLUSHALL")
e, s = until_hits(time.monotonic())
print(f"  after FLUSHALL: exact hit again after {e} s, semantic after {s} s; raised {raised}")

try:
    r.execute_command("SHUTDOWN", "NOSAVE")
except redis.ConnectionError:
    pass
print("SHUTDOWN NOSAVE")
t_down = time.monotonic()
statuses = collections.Counter(call("What is the exchange rate?") for _ in range(20))
print(f"  20 calls while down took {time.monotonic() - t_down:.2f} s: {dict(statuses)}; raised {raised}")
subprocess.Popen(
    RESTART, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
)
for _ in range(100):
    try:
        if redis.Redis.from_url(URL).ping():
            break
    except redis.ConnectionError:
        time.sleep(0.1)
print("server started again")
e, s = until_hits(time.monotonic())
print(f"  after restart: exact hit again after {e} s, semantic after {s} s; raised {raised}")
print(f"stats: {cache.stats}")
print("warnings logged (message: times):")
for msg, n in warnings.items():
    print(f"  {n} x {msg}")
cache.clear()
set_llm_cache(None)
sys.exit(1 if raised else 0)
