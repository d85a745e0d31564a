"""Start the tests' throwaway PostgreSQL server, print a new database's URL, stop it on stdin EOF.

PYTHONPATH=tests python pg_server.py    # (the repository's venv: tests/_servers.py)
"""

import sys
import uuid

from _servers import PostgresServer

server = PostgresServer().start()
try:
    print(server.create_database("kill_" + uuid.uuid4().hex[:8]), flush=True)
    sys.stdin.read()
finally:
    server.close()
