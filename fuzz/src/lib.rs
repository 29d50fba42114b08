//! What the fuzz targets share: fixed keys, so that seed inputs signed with them keep verifying and
//! the fuzzer can reach the checks behind a signature.

use base64::Engine;
use ed25519_dalek::SigningKey;
use roadside_core::ledger::DeviceKey;
use roadside_server::tlog::LogSigner;

/// The device key the `entry` target's seeds are sealed with.
pub fn device_key() -> DeviceKey {
    DeviceKey::from_bytes(&[7; 32])
}

/// The agency key the `manifest` target signs its inputs with.
pub fn agency_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

/// The origin of the `checkpoint` target's log.
pub const LOG_ORIGIN: &str = "roadside.example/log";

/// The log key the `checkpoint` target signs and verifies with (a signed-note private key string
/// built from a fixed seed: `PRIVATE+KEY+<origin>+<id>+<base64 of 0x01 ‖ seed>`).
pub fn log_signer() -> LogSigner {
    let seed = [5u8; 32];
    let public = SigningKey::from_bytes(&seed).verifying_key();
    let mut encoded = vec![1u8];
    encoded.extend_from_slice(public.as_bytes());
    let id = roadside_core::rollover::key_id(LOG_ORIGIN, &encoded);
    let mut private = vec![1u8];
    private.extend_from_slice(&seed);
    let b64 = base64::engine::general_purpose::STANDARD.encode(private);
    let key = format!("PRIVATE+KEY+{LOG_ORIGIN}+{id:08x}+{b64}");
    match LogSigner::new(LOG_ORIGIN, &key) {
        Ok(signer) => signer,
        Err(e) => panic!("the fixed log key is well formed: {e:?}"),
    }
}

/// What an imported table must be: installed as `discretion/table.toml` or `exemptions/table.toml`,
/// a TOML file that parses. A refusal must say what is wrong.
pub fn check_import(
    imported: roadside_core::Result<(String, String, roadside_core::rules::tables::RowMap)>,
) {
    match imported {
        Ok((relpath, text, _rows)) => {
            assert!(
                relpath == "discretion/table.toml" || relpath == "exemptions/table.toml",
                "installed as {relpath}"
            );
            if let Err(e) = text.parse::<toml::Table>() {
                panic!("an imported table's TOML does not parse: {e}");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "a refusal without a message"),
    }
}
