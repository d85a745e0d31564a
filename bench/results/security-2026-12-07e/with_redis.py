"""Start a throwaway Redis Stack (the test suite's server helper), run PYTHON SCRIPT with
REDIS_URL set to it, print its output, stop the server."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests"))
from _servers import RedisServer

srv = RedisServer()
srv.start()
try:
    env = dict(os.environ, REDIS_URL=srv.url)
    r = subprocess.run([sys.argv[1], sys.argv[2]], env=env, capture_output=True, text=True)
    print(r.stdout, r.stderr[-2000:])
finally:
    srv.close()
