#!/usr/bin/env bash
# Builds ios/build/roadside_coreFFI.xcframework: the core as a static library for iOS devices
# (aarch64-apple-ios) and the simulators (aarch64-apple-ios-sim + x86_64-apple-ios, merged with lipo),
# with the generated C header and module map, for the Swift package in ios/ (Package.swift).
# Profile release-mobile: opt-level "s", LTO, debug info stripped, panic = "unwind" (so a core panic
# reaches Swift as an error instead of aborting the app). Feature `mobile`, the core's mobile crypto
# configuration: on Apple targets it adds no OpenSSL, and rusqlite's bundled SQLCipher, built on macOS
# for an Apple target with no OpenSSL directory given, runs on CommonCrypto (SQLCIPHER_CRYPTO_CC) and
# Security's random numbers. Any OPENSSL_* / SQLCIPHER_OPENSSL_* setting (say, for Homebrew's OpenSSL)
# would make it link that OpenSSL instead, which iOS does not have, so they are cleared here, and each
# library is checked to call CommonCrypto and carry no OpenSSL.
#
# Needs macOS with Xcode (xcodebuild, lipo) and the Rust targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
#
#   scripts/build-xcframework.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname)" != Darwin ]; then
  echo "build-xcframework.sh needs macOS with Xcode (xcodebuild); see ios/README.md" >&2
  exit 1
fi

. scripts/mobile-lib.sh
profile="$MOBILE_PROFILE"
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-16.0}"
unset OPENSSL_DIR OPENSSL_LIB_DIR OPENSSL_INCLUDE_DIR \
  SQLCIPHER_OPENSSL_DIR SQLCIPHER_OPENSSL_LIB_DIR SQLCIPHER_OPENSSL_INCLUDE_DIR
for t in "${targets[@]}"; do
  tv="$(printf '%s' "$t" | tr 'a-z-' 'A-Z_')"
  unset "${tv}_OPENSSL_DIR" "${tv}_OPENSSL_LIB_DIR" "${tv}_OPENSSL_INCLUDE_DIR"
done

for t in "${targets[@]}"; do
  echo "== cargo build --target $t --features $MOBILE_FEATURES --profile $profile"
  cargo build -p roadside-core --lib --locked --target "$t" --features "$MOBILE_FEATURES" --profile "$profile"
  lib="target/$t/$profile/libroadside_core.a"
  # SQLCipher's CommonCrypto provider calls CCCrypt and CCHmac; its OpenSSL provider would call EVP_*.
  # (nm's whole output first: grep -q ending the pipe early would fail it under pipefail.)
  syms="$(nm "$lib" 2>/dev/null || true)"
  if ! grep -q ' U _CCHmac' <<<"$syms"; then
    echo "FAIL $lib does not call CommonCrypto: SQLCipher was not built on CommonCrypto" >&2
    exit 1
  fi
  if grep -q ' _EVP_' <<<"$syms"; then
    echo "FAIL $lib carries or needs OpenSSL (EVP_* symbols)" >&2
    exit 1
  fi
done

out=ios/build
rm -rf "$out/roadside_coreFFI.xcframework" "$out/headers" "$out/ios-simulator"
mkdir -p "$out/headers" "$out/ios-simulator"

# The module the generated Swift imports (`import roadside_coreFFI`): header + module.modulemap.
cp ios/Generated/roadside_coreFFI.h "$out/headers/"
cp ios/Generated/roadside_coreFFI.modulemap "$out/headers/module.modulemap"

# One library per platform: the two simulator architectures become one fat library.
lipo -create \
  "target/aarch64-apple-ios-sim/$profile/libroadside_core.a" \
  "target/x86_64-apple-ios/$profile/libroadside_core.a" \
  -output "$out/ios-simulator/libroadside_core.a"

xcodebuild -create-xcframework \
  -library "target/aarch64-apple-ios/$profile/libroadside_core.a" -headers "$out/headers" \
  -library "$out/ios-simulator/libroadside_core.a" -headers "$out/headers" \
  -output "$out/roadside_coreFFI.xcframework"

rm -rf "$out/headers" "$out/ios-simulator"
echo "== $out/roadside_coreFFI.xcframework"
du -sh "$out/roadside_coreFFI.xcframework"/*/libroadside_core.a
