import sys
import time

import psycopg

cs = []
while True:
    try:
        cs.append(psycopg.connect(sys.argv[1]))
    except Exception as e:
        print("holding", len(cs), str(e).splitlines()[0][-60:], flush=True)
        break
time.sleep(float(sys.argv[2]))
