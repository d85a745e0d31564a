"""Start the tests' Redis Stack server on a free port, run a command with its URL as the
last argument, stop the server. From the repository root:
python bench/results/concurrency-2026-12-07d/with_redis.py PYTHON SCRIPT"""

import subprocess
import sys

from tests._servers import RedisServer

server = RedisServer().start()
try:
    code = subprocess.call([*sys.argv[1:], server.url])
finally:
    server.close()
sys.exit(code)
