#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for the test suite.
#
#   eval "$(scripts/test-cluster.sh start DIR)"   # prints `export DATABASE_URL=...`
#   scripts/test-cluster.sh stop DIR
#
# The cluster listens on a Unix socket inside DIR only, trades durability for
# speed (fsync off: it is thrown away), and runs as the `postgres` account when
# started by root, since PostgreSQL refuses to run as root.
set -euo pipefail

cmd=${1:?usage: test-cluster.sh start|stop DIR}
dir=${2:?usage: test-cluster.sh start|stop DIR}

find_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin /usr/bin; do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then echo "$d"; return; fi
    done
    echo "PostgreSQL server binaries not found: install them (Debian/Ubuntu: apt-get install postgresql-15) or set PG_BIN" >&2
    exit 1
}

as_server() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

bin=$(find_bin)
case "$cmd" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ $(id -u) -eq 0 ]]; then
        # The postgres account must be able to reach the folder: put it under
        # /tmp (or another folder open to it), not under root's home.
        chmod 755 "$dir"
        chown postgres: "$dir"
    fi
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        as_server "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    cat >"$dir/data/postgresql.auto.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = '256MB'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    if ! as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 start >/dev/null \
            || { cat "$dir/server.log" >&2; exit 1; }
    fi
    enc=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$dir" 2>/dev/null \
          || printf '%s' "$dir" | sed 's|/|%2F|g')
    echo "export DATABASE_URL='postgres://postgres@${enc}/postgres'"
    echo "export PG_BIN='$bin'"
    ;;
stop)
    if [[ -f "$dir/data/PG_VERSION" ]]; then
        as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: test-cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
