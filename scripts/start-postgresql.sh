#!/usr/bin/env bash
# Start Debian's PostgreSQL on loopback for development and CI (as root, without systemd),
# with a role `vpsorg` (password `vpsorg`) that may create databases, and print the URL
# the tests take as VPSORG_TEST_DATABASE_URL. Durability is traded for speed (fsync off):
# this cluster holds test data only; never run this on a production database.
set -euo pipefail

version=$(ls /usr/lib/postgresql | sort -n | tail -1)
cluster=${PG_CLUSTER:-main}
if ! pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c' | grep -q .; then
    pg_createcluster "$version" "$cluster" >/dev/null
fi
conf=/etc/postgresql/$version/$cluster/conf.d/vpsorg-tests.conf
cat >"$conf" <<CONF
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
CONF
pg_ctlcluster "$version" "$cluster" status >/dev/null 2>&1 || pg_ctlcluster "$version" "$cluster" start
port=$(pg_lsclusters -h | awk -v v="$version" -v c="$cluster" '$1==v && $2==c {print $3}')
for _ in $(seq 1 60); do
    su postgres -c "psql -p $port -qAtc 'select 1'" >/dev/null 2>&1 && break
    sleep 0.5
done
su postgres -c "psql -p $port -qAt" <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vpsorg') THEN
    CREATE ROLE vpsorg LOGIN PASSWORD 'vpsorg' CREATEDB;
  END IF;
END \$\$;
SQL
echo "postgresql+psycopg://vpsorg:vpsorg@127.0.0.1:$port/postgres"
