#!/usr/bin/env bash
# Regenerates the committed Kotlin and Swift bindings from the current core library, with the
# workspace's own uniffi-bindgen (same uniffi version as the library) and uniffi-bindgen/uniffi.toml.
# Run it after changing the core's exported (UniFFI) surface; the test
# `cargo test -p uniffi-bindgen --test generate` fails while the committed copies are stale.
#
#   scripts/gen-bindings.sh
#
# Writes:
#   android/shell/src/main/kotlin/uniffi/roadside_core/roadside_core.kt
#   ios/Sources/RoadsideCore/roadside_core.swift
#   ios/Generated/roadside_coreFFI.h
#   ios/Generated/roadside_coreFFI.modulemap
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -p roadside-core -p uniffi-bindgen --locked
lib="target/debug/libroadside_core.so"
[ "$(uname)" = Darwin ] && lib="target/debug/libroadside_core.dylib"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for lang in kotlin swift; do
  target/debug/uniffi-bindgen generate --library "$lib" --config uniffi-bindgen/uniffi.toml \
    --language "$lang" --no-format --out-dir "$tmp/$lang"
done

install -D -m 644 "$tmp/kotlin/uniffi/roadside_core/roadside_core.kt" \
  android/shell/src/main/kotlin/uniffi/roadside_core/roadside_core.kt
install -D -m 644 "$tmp/swift/roadside_core.swift" ios/Sources/RoadsideCore/roadside_core.swift
install -D -m 644 "$tmp/swift/roadside_coreFFI.h" ios/Generated/roadside_coreFFI.h
install -D -m 644 "$tmp/swift/roadside_coreFFI.modulemap" ios/Generated/roadside_coreFFI.modulemap
echo "bindings refreshed from $lib"
