"""A process that makes the ledger and exits at once, and one that forks right after making
it, against a black-holed URL (a port that listens and never accepts), before and after.

    cd "$(mktemp -d)" && python3 /work/wt/pghang/bench/results/pghang-2026-12-07b/fork_exit.py
"""

import os
import socket
import subprocess
import time

sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(64)
url = f"postgresql://postgres@127.0.0.1:{sock.getsockname()[1]}/nowhere"
code = {
    "exit_no_records": (
        "from llm_cost_hooks.ledger import PostgresLedger as P\n"
        "import time,sys\n"
        "t=time.time(); P(sys.argv[1]); print(round(time.time()-t,2))"
    ),
    "fork_right_after": (
        "from llm_cost_hooks.ledger import PostgresLedger as P\n"
        "import os,time,sys\n"
        "t=time.time(); P(sys.argv[1]); c=time.time()\n"
        "pid=os.fork()\n"
        "if pid==0: os._exit(0)\n"
        "f=time.time(); os.waitpid(pid,0); print(round(c-t,2), round(f-c,2))"
    ),
}
for name, src in code.items():
    for r in range(2):
        for v in ("before", "after"):
            t = time.time()
            out = subprocess.run(
                [f"/tmp/pghang_venv_{v}/bin/python", "-c", src, url],
                capture_output=True,
                text=True,
                env={"PATH": os.environ["PATH"]},
            )
            print(
                name, v, "round", r + 1, "printed", out.stdout.split(),
                "process wall", round(time.time() - t, 2), "load", round(os.getloadavg()[0], 1),
                flush=True,
            )  # fmt: skip
