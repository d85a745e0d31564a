su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/fleet_srv/pg -o '-p 55432 -k /tmp/fleet_srv -h 127.0.0.1 -c max_connections=40' -l /tmp/fleet_srv/pg.log -m fast $1" >/dev/null
