//! Roadside's offline verifier.
//!
//! Everything a court, a lawyer or the party needs to check an evidence package without trusting
//! the agency's server, as pure functions over bytes: no file system, no database, no network, no
//! threads. The same code runs in the desktop CLI (`roadside verify`), inside the device core, and
//! compiled to WebAssembly (`wasm32-unknown-unknown`) in a browser.
//!
//! - [`canonical`]: RFC 8785 canonical JSON, the encoding of every signed document.
//! - [`entry`]: one signed ledger entry (hash, canonical bytes, device key, Ed25519 signature).
//! - [`log`]: C2SP signed checkpoints and RFC 6962 inclusion proofs of the transparency log.
//! - [`chunks`]: the whole-file SHA-256 and the 1 MiB chunk manifest of an evidence file.
//! - [`history`]: key history, the agency-signed statements that enrol and revoke device keys.
//! - [`package`]: the evidence package (a zip): its layout, a writer, and [`package::verify`],
//!   which checks every file and returns a [`report::Report`] naming each file and check.

pub mod canonical;
pub mod chunks;
pub mod entry;
pub mod history;
pub mod log;
#[cfg(feature = "package")]
pub mod package;
pub mod report;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Whether `s` is `len` lowercase hex digits.
pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
