#!/usr/bin/env bash
# Install the stock tus clients the conformance test (server/tests/tus_clients.rs) drives, unmodified:
# tuspy from PyPI into a virtualenv and tus-js-client from npm, at pinned versions, under
# target/tus-clients (reruns reuse them). Prints the `export` line the test needs on stdout;
# progress goes to stderr.
#
#   eval "$(scripts/tus-clients.sh)"     # exports ROADSIDE_TUS_CLIENTS
#   cargo test -p roadside-server --test tus_clients
#
# Needs python3 (with venv) and npm (Node.js ≥ 18). Override the versions with TUSPY_VERSION and
# TUS_JS_CLIENT_VERSION.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${ROADSIDE_TUS_CLIENTS_DIR:-$ROOT_DIR/target/tus-clients}"
TUSPY_VERSION="${TUSPY_VERSION:-1.1.0}"
TUS_JS_CLIENT_VERSION="${TUS_JS_CLIENT_VERSION:-4.3.1}"
STAMP="$DIR/installed-tuspy-$TUSPY_VERSION-tus-js-client-$TUS_JS_CLIENT_VERSION"

if [[ ! -f "$STAMP" ]]; then
  rm -rf "$DIR"
  mkdir -p "$DIR/node"
  echo "installing tuspy $TUSPY_VERSION (PyPI) into $DIR/venv" >&2
  python3 -m venv "$DIR/venv" >&2
  "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check "tuspy==$TUSPY_VERSION" >&2
  echo "installing tus-js-client $TUS_JS_CLIENT_VERSION (npm) into $DIR/node" >&2
  (cd "$DIR/node" && npm install --silent --no-audit --no-fund --prefix . "tus-js-client@$TUS_JS_CLIENT_VERSION" >&2)
  touch "$STAMP"
fi
echo "export ROADSIDE_TUS_CLIENTS=$DIR"
