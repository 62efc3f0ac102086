#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster on a local socket, then stop it:
#   scripts/with-postgres.sh COMMAND...   (TEST_DATABASE_URL is set for COMMAND)
# Installs PostgreSQL from Debian's packages if it is missing.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

run_as=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
  run_as=(runuser -u postgres --)
fi

cluster=$(mktemp -d /tmp/liaison-pg.XXXXXX)
chmod 755 "$cluster"
[ "$(id -u)" -eq 0 ] && chown postgres "$cluster"
stop() {
  "${run_as[@]}" "$bindir/pg_ctl" -D "$cluster/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$cluster"
}
trap stop EXIT

"${run_as[@]}" "$bindir/initdb" -D "$cluster/data" --auth=trust --username=postgres \
  --encoding=UTF8 --locale=C.UTF-8 >/dev/null
"${run_as[@]}" "$bindir/pg_ctl" -D "$cluster/data" -w -l "$cluster/server.log" start \
  -o "-c listen_addresses='' -c unix_socket_directories=$cluster -c fsync=off \
      -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null

export TEST_DATABASE_URL="postgresql+psycopg://postgres@/postgres?host=$cluster"
"$@"
