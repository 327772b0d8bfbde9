#!/usr/bin/env bash
# Run a throwaway PostgreSQL server for the leaderboard (and its tests) on 127.0.0.1.
#
#   infra/local/postgres.sh start DIR PORT   # initdb DIR if empty, start, print the URL
#   infra/local/postgres.sh stop DIR         # stop the server whose data lives in DIR
#
# Uses Debian's packages (`apt-get install -y postgresql`), whose binaries live under
# /usr/lib/postgresql/<version>/bin. Trust authentication on loopback only: for development and CI,
# never for a shared machine. Run as root, the server runs as the `postgres` user.
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
action=$1
dir=$(realpath -m "$2")
port=${3:-5432}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z "$bindir" ]]; then
  echo "PostgreSQL is not installed: apt-get update && apt-get install -y postgresql" >&2
  exit 1
fi

as_owner() {  # run a PostgreSQL binary as the data directory's owner (postgres when we are root)
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    [[ $# -eq 3 ]] || usage
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; chmod 700 "$dir"; fi
    if [[ ! -s "$dir/PG_VERSION" ]]; then
      as_owner "$bindir/initdb" -D "$dir" -U postgres --auth-local=trust --auth-host=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
        || { cat "$dir.initdb.log" >&2; exit 1; }
    fi
    if as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      echo "already running in $dir" >&2
    else
      # Sockets in the data directory, TCP on loopback only.
      as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=100" start >/dev/null
    fi
    as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'arena'" | grep -q 1 \
      || as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres arena
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/arena"
    ;;
  stop)
    if [[ -s "$dir/PG_VERSION" ]]; then
      as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    fi
    echo "stopped $dir" >&2
    ;;
  *) usage ;;
esac
