#!/usr/bin/env bash
# The core on ARM64, the phones' architecture, in the mobile configuration (feature `mobile`: SQLCipher
# on OpenSSL built from source and linked statically, as in the Android app; scripts/mobile-lib.sh):
#   1. cross-builds the core's tests for aarch64-unknown-linux-gnu (Debian's gcc-aarch64-linux-gnu) and
#      runs them under qemu-aarch64 (Debian's qemu-user): alignment, the byte encodings, SHA-256 and
#      Ed25519 on their ARMv8 code paths, SQLCipher on the vendored OpenSSL and the store, on ARM64;
#   2. checks the library against the packaging rules (no OpenSSL library needed, 16 KB pages, only
#      UniFFI symbols exported) and that SQLCipher runs on the vendored OpenSSL, not a system one;
#   3. store compatibility both ways: a store written by the ARM64 mobile build is checked and extended
#      by the desktop build (x86-64, system libcrypto), and the other way round;
#   4. with ROADSIDE_ARM64_RELEASE=1 (not in the test command: it is the slowest build of all), builds
#      the shipped library (profile release-mobile) for ARM64, checks it the same way and reports its
#      size stripped, failing above the guard in scripts/mobile-lib.sh.
# Everything is built under target/aarch64-unknown-linux-gnu/ and reused by the next run.
#
# Part of scripts/test-all.sh (run after the workspace tests, which build the desktop example);
# on its own: scripts/test-arm64.sh (root or sudo for apt-get, rustup for the Rust target).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/mobile-lib.sh

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu

need_pkgs=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null 2>&1 || need_pkgs+=(qemu-user)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)              # OpenSSL's build (openssl-src)
perl -MIPC::Cmd -e 1 >/dev/null 2>&1 || need_pkgs+=(perl)         # OpenSSL's Configure
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx "$target"; then
  echo "== rustup target add $target"
  rustup target add "$target"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $sysroot"
export QEMU_LD_PREFIX="$sysroot"
# A test that starts its own binary again (document_pdf: a render in another process) goes through it.
export ROADSIDE_TEST_RUNNER="$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER"
features=(--features "$MOBILE_FEATURES")
tdir="${CARGO_TARGET_DIR:-target}"

echo "== cross-build the core's tests for $target (features: default + $MOBILE_FEATURES)"
cargo test -p roadside-core "${features[@]}" --target "$target" --locked --no-run
# The library as a cdylib (what the app loads) and the store compatibility example of this build.
cargo build -p roadside-core --lib --example store_compat "${features[@]}" --target "$target" --locked

echo "== the ARM64 mobile library against the packaging rules"
check_mobile_lib "$tdir/$target/debug/libroadside_core.so"

echo "== the core's tests on ARM64 under qemu-aarch64"
cargo test -p roadside-core "${features[@]}" --target "$target" --locked

echo "== the desktop build (system libcrypto) for comparison: the check refuses its library"
cargo build -p roadside-core --lib --example store_compat --locked
if refused="$(check_mobile_lib "$tdir/debug/libroadside_core.so" 2>&1)"; then
  echo "FAIL the packaging check accepts the desktop library, which needs the system libcrypto" >&2
  exit 1
fi
grep -q 'needs an OpenSSL library' <<<"$refused" || { echo "FAIL unexpected refusal: $refused" >&2; exit 1; }
echo "   refused as it should be: $refused"

echo "== store compatibility: ARM64 mobile build <-> x86-64 desktop build"
desktop="$tdir/debug/examples/store_compat"
mobile="$tdir/$target/debug/examples/store_compat"
vendored="$(sed -n '/^name = "openssl-src"$/{n;s/^version = ".*+\(.*\)"$/\1/p}' Cargo.lock)"
[ -n "$vendored" ] || { echo "FAIL no openssl-src in Cargo.lock" >&2; exit 1; }
compat="$(mktemp -d)"
trap 'rm -rf "$compat"' EXIT
mkdir "$compat/from-mobile" "$compat/from-desktop"
w_mobile="$(qemu-aarch64 -L "$sysroot" "$mobile" write "$compat/from-mobile")"
echo "   mobile wrote:   $w_mobile"
if ! grep -qF '"configuration":"mobile"' <<<"$w_mobile" ||
  ! grep -qF "\"cipher_provider_version\":\"OpenSSL $vendored " <<<"$w_mobile"; then
  echo "FAIL the mobile build does not run SQLCipher on the vendored OpenSSL $vendored" >&2
  exit 1
fi
echo "   desktop read:   $("$desktop" check "$compat/from-mobile")"
w_desktop="$("$desktop" write "$compat/from-desktop")"
echo "   desktop wrote:  $w_desktop"
echo "   mobile read:    $(qemu-aarch64 -L "$sysroot" "$mobile" check "$compat/from-desktop")"

if [ "${ROADSIDE_ARM64_RELEASE:-0}" != 1 ]; then
  # The optimised build (LTO over the whole dependency tree and OpenSSL) takes longer than the rest
  # of this script on a cold target; the checks above ran on the same code unoptimised. Its size
  # is measured with ROADSIDE_ARM64_RELEASE=1 and recorded in BENCHMARKS.md.
  echo "== the shipped library ($MOBILE_PROFILE): skipped (ROADSIDE_ARM64_RELEASE=1 builds, checks and sizes it)"
  exit 0
fi
echo "== the shipped library for $target (profile $MOBILE_PROFILE)"
cargo build -p roadside-core --lib "${features[@]}" --profile "$MOBILE_PROFILE" --target "$target" --locked
so="$tdir/$target/$MOBILE_PROFILE/libroadside_core.so"
check_mobile_lib "$so"
size="$(stripped_size "$so" aarch64-linux-gnu-strip)"
echo "   $so: $(stat -c %s "$so") bytes as built, $size bytes stripped"
if [ "$size" -gt "$MOBILE_MAX_STRIPPED_BYTES" ]; then
  echo "FAIL the ARM64 mobile library is over $((MOBILE_MAX_STRIPPED_BYTES >> 20)) MiB stripped ($size bytes)" >&2
  exit 1
fi
