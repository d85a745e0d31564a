"""One bounded exit for the whole package.

Trackers, ledgers and telemetry exporters all flush at interpreter exit. Each used to wait
on its own timeout, so a collector that did not answer could hold the process past a
container's grace period. Here they share one deadline (``LLM_COST_HOOKS_EXIT_TIMEOUT``,
5 s by default): trackers first, then ledgers (records outrank spans), then alert
deliveries, then exporters. What a ledger cannot write by then goes to its dead-letter file.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_EXIT_TIMEOUT", "exit_timeout", "register", "run_exit_hooks"]

logger = logging.getLogger("llm_cost_hooks")

DEFAULT_EXIT_TIMEOUT = 5.0

#: Phases, run in this order: a tracker flush ends the spans of deferred calls before the
#: exporters shut down; ledgers go before exporters so records get the time first. Alert
#: sinks close after every tracker and ledger hook, whenever they registered: an alert
#: raised by the last records (a threshold crossed in the final flush) is still delivered.
TRACKERS, LEDGERS, ALERTS, TELEMETRY = 0, 1, 2, 3
# Share of the deadline the ledgers may use when exporters also wait their turn.
_LEDGER_SHARE = 0.7

_hooks: list[tuple[int, weakref.ReferenceType[Any] | None, Callable[..., None]]] = []
_lock = threading.Lock()
_ran_in: int | None = None  # pid of the process that already ran the hooks
# Hooks registered while the exit hooks run (None otherwise): run too, in their phase.
_late: list[tuple[int, weakref.ReferenceType[Any] | None, Callable[..., None]]] | None = None
_sigterm_while_exiting = False  # our SIGTERM handler fired once the exit was under way


def exit_timeout() -> float:
    """The total seconds the exit may take (``LLM_COST_HOOKS_EXIT_TIMEOUT``, default 5)."""
    if "LLM_COST_HOOKS_EXIT_TIMEOUT" not in os.environ:
        return DEFAULT_EXIT_TIMEOUT
    from ._settings import get_settings

    return float(get_settings().exit_timeout)


def register(phase: int, owner: Any, fn: Callable[[Any, float], None]) -> None:
    """Call ``fn(owner, deadline)`` at exit while ``owner`` is alive (``deadline`` is a
    ``time.monotonic()`` moment). ``owner`` None: ``fn(None, deadline)`` always runs."""
    ref = weakref.ref(owner) if owner is not None else None
    with _lock:
        if len(_hooks) >= 256 and len(_hooks) & (len(_hooks) - 1) == 0:
            _hooks[:] = [h for h in _hooks if h[1] is None or h[1]() is not None]
        _hooks.append((phase, ref, fn))
        if _late is not None:
            _late.append(_hooks[-1])
    # atexit runs the newest registration first: moving ours to the end makes it run
    # before the exit hooks of whatever was set up earlier (an OpenTelemetry provider
    # created before our observer must still be up when the tracker flush ends spans).
    atexit.unregister(run_exit_hooks)
    atexit.register(run_exit_hooks)


def run_exit_hooks(total: float | None = None) -> None:
    """Run every registered hook once per process, within ``total`` seconds altogether."""
    global _ran_in, _late
    with _lock:
        if _ran_in == os.getpid():
            return
        _ran_in = os.getpid()
        queue = sorted(_hooks, key=_phase)  # stable: in registration order within a phase
        _late = []
    try:
        budget = exit_timeout() if total is None else total
    except Exception:
        logger.exception(
            "llm-cost-hooks: reading LLM_COST_HOOKS_EXIT_TIMEOUT failed; using %ss", DEFAULT_EXIT_TIMEOUT
        )
        budget = DEFAULT_EXIT_TIMEOUT
    start = time.monotonic()
    end = start + budget
    has_telemetry = any(phase == TELEMETRY for phase, _, _ in queue)
    try:
        _run_queue(queue, has_telemetry, start, budget, end)
    finally:
        with _lock:
            _late = None


def _phase(hook: tuple[int, Any, Any]) -> int:
    return hook[0]


def _run_queue(
    queue: list[tuple[int, weakref.ReferenceType[Any] | None, Callable[..., None]]],
    has_telemetry: bool,
    start: float,
    budget: float,
    end: float,
) -> None:
    global _late
    interrupted = False
    next_hook = 0
    while True:
        if _late:  # taken under the lock; most exits have none, so no lock per hook
            # A hook may register another (an alert manager closes at exit once its first
            # alert, raised by a tracker's final flush, has started its sink's thread).
            with _lock:
                late, _late = _late, []
            for hook in late:  # after the hooks of its phase registered before it
                bisect.insort_right(queue, hook, lo=next_hook, key=_phase)
                has_telemetry = has_telemetry or hook[0] == TELEMETRY
        if next_hook == len(queue):
            break
        phase, ref, fn = queue[next_hook]
        next_hook += 1
        owner = ref() if ref is not None else None
        if ref is not None and owner is None:
            continue
        deadline = start + budget * _LEDGER_SHARE if phase < TELEMETRY and has_telemetry else end
        for _ in range(2):
            try:
                fn(owner, deadline)
            except Exception:
                logger.exception("llm-cost-hooks: an exit hook failed")
            except SystemExit:
                # A signal handler raised while the hook ran (ours does not once the exit
                # is under way, see _on_sigterm). The process is on its way out anyway (with
                # the exit code it had); finish the hook within the deadline so what the
                # ledger holds is written.
                if not interrupted:
                    logger.info(
                        "llm-cost-hooks: SIGTERM while writing queued records at exit; finishing "
                        "within the exit deadline"
                    )
                interrupted = True
                continue
            break
    if _sigterm_while_exiting and not interrupted:
        logger.info(
            "llm-cost-hooks: SIGTERM while writing queued records at exit; finishing within the exit deadline"
        )


_fork_children: list[tuple[weakref.ReferenceType[Any], Callable[[Any], None]]] = []


def after_fork_in_child(owner: Any, fn: Callable[[Any], None]) -> None:
    """Call ``fn(owner)`` in a forked child while ``owner`` is alive (to replace the locks
    and threads the child inherited but cannot use)."""
    if len(_fork_children) >= 256 and len(_fork_children) & (len(_fork_children) - 1) == 0:
        _fork_children[:] = [(r, f) for r, f in _fork_children if r() is not None]
    _fork_children.append((weakref.ref(owner), fn))


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for ref, fn in list(_fork_children):
        owner = ref()
        if owner is not None:
            try:
                fn(owner)
            except Exception:
                logger.exception("llm-cost-hooks: resetting %r after fork failed", owner)


atexit.register(run_exit_hooks)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def install_sigterm_handler() -> None:
    """Turn SIGTERM into a normal exit (``SystemExit(143)``) so the exit hooks run.

    Python's default SIGTERM action ends the process on the spot, without ``atexit``: every
    queued record would be lost on ``docker stop`` or a Kubernetes pod shutdown. Installed
    only from the main thread and only while SIGTERM has its default action (a server
    that handles SIGTERM itself keeps its handler); ``LLM_COST_HOOKS_HANDLE_SIGTERM=false``
    turns it off.
    """
    import signal

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return
    if "LLM_COST_HOOKS_HANDLE_SIGTERM" in os.environ:
        from ._settings import get_settings

        if not get_settings().handle_sigterm:
            return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        elif _is_uvicorn_exit(current):
            signal.signal(signal.SIGTERM, _UvicornSigterm(current))
    except (ValueError, OSError):  # pragma: no cover - not allowed here (embedded interpreter)
        return


def _is_uvicorn_exit(handler: Any) -> bool:
    server = getattr(handler, "__self__", None)
    return getattr(handler, "__name__", "") == "handle_exit" and isinstance(
        getattr(server, "_captured_signals", None), list
    )


class _UvicornSigterm:
    """uvicorn's SIGTERM handler, minus the signal's second delivery.

    uvicorn shuts down gracefully, then puts back the handler it found (the default one, as
    it starts before any ledger exists) and raises the signal again: the process ends on the
    spot, without ``atexit``, losing queued records and the ledger's closing line. Dropping
    the signal from the ones it raises again lets the process exit normally (status 0).
    """

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def __call__(self, signum: int, frame: Any) -> None:
        self.handler(signum, frame)
        captured = self.handler.__self__._captured_signals
        while signum in captured:
            captured.remove(signum)


def _on_sigterm(signum: int, frame: Any) -> None:
    # Raised rather than flushing here: the handler may run inside our own locked section
    # on this thread. Unwinding releases it, then atexit runs the hooks.
    global _sigterm_while_exiting
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    if _exit_under_way():
        # The process is already ending (multiprocessing's Pool.terminate() signals workers
        # that are): a SystemExit now would cut the exit hooks short, or skip them if it
        # lands just before they start, and lose what the ledgers hold.
        _sigterm_while_exiting = True
        return
    raise SystemExit(128 + signum)


def _exit_under_way() -> bool:
    if _ran_in == os.getpid():
        return True
    # A multiprocessing child sets this first thing in its exit, before its finalizers
    # (ours among them) run; the module is only looked up, never imported here.
    mp_util = sys.modules.get("multiprocessing.util")
    return bool(getattr(mp_util, "_exiting", False))


def _multiprocessing_child_exit() -> None:
    # multiprocessing ends its children with os._exit(): atexit never runs there, but its
    # own finalizers do.
    run_exit_hooks()


def watch_multiprocessing_children() -> None:
    """Make multiprocessing children (fork, spawn, forkserver) run the exit hooks too."""
    try:
        import multiprocessing.util as mp_util
    except ImportError:  # pragma: no cover - platforms without multiprocessing
        return
    # Before the once-only check: Celery may be imported after the first ledger was made.
    _watch_celery_pool_children()
    if getattr(watch_multiprocessing_children, "_done", False):
        return
    watch_multiprocessing_children._done = True  # type: ignore[attr-defined]
    mp_util.register_after_fork(_REGISTRY_KEY, _on_mp_child)
    if _in_mp_child():
        _on_mp_child(_REGISTRY_KEY)
    elif _spawned_child_starting():
        # A spawned child imports the main module before it starts, and runs no after-fork
        # hooks (it ends with sys.exit, so atexit writes the records): only the watch.
        _watch_sigterm_in_child()


class _Key:
    """A weak-referenceable key for multiprocessing's after-fork registry."""


