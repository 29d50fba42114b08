#!/usr/bin/env bash
# Builds ios/build/roadside_coreFFI.xcframework: the core as a static library for iOS devices
# (aarch64-apple-ios) and the simulators (aarch64-apple-ios-sim + x86_64-apple-ios, merged with lipo),
# with the generated C header and module map, for the Swift package in ios/ (Package.swift).
# Profile release-mobile: opt-level "s", LTO, debug info stripped, panic = "unwind" (so a core panic
# reaches Swift as an error instead of aborting the app).
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

profile=release-mobile
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-16.0}"

for t in "${targets[@]}"; do
  echo "== cargo build --target $t --profile $profile"
  cargo build -p roadside-core --lib --locked --target "$t" --profile "$profile"
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
