#!/usr/bin/env bash
# FFI benchmarks on the JVM (issue 6), printed, never asserted; figures go to BENCHMARKS.md.
#
#   scripts/bench-jvm.sh
#
# 1. Builds the release core library (what the JVM loads through JNA) and the Rust-only reference
#    (uniffi-bindgen/examples/ffi_reference.rs).
# 2. Writes a 1 GiB file of random bytes under target/tmp (deleted at the end) and warms the page cache.
# 3. Runs android/shell's FfiBenchmark (opt-in JUnit test): guidance p50/p99 from Kotlin against the
#    same call from Rust, and hashing the file through the FFI against hash_file from Rust, rounds
#    alternated in the same run.
# 4. Builds the mobile profile (release-mobile) and prints the library's size, and its size stripped.
#
# Environment: ROADSIDE_BENCH_ROUNDS (hash rounds, default 5), ROADSIDE_BENCH_MIB (file size, 1024).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${ROADSIDE_BENCH_ROUNDS:-5}"
mib="${ROADSIDE_BENCH_MIB:-1024}"

echo "== build the release library and the Rust reference"
cargo build -p roadside-core --release --locked
cargo build -p uniffi-bindgen --release --example ffi_reference --locked

mkdir -p target/tmp
file="$(mktemp -p target/tmp bench-evidence-XXXXXX.bin)"
trap 'rm -f "$file"' EXIT
echo "== write ${mib} MiB of random bytes to $file"
head -c "$((mib * 1024 * 1024))" /dev/urandom >"$file"
cat "$file" >/dev/null   # page cache

echo "== JVM benchmark (Kotlin through JNA vs Rust)"
mvn -q -B -f android/shell/pom.xml test -Dtest=FfiBenchmark -Dsurefire.failIfNoSpecifiedTests=false \
  -Droadside.bench=true \
  -Droadside.native.dir="$PWD/target/release" \
  -Droadside.bench.rustref="$PWD/target/release/examples/ffi_reference" \
  -Droadside.bench.file="$PWD/$file" \
  -Droadside.bench.rounds="$rounds"
cat android/shell/target/bench-jvm.txt

echo "== size of the mobile library (profile release-mobile, host target $(rustc -vV | sed -n 's/^host: //p'))"
cargo build -p roadside-core --profile release-mobile --locked
so="target/release-mobile/libroadside_core.so"
stripped="$(mktemp -p target/tmp libroadside_core.stripped.XXXXXX.so)"
strip --strip-all -o "$stripped" "$so"
printf '%-40s %10s bytes (%.1f MiB)\n' "$so" "$(stat -c %s "$so")" "$(echo "$(stat -c %s "$so") / 1048576" | bc -l)"
printf '%-40s %10s bytes (%.1f MiB)\n' "stripped (strip --strip-all)" "$(stat -c %s "$stripped")" "$(echo "$(stat -c %s "$stripped") / 1048576" | bc -l)"
if [ -f target/release-mobile/libroadside_core.a ]; then
  printf '%-40s %10s bytes\n' "target/release-mobile/libroadside_core.a" "$(stat -c %s target/release-mobile/libroadside_core.a)"
fi
rm -f "$stripped"
