#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the tests and prints its URL (last line).
# Runs as root; the server runs as user postgres. fsync is off: this cluster holds test data only.
set -euo pipefail
D=${1:-/tmp/paved-pg}; PORT=${2:-55432}
BIN=/usr/lib/postgresql/15/bin
if runuser -u postgres -- "$BIN/pg_ctl" -D "$D/data" status >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:$PORT/postgres"; exit 0
fi
rm -rf "$D"; mkdir -p "$D"; chown postgres:postgres "$D"
runuser -u postgres -- "$BIN/initdb" -D "$D/data" -U postgres -A trust -E UTF8 --no-locale >"$D/initdb.log"
runuser -u postgres -- "$BIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w -t 30 \
  -o "-p $PORT -k $D -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
echo "postgres://postgres@127.0.0.1:$PORT/postgres"
