# gunicorn --preload -w 3, 60 requests, one user: all records must carry one user hash.
set -u
rm -rf gunicorn_salt.db* g2.sock
cp "$(dirname "$0")/f2_app.py" app_salt.py
gunicorn --preload -w 3 -b unix:$PWD/g2.sock app_salt:app > gunicorn_salt.log 2>&1 &
G=$!
for i in $(seq 50); do [ -S g2.sock ] && break; sleep 0.2; done
sleep 1
ok=0; for i in $(seq 60); do curl -s --unix-socket $PWD/g2.sock http://x/ >/dev/null && ok=$((ok+1)); done
echo "WARM=${WARM:-0} requests ok: $ok"
kill -TERM $G; wait $G; echo "gunicorn exit $?"
python -c "
import sqlite3; c=sqlite3.connect('gunicorn_salt.db')
print('records per user hash:', [(u[:12]+'...', n) for u, n in c.execute('select \"user\", count(*) from cost_records group by \"user\"').fetchall()])
print('salt rows:', c.execute(\"select count(*) from llm_cost_meta where key='user_hash_salt'\").fetchone()[0])"
grep -i "salt\|error\|lost" gunicorn_salt.log | cut -c1-200 | head
