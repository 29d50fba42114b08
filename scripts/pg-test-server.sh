#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the server's PostgreSQL tests and print its URL.
#
#   export ROADSIDE_TEST_PG_URL="$(scripts/pg-test-server.sh)"
#   nice -n 10 cargo test -p roadside-server
#   scripts/pg-test-server.sh stop            # stop it and delete its files
#
# Uses Debian's PostgreSQL (apt-get install postgresql; 15 on bookworm, or whatever one version is
# installed under /usr/lib/postgresql). The cluster lives under /tmp, listens on 127.0.0.1 on a free
# port, trusts local connections (test data only) and runs as the `postgres` user when started by
# root (initdb refuses root), as the calling user otherwise. Prints only the URL on stdout.
set -euo pipefail

DIR="${ROADSIDE_PG_DIR:-/tmp/roadside-pg-test}"
BIN="${ROADSIDE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [[ -z "$BIN" || ! -x "$BIN/initdb" ]]; then
  echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 1
fi

as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [[ "${1:-}" == "stop" ]]; then
  if [[ -f "$DIR/data/postmaster.pid" ]]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$DIR"
  exit 0
fi

if [[ -f "$DIR/port" ]] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:$(cat "$DIR/port")/postgres"
  exit 0
fi

rm -rf "$DIR"
mkdir -p "$DIR"
if [[ "$(id -u)" == 0 ]]; then chown postgres: "$DIR"; fi

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "$PORT" > "$DIR/port"

as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2 || { cat "$DIR/server.log" >&2; exit 1; }

echo "postgres://postgres@127.0.0.1:$PORT/postgres"
