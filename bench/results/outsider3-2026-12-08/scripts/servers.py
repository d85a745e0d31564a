import sys
import time

sys.path.insert(0, "/work/wt/outsider3/tests")
from _servers import PostgresServer, RedisServer

pg = PostgresServer().start()
db = pg.create_database("llm_costs")
rs = RedisServer().start()
print("PG", db, flush=True)
print("REDIS", f"redis://127.0.0.1:{rs.port}", flush=True)
try:
    time.sleep(3600)
finally:
    rs.close()
    pg.close()
