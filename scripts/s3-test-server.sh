#!/usr/bin/env bash
# Start a throwaway S3-compatible server (s3s-fs, from crates.io) for the server's media tests and
# print the environment a test needs.
#
#   eval "$(scripts/s3-test-server.sh)"       # exports ROADSIDE_TEST_S3_URL, _ENDPOINT, _ACCESS_KEY_ID, ...
#   nice -n 10 cargo test -p roadside-server --test media
#   scripts/s3-test-server.sh stop            # stop it and delete its files
#
# The binary is installed once with `cargo install s3s-fs --features binary --locked` into
# target/tools (reruns reuse it; the first install took 553 s on 2 cores shared with another
# build). s3s-fs 0.14.1 is the newest release that builds with rustc 1.95 (0.15+ need 1.96);
# override with S3S_FS_VERSION.
# The server keeps its objects under /tmp, listens on 127.0.0.1 on a free port and accepts fixed
# test credentials (test data only). The bucket `roadside-test` is a directory of its root.
# Prints only `export …` lines on stdout; progress goes to stderr.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${ROADSIDE_S3_DIR:-/tmp/roadside-s3-test}"
TOOLS="${ROADSIDE_TOOLS_DIR:-$ROOT_DIR/target/tools}"
VERSION="${S3S_FS_VERSION:-0.14.1}"
BIN="$TOOLS/bin/s3s-fs"
BUCKET="roadside-test"
ACCESS_KEY="roadside-test-key"
SECRET_KEY="roadside-test-secret-0123456789"

print_env() {
  local port="$1"
  echo "export ROADSIDE_TEST_S3_URL=s3://$BUCKET"
  echo "export ROADSIDE_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
  echo "export ROADSIDE_TEST_S3_ACCESS_KEY_ID=$ACCESS_KEY"
  echo "export ROADSIDE_TEST_S3_SECRET_ACCESS_KEY=$SECRET_KEY"
  echo "export ROADSIDE_TEST_S3_REGION=us-east-1"
}

if [[ "${1:-}" == "stop" ]]; then
  if [[ -f "$DIR/pid" ]]; then
    kill "$(cat "$DIR/pid")" 2>/dev/null || true
  fi
  rm -rf "$DIR"
  exit 0
fi

if [[ -f "$DIR/pid" && -f "$DIR/port" ]] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
  print_env "$(cat "$DIR/port")"
  exit 0
fi

if [[ ! -x "$BIN" ]]; then
  echo "installing s3s-fs $VERSION into $TOOLS (once)" >&2
  start=$(date +%s)
  cargo install "s3s-fs@$VERSION" --features binary --locked --root "$TOOLS" >&2
  echo "s3s-fs installed in $(( $(date +%s) - start )) s" >&2
fi

rm -rf "$DIR"
mkdir -p "$DIR/data/$BUCKET"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "$PORT" > "$DIR/port"

nohup "$BIN" --host 127.0.0.1 --port "$PORT" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
  "$DIR/data" >"$DIR/server.log" 2>&1 &
echo $! > "$DIR/pid"

for _ in $(seq 1 100); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then
    print_env "$PORT"
    exit 0
  fi
  if ! kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then break; fi
  sleep 0.1
done
echo "s3s-fs did not start:" >&2
cat "$DIR/server.log" >&2
exit 1
