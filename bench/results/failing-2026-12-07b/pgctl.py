import os
import sys

sys.path.insert(0, "/work/wt/failing/tests")
from _servers import PostgresServer

fifo = "/tmp/fail_s/pg.fifo"
if not os.path.exists(fifo):
    os.mkfifo(fifo)
pg = PostgresServer().start()
open("/tmp/fail_s/pg.url", "w").write(pg.url)  # noqa: SIM115
print("up", pg.url, flush=True)
while True:
    with open(fifo) as f:
        for line in f:
            cmd = line.strip()
            if cmd == "stop":
                pg.stop()
                print("stopped", flush=True)
            elif cmd == "start":
                pg.start()
                print("started", flush=True)
            elif cmd.startswith("db "):
                print("db", pg.create_database(cmd[3:]), flush=True)
            elif cmd == "quit":
                pg.close()
                print("quit", flush=True)
                sys.exit(0)