_REGISTRY_KEY = _Key()


def _in_mp_child() -> bool:
    import multiprocessing

    return multiprocessing.parent_process() is not None


def _spawned_child_starting() -> bool:
    # multiprocessing marks the process while a spawned child unpickles its parent's
    # state and imports the main module, before parent_process() is known.
    import multiprocessing.process as mp_process

    return bool(getattr(mp_process.current_process(), "_inheriting", False))


def _on_mp_child(_: object) -> None:
    import multiprocessing.util as mp_util

    mp_util.Finalize(None, _multiprocessing_child_exit, exitpriority=100)
    _watch_celery_pool_children()
    _watch_sigterm_in_child()


def _watch_celery_pool_children() -> None:
    """Make Celery's prefork pool children run the exit hooks.

    Its pool (billiard) ends a child with ``os._exit()`` from inside the child's task loop,
    before multiprocessing's finalizers run: the records a child still held (a slow or
    unreachable store) were lost without a line. Celery sends ``worker_process_shutdown``
    in the child just before that exit. Connected only when Celery is already imported
    (a worker's children always have it); never imports it."""
    signals = sys.modules.get("celery.signals")
    if signals is None:
        return
    try:
        signals.worker_process_shutdown.connect(
            _celery_child_exit, weak=False, dispatch_uid="llm-cost-hooks-exit-hooks"
        )
    except Exception:  # pragma: no cover - a Celery without this signal
        logger.debug("llm-cost-hooks: cannot watch Celery pool children", exc_info=True)


