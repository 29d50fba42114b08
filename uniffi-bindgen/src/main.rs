//! `cargo run -p uniffi-bindgen -- generate --library <libroadside_core.so> --language kotlin --out-dir <dir>`
//!
//! Lives in the workspace so the generator is always the same uniffi version as the library
//! (a skew gives "contract version mismatch" at load time).
fn main() {
    uniffi::uniffi_bindgen_main()
}
