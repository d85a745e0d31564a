set -u
rm -f gunicorn.db* ; rm -rf gunicorn.db.writers
cp "$(dirname "$0")/s14_app.py" app14.py
gunicorn --preload -w 3 -b unix:$PWD/g.sock app14:app > gunicorn.log 2>&1 &
G=$!
for i in $(seq 50); do [ -S g.sock ] && break; sleep 0.2; done
sleep 1
ok=0; for i in $(seq 60); do curl -s --unix-socket $PWD/g.sock http://x/ >/dev/null && ok=$((ok+1)); done
echo "requests ok: $ok"
kill -TERM $G; wait $G; echo "gunicorn exit $?"
python -c "
import sqlite3; c=sqlite3.connect('gunicorn.db'); print(c.execute('select tenant, count(*) from cost_records group by tenant').fetchall())"
grep -i "closed\|error\|lost" gunicorn.log | cut -c1-200 | head
