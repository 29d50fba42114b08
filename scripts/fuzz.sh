#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, cargo-fuzz, nightly) and runs each from its committed seeds
# (fuzz/seeds/<target>) for a bounded time. Any crash, panic, failed assertion, input over the time
# limit (25 s) or memory limit stops that target, leaves the input in fuzz/artifacts/<target>/
# and makes this script fail.
#
# Usage: scripts/fuzz.sh SECONDS [TARGET...]   (all targets when none is named)
# Needs `cargo fuzz` on PATH and the nightly toolchain (scripts/test-all.sh installs both).
# New inputs the fuzzer finds go to fuzz/corpus/<target>/ (not committed; reused by later runs).
# The targets are built without a sanitizer: every decoder fuzzed is safe Rust (no C is reached),
# where a sanitizer finds nothing the panics and assertions do not, at twice the build and run time.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
fuzz_target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"

cargo +nightly fuzz build -s none --target-dir "$fuzz_target_dir"

log_dir="$(mktemp -d)"
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  status=0
  cargo +nightly fuzz run -s none --target-dir "$fuzz_target_dir" "$t" \
    "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log_dir/$t.log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log_dir/$t.log" | tail -1)"
  echo "   $t: ${seconds}s, ${runs:-?} inputs run"
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log_dir/$t.log" >&2
    echo "   fuzz target $t failed: the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
rm -rf "$log_dir"
