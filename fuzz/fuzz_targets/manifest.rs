//! Bundle manifests from any bytes, signed by the fixed agency key (so the fuzzer gets past the
//! signature to the JSON, canonical-form and shape checks): a manifest that verifies signs again to
//! exactly its bytes and signature. The same bytes are also read as the HTTP envelope (which
//! round-trips) and as a roster component (whose canonical form reads back the same).
#![no_main]

use ed25519_dalek::Signer;
use libfuzzer_sys::fuzz_target;
use roadside_core::bundle::{self, SignedManifest, SIGNATURE_DOMAIN};
use roadside_core::jcs;

fuzz_target!(|data: &[u8]| {
    let key = roadside_fuzz::agency_key();
    let public = key.verifying_key();
    let mut message = SIGNATURE_DOMAIN.to_vec();
    message.extend_from_slice(data);
    let sig = key.sign(&message).to_bytes();

    assert!(bundle::verify_manifest(data, &[0u8; 64], &public).is_err());
    if let Ok(m) = bundle::verify_manifest(data, &sig, &public) {
        match bundle::sign_manifest(&m, &key) {
            Ok(signed) => {
                assert_eq!(
                    signed.bytes, data,
                    "a verified manifest re-encodes differently"
                );
                assert_eq!(
                    signed.signature, sig,
                    "a verified manifest signs differently"
                );
            }
            Err(e) => panic!("a verified manifest does not sign again: {e:?}"),
        }
        assert_eq!(bundle::manifest_id(data), bundle::sha256_hex(data));
    }

    if let Ok(envelope) = SignedManifest::from_envelope(data) {
        match SignedManifest::from_envelope(&envelope.to_envelope()) {
            Ok(again) => assert_eq!(again, envelope, "the envelope does not round-trip"),
            Err(e) => panic!("our own envelope does not read back: {e:?}"),
        }
        // Whatever the envelope carries, verifying it answers (its signature is not ours).
        let _ = envelope.verify(&public);
    }

    if let Ok(roster) = bundle::parse_roster(data) {
        let bytes = match jcs::to_canonical_vec(&roster) {
            Ok(b) => b,
            Err(e) => panic!("a parsed roster cannot be encoded: {e:?}"),
        };
        match bundle::parse_roster(&bytes) {
            Ok(again) => assert_eq!(again, roster, "the roster changed through its JSON form"),
            Err(e) => panic!("a roster's canonical form does not parse: {e:?}"),
        }
    }
});
