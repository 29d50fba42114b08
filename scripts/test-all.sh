#!/usr/bin/env bash
# Runs every Roadside test on a fresh Debian machine: installs what the build needs, builds, checks
# formatting and lints, runs the Rust test suites (core, CLI, server, end-to-end, and the tus
# conformance test with the stock tuspy and tus-js-client clients), stock Schemathesis against the
# server's OpenAPI document, then the core on ARM64 in the mobile configuration under qemu
# (scripts/test-arm64.sh).
# Usage: scripts/test-all.sh            (from the repository root; root or sudo for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
# CI builds once from a clean clone: incremental caches would only cost disk (gigabytes) and time.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
echo "== disk: $(df -h . | awk 'NR==2 {print $4 " free of " $2}')"

need_pkgs=()
command -v pkg-config >/dev/null 2>&1 || need_pkgs+=(pkg-config)
[ -f /usr/include/openssl/evp.h ] || need_pkgs+=(libssl-dev)   # SQLCipher's crypto (libcrypto)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)       # benchmark reference, tests
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)  # server's second backend
command -v strace >/dev/null 2>&1 || need_pkgs+=(strace)           # crash tests: SIGKILL injected into a system call
[ -f /usr/lib/softhsm/libsofthsm2.so ] || need_pkgs+=(softhsm2)   # PKCS#11 token for the log key test
command -v pdftotext >/dev/null 2>&1 || need_pkgs+=(poppler-utils)  # documents: PDFs read back (text, fonts, pages)
[ -f /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc ] || need_pkgs+=(fonts-noto-cjk)  # documents: the CJK font (CFF outlines)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_pkgs+=(fonts-wqy-microhei)  # documents: a CJK font with TrueType outlines
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_pkgs+=(python3-venv)  # tus conformance: stock tuspy in a virtualenv
command -v npm >/dev/null 2>&1 || need_pkgs+=(nodejs npm)           # tus conformance: stock tus-js-client
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)      # back office: the real browser (headless)
command -v chromedriver >/dev/null 2>&1 || need_pkgs+=(chromium-driver)  # back office: WebDriver for it
[ -f /usr/lib/chromium/locales/zh-CN.pak ] || need_pkgs+=(chromium-l10n)  # back office: the browser's own messages in Chinese
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need_pkgs+=(fonts-noto-cjk)  # back office: Chinese pages rendered in screenshots
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The fuzz targets are their own workspace (fuzz/); checked here with the same target directory.
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --locked --target-dir target -- -D warnings

echo "== build the native core library (the bindings test generates Kotlin and Swift from it)"
cargo build -p roadside-core --locked

echo "== Kotlin shell tests on the JVM against the real native library (android/shell, Maven + JNA)"
# The sync test drives a real roadside-server, so build it too (cargo test below reuses it).
cargo build -p roadside-server --locked
if ! command -v mvn >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  echo "   installing Maven and a JDK (Debian packages maven, default-jdk-headless)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq maven default-jdk-headless >/dev/null
fi
# Maven fetches the Kotlin compiler, JNA, coroutines and JUnit from Maven Central on first run.
mvn -q -B -f android/shell/pom.xml test

echo "== start a throwaway PostgreSQL server (the server's storage tests run against it too)"
ROADSIDE_TEST_PG_URL="$(scripts/pg-test-server.sh)"
export ROADSIDE_TEST_PG_URL
trap 'scripts/pg-test-server.sh stop' EXIT
echo "   $ROADSIDE_TEST_PG_URL"

echo "== start a throwaway S3-compatible server (s3s-fs; the media tests run against it too)"
S3_ENV="$(scripts/s3-test-server.sh)"
eval "$S3_ENV"
trap 'scripts/pg-test-server.sh stop; scripts/s3-test-server.sh stop' EXIT
echo "   $ROADSIDE_TEST_S3_URL at $ROADSIDE_TEST_S3_ENDPOINT"

echo "== the stock tus clients (tuspy from PyPI, tus-js-client from npm; pinned, cached under target/)"
eval "$(scripts/tus-clients.sh)"
echo "   $ROADSIDE_TUS_CLIENTS"

echo "== the independent witness (litewitness of filippo.io/torchwood, pinned, from the Go module proxy; cached under target/)"
eval "$(scripts/witness-tools.sh)"
echo "   $ROADSIDE_LITEWITNESS_DIR"

echo "== cargo test (workspace)"
cargo test --workspace --locked

echo "== schemathesis (stock, pinned) against roadside-server's own OpenAPI document, --checks all"
# Installed from PyPI once into target/tools (reused by later runs); bounded examples and a fixed
# seed keep the run short and repeatable; tests/schemathesis/run.py gives the destructive
# operations a server of their own.
ST_VERSION=4.32.5
ST_VENV="target/tools/schemathesis-$ST_VERSION"
if [ ! -x "$ST_VENV/bin/schemathesis" ]; then
  if ! python3 -m venv "$ST_VENV" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$ST_VENV"
    python3 -m venv "$ST_VENV"
  fi
  "$ST_VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi
cargo build -p roadside-server -p roadside-cli --locked
python3 tests/schemathesis/run.py --server target/debug/roadside-server \
  --cli target/debug/roadside --schemathesis "$ST_VENV/bin/schemathesis" --max-examples 25 \
  --workdir "$(mktemp -d)"

echo "== fuzz targets (cargo-fuzz, libFuzzer): every decoder of outside bytes, 15 s each from the seeds"
# cargo-fuzz is installed once into target/tools (reused by later runs); the nightly toolchain
# builds the targets (libFuzzer's coverage instrumentation needs it).
CARGO_FUZZ_VERSION=0.13.2
FUZZ_TOOLS="target/tools/cargo-fuzz"
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if [ ! -x "$FUZZ_TOOLS/bin/cargo-fuzz" ]; then
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$FUZZ_TOOLS"
fi
# table_xlsx is left out until the import guards against calamine's overflow on a huge cell
# reference (fuzz/crashes/table_xlsx/, BENCHMARKS.md); every other decoder runs.
PATH="$PWD/$FUZZ_TOOLS/bin:$PATH" scripts/fuzz.sh 15 jcs entry record manifest checkpoint \
  tile_path tus_headers table_csv

echo "== the core on ARM64, mobile configuration: cross-built, its tests under qemu-aarch64, store"
echo "   compatibility with the desktop build, packaging checks and size (scripts/test-arm64.sh)"
scripts/test-arm64.sh

echo "== disk at the end: target/ holds $(du -sh target | cut -f1), $(df -h . | awk 'NR==2 {print $4}') free"
