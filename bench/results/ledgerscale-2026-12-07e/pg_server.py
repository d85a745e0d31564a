"""Start a throwaway PostgreSQL server (the tests' ``PostgresServer``, durable), create a
database, write its URL to the file given, and keep the server until this process gets
SIGTERM or SIGINT (then the server and its data directory go)."""

from __future__ import annotations

import signal
import sys
import threading

sys.path.insert(0, "tests")
from _servers import PostgresServer

server = PostgresServer(durable=True).start()
try:
    url = server.create_database("ledgerscale")
    with open(sys.argv[1], "w") as f:
        f.write(url)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
finally:
    server.close()
