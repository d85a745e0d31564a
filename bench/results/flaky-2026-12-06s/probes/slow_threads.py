"""pytest plugin: a background thread that is late to run (as on a loaded machine). SLOW_WRITER=seconds"""

import os
import threading

DELAY = float(os.environ.get("SLOW_WRITER", "0") or 0)


def pytest_configure(config):
    if not DELAY:
        return
    import time

    from llm_cost_hooks.ledger import _base

    orig = _base.Ledger._drain_once
    seen = set()
    lock = threading.Lock()

    def _drain_once(self):
        with lock:
            first = id(self) not in seen
            seen.add(id(self))
        if first and threading.current_thread() is not threading.main_thread():
            time.sleep(DELAY)
        return orig(self)

    _base.Ledger._drain_once = _drain_once


SLOW_RENEW = float(os.environ.get("SLOW_RENEW", "0") or 0)


def pytest_collection_finish(session):
    # The lease renewer thread descheduled once for SLOW_RENEW seconds (as on a loaded machine).
    if not SLOW_RENEW:
        return
    import time

    from llm_cost_hooks.budget import _guard

    orig = _guard.SpendGuard.renew_leases
    calls = {"n": 0}

    def renew_leases(self):
        if threading.current_thread() is not threading.main_thread():
            calls["n"] += 1
            if calls["n"] == 2:
                time.sleep(SLOW_RENEW)
        return orig(self)

    _guard.SpendGuard.renew_leases = renew_leases


SLOW_LOOKUP = float(os.environ.get("SLOW_LOOKUP", "0") or 0)


def pytest_sessionstart(session):
    # Each cache lookup SLOW_LOOKUP seconds late (a machine slow between a write and the next read).
    if not SLOW_LOOKUP:
        return
    import time

    from llm_cost_hooks.cache import _core

    orig = _core.CacheCore.lookup

    def lookup(self, *a, **k):
        time.sleep(SLOW_LOOKUP)
        return orig(self, *a, **k)

    _core.CacheCore.lookup = lookup
