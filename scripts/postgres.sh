#!/usr/bin/env bash
# Installs PostgreSQL from Debian if needed, starts it on loopback and makes a test role that may
# create databases. Prints the admin URL the test suite uses (MANDAT_TEST_POSTGRES). Idempotent.
set -euo pipefail
# Only the URL goes to stdout: tools below (pg_ctlcluster, apt) may print notices, and the caller
# captures stdout whole.
exec 3>&1 1>&2
SUDO=""
AS_PG=(runuser -u postgres --)
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; AS_PG=(sudo -u postgres); fi
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "postgres: installing Debian's postgresql" >&2
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! $SUDO pg_lsclusters -h | grep -q "^$version main"; then
  $SUDO pg_createcluster "$version" main >/dev/null
fi
# Debian's default listens on localhost only; say so explicitly.
conf="/etc/postgresql/$version/main/postgresql.conf"
$SUDO grep -q "^listen_addresses = 'localhost'" "$conf" || echo "listen_addresses = 'localhost'" | $SUDO tee -a "$conf" >/dev/null
if ! $SUDO pg_lsclusters -h | grep -q "^$version main .* online"; then
  # 3>&-: the server must not inherit the caller's pipe, or $(scripts/postgres.sh) never returns.
  $SUDO pg_ctlcluster "$version" main start 3>&-
fi
for _ in $(seq 1 30); do
  "${AS_PG[@]}" psql -qAtc "select 1" >/dev/null 2>&1 && break
  sleep 0.5
done
# A throwaway role for tests on loopback; never used outside them.
"${AS_PG[@]}" psql -qAtc "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mandat_test') THEN
    CREATE ROLE mandat_test LOGIN CREATEDB PASSWORD 'mandat-test-only';
  END IF; END \$\$;" >/dev/null
# Databases left by earlier test runs; FORCE ends the connections of a process an interrupted run
# left behind, which would otherwise hold the drop (and this script) forever.
for db in $("${AS_PG[@]}" psql -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'mandat_t_%'"); do
  "${AS_PG[@]}" psql -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
done
port=$("${AS_PG[@]}" psql -qAtc "SHOW port")
echo "postgres://mandat_test:mandat-test-only@127.0.0.1:${port}/postgres" >&3
