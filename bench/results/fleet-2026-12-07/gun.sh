. ./run1.sh
cls=$1; reset; rm -rf out_g_$cls; mkdir out_g_$cls
export LLM_COST_HOOKS_LEDGER=$U REDIS_URL=redis://127.0.0.1:56379
/tmp/fleet_venv/bin/gunicorn --preload -w 3 -k $cls --threads 2 -b 127.0.0.1:58000 --pid /tmp/fleet_run/gun.pid app:app >out_g_$cls/gun.log 2>&1 &
for i in $(seq 60); do curl -s -o /dev/null 127.0.0.1:58000/health 2>/dev/null && break; sleep 0.5; done
$PY - <<'P' > out_g_$cls/calls.txt
import urllib.request, json, collections
from concurrent.futures import ThreadPoolExecutor
def one(_): return json.loads(urllib.request.urlopen("http://127.0.0.1:58000/").read())
with ThreadPoolExecutor(6) as ex: res = list(ex.map(one, range(300)))
c = collections.Counter((r["pid"], r["tenant"]) for r in res)
print(json.dumps([{"pid": p, "tenant": t, "made": n, "failed": 0} for (p, t), n in c.items()]))
P
kill -TERM $(cat /tmp/fleet_run/gun.pid); sleep 6
$PY -c "
import json; [open('out_g_$cls/calls.jsonl','a').write(json.dumps(x)+'\n') for x in json.load(open('out_g_$cls/calls.txt'))]"
$PY check.py $U out_g_$cls
tail -3 out_g_$cls/gun.log