def _celery_child_exit(**_: Any) -> None:
    run_exit_hooks()


# Seconds the main thread gets to run our SIGTERM handler before it is woken for it.
_SIGTERM_GRACE = 1.0
_wakeup_fd: int | None = None  # write end of our signal wake-up pipe in this process


def _watch_sigterm_in_child() -> None:
    """Make a SIGTERM end a multiprocessing child whose main thread waits on a lock.

    Python runs a signal's handler on the main thread only, when that thread next checks:
    a child waiting on a multiprocessing lock (an idle pool worker after
    ``Pool.terminate()`` took the task queue's lock) checks only when its wait is
    interrupted. A SIGTERM that Python took just before the wait, or on another thread,
    leaves the handler pending and the child waiting for ever; without our handler the
    kernel would have ended it. A thread reads the signal wake-up pipe and, if the handler
    has not run within a second, sends SIGTERM to the main thread, whose wait then ends.
    Skipped when something else uses the wake-up fd (e.g. an asyncio loop)."""
    global _wakeup_fd
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not _on_sigterm:
            return
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        old = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except (ValueError, OSError):  # pragma: no cover - not allowed here
        return
    if old not in (-1, _wakeup_fd):
        signal.set_wakeup_fd(old)  # someone else's: theirs stays
        os.close(read_end)
        os.close(write_end)
        return
    _wakeup_fd = write_end
    threading.Thread(
        target=_sigterm_watch,
        args=(read_end, threading.main_thread().ident),
        name="llm-cost-hooks-sigterm",
        daemon=True,
    ).start()


def _sigterm_watch(read_end: int, main_ident: int | None) -> None:
    import signal

    while True:
        try:
            data = os.read(read_end, 64)
        except OSError:
            return
        if not data:
            return
        if int(signal.SIGTERM) in data:
            break
    time.sleep(_SIGTERM_GRACE)
    if main_ident is not None and signal.getsignal(signal.SIGTERM) is _on_sigterm:
        # Still pending (the handler resets itself when it runs): interrupt the wait.
        logger.info("llm-cost-hooks: SIGTERM still pending after %ss; waking the main thread", _SIGTERM_GRACE)
        signal.pthread_kill(main_ident, signal.SIGTERM)
