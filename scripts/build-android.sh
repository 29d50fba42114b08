#!/usr/bin/env bash
# Builds the native core for the Android app, one libroadside_core.so per ABI into
# android/app/src/main/jniLibs/<abi>/, with the mobile configuration the ARM64 proof in the test
# command builds and checks (scripts/mobile-lib.sh: feature `mobile`, SQLCipher on OpenSSL built from
# source and linked statically; profile release-mobile; 16 KB page alignment from core/build.rs), then
# checks every library against the same packaging rules and prints its size stripped.
# The app's Gradle build runs it before packaging (android/app/build.gradle.kts, task cargoNdk).
#
# Needs the Android NDK (r26+, ANDROID_NDK_HOME), cargo-ndk and the Rust targets (android/README.md):
#   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
#   cargo install cargo-ndk
#
#   scripts/build-android.sh                 # every ABI the app ships
#   scripts/build-android.sh arm64-v8a       # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/mobile-lib.sh

abis=("$@")
[ ${#abis[@]} -gt 0 ] || abis=(arm64-v8a armeabi-v7a x86_64)
out=android/app/src/main/jniLibs

if [ -z "${ANDROID_NDK_HOME:-}" ] || [ ! -d "$ANDROID_NDK_HOME" ]; then
  echo "build-android.sh needs ANDROID_NDK_HOME set to an Android NDK (r26+); see android/README.md" >&2
  exit 1
fi
strip_tool="$(ls "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin/llvm-strip 2>/dev/null | head -n 1)"
[ -n "$strip_tool" ] || { echo "no llvm-strip in $ANDROID_NDK_HOME" >&2; exit 1; }

ndk_targets=()
for abi in "${abis[@]}"; do ndk_targets+=(-t "$abi"); done

echo "== cargo ndk ${ndk_targets[*]} -P 26 -o $out build -p roadside-core --lib --features $MOBILE_FEATURES --profile $MOBILE_PROFILE --locked"
cargo ndk "${ndk_targets[@]}" -P 26 -o "$out" \
  build -p roadside-core --lib --features "$MOBILE_FEATURES" --profile "$MOBILE_PROFILE" --locked

for abi in "${abis[@]}"; do
  so="$out/$abi/libroadside_core.so"
  check_mobile_lib "$so"
  size="$(stripped_size "$so" "$strip_tool")"
  echo "   $abi: $size bytes stripped"
  if [ "$size" -gt "$MOBILE_MAX_STRIPPED_BYTES" ]; then
    echo "FAIL $so is over $((MOBILE_MAX_STRIPPED_BYTES >> 20)) MiB stripped" >&2
    exit 1
  fi
done
