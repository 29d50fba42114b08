//! Link settings of the mobile library (feature `mobile`) on Linux-kernel targets (Android, and the
//! aarch64 Linux build that stands in for it in the tests): ELF segments aligned to 16 KB pages, which
//! Android 15+ devices with 16 KB pages require to load a library at all (4 KB-aligned segments also
//! load on 4 KB devices, so one library serves both). The exported symbols need no setting here:
//! rustc's own version script for a cdylib exports only the `#[no_mangle]` UniFFI scaffolding and
//! hides everything linked in statically (SQLCipher, OpenSSL, ring); scripts/test-arm64.sh checks it.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let mobile = env::var_os("CARGO_FEATURE_MOBILE").is_some();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if mobile && (os == "android" || os == "linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,max-page-size=16384");
    }
}
