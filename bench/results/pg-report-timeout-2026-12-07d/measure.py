"""How long `llm-cost report postgresql://...` takes to fail when the server is cut off
by the network (a black-hole proxy: connections accepted, nothing answered), with the
partition at connect time and after the connection (mid-report).

Run from the repository root, with the test servers (PostgreSQL) available:
    PYTHONPATH=$PWD:$PWD/tests python bench/results/pg-report-timeout-2026-12-07d/measure.py [repeats] [timeout] [cap]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid

from _netfault import NetFault
from _servers import PostgresServer

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
LIMIT = sys.argv[2] if len(sys.argv) > 2 else "2"
CAP = float(sys.argv[3]) if len(sys.argv) > 3 else 600.0  # a run still waiting then is killed

# The partition after the connection: the report connects and checks the schema, then
# the proxy drops everything (the same wrapper the regression test uses, in the child).
MID = """
import sys, urllib.request
from llm_cost_hooks.ledger import _postgres
from llm_cost_hooks.cli import main
real = _postgres.connect_for_reports
def connect_then_partition(url):
    conn = real(url)
    urllib.request.urlopen(sys.argv[2]).read()  # asks the proxy's owner to black-hole it
    return conn
_postgres.connect_for_reports = connect_then_partition
raise SystemExit(main(["report", sys.argv[1]]))
"""


def main() -> None:
    server = PostgresServer()  # a throwaway cluster in a temporary directory
    server.start()
    try:
        run(server)
    finally:
        server.close()


def run(server: PostgresServer) -> None:
    import http.server
    import threading

    direct = server.create_database("m_" + uuid.uuid4().hex[:12])
    env = {**os.environ, "LLM_COST_HOOKS_LEDGER_READ_TIMEOUT": LIMIT}
    times: dict[str, list[float]] = {"at connect": [], "mid-report": []}
    last = ""
    for _ in range(REPEATS):
        for case in times:
            with NetFault(server.port) as net:
                url = net.url("postgresql", "/" + direct.rsplit("/", 1)[1]).replace("://", "://postgres@")

                class Hole(http.server.BaseHTTPRequestHandler):
                    def do_GET(self) -> None:
                        net.blackhole()
                        self.send_response(200)
                        self.end_headers()

                    def log_message(self, *a: object) -> None:
                        pass

                httpd = http.server.HTTPServer(("127.0.0.1", 0), Hole)
                threading.Thread(target=httpd.serve_forever, daemon=True).start()
                hole = f"http://127.0.0.1:{httpd.server_address[1]}/"
                if case == "at connect":
                    net.blackhole()
                    cmd = [sys.executable, "-m", "llm_cost_hooks.cli", "report", url]
                else:
                    cmd = [sys.executable, "-c", MID, url, hole]
                t = time.monotonic()
                try:
                    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=CAP)
                except subprocess.TimeoutExpired:
                    print(f"{case}: still waiting after {CAP:g} s, killed")
                    continue
                finally:
                    httpd.shutdown()
                took = time.monotonic() - t
                assert done.returncode == 2, (done.returncode, done.stderr)
                times[case].append(took)
                last = done.stderr.strip().splitlines()[-1]
    for case, values in times.items():
        if not values:
            continue
        print(
            f"{case}: n={len(values)} median {statistics.median(values):.2f} s, "
            f"min {min(values):.2f} s, max {max(values):.2f} s (process start included)"
        )
    print("last message:", last)


if __name__ == "__main__":
    main()
