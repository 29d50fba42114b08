#!/usr/bin/env bash
# Build the independent witness the witness test (tests/tests/witness.rs) submits checkpoints to:
# `litewitness` and its admin tool `witnessctl` from the Go module filippo.io/torchwood (a C2SP
# tlog-witness implementation written by others), at a pinned version, from the Go module proxy
# into target/tools (reruns reuse them). Prints the `export` line the test needs on stdout;
# progress goes to stderr.
#
#   eval "$(scripts/witness-tools.sh)"     # exports ROADSIDE_LITEWITNESS_DIR
#   cargo test -p roadside-tests --test witness
#
# Needs Go ≥ 1.24 (Debian's golang-go, installed when missing) and ssh-agent / ssh-add /
# ssh-keygen (Debian's openssh-client, installed when missing): litewitness takes its key from an
# ssh-agent. Override the version with TORCHWOOD_VERSION.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
VERSION="${TORCHWOOD_VERSION:-v0.6.1}"
TOOLS="${ROADSIDE_TOOLS_DIR:-$ROOT_DIR/target/tools}"
DIR="$TOOLS/torchwood-$VERSION"

need_apt=()
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
command -v ssh-agent >/dev/null 2>&1 || need_apt+=(openssh-client)
if (( ${#need_apt[@]} > 0 )); then
  echo "installing ${need_apt[*]} (Debian)" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi

if [[ ! -x "$DIR/bin/litewitness" || ! -x "$DIR/bin/witnessctl" ]]; then
  echo "building litewitness and witnessctl (filippo.io/torchwood $VERSION) into $DIR (once)" >&2
  mkdir -p "$DIR/bin"
  GOBIN="$DIR/bin" GOFLAGS=-buildvcs=false go install \
    "filippo.io/torchwood/cmd/litewitness@$VERSION" \
    "filippo.io/torchwood/cmd/witnessctl@$VERSION" >&2
fi
echo "export ROADSIDE_LITEWITNESS_DIR=$DIR/bin"
