//! Signed ledger entries from any bytes: every check before the signature, then the signature with
//! the fixed device key (the fuzzer signs what it makes, so it gets past the signature). An entry
//! that opens re-encodes to exactly its bytes, seals again to the same bytes, and chains alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roadside_core::jcs;
use roadside_core::ledger::{self, KnownDevice, SignedEntry};

fuzz_target!(|data: &[u8]| {
    let key = roadside_fuzz::device_key();
    let sig = ed25519_dalek::Signer::sign(&key_signing(&key), data).to_bytes();

    // A signature that cannot be right never opens.
    assert!(ledger::open(data, &[0u8; 64], None).is_err());
    assert!(ledger::open(data, &sig[..63], None).is_err());

    let Ok(known) = KnownDevice::decode(&key.public_hex()) else {
        panic!("the fixed device key decodes");
    };
    let unverified = ledger::open_known_unverified(data, &sig, &known);
    let opened = ledger::open(data, &sig, Some(&ledger::sha256(data)));
    let Ok(entry) = opened else {
        return;
    };
    // The same bytes pass the checks before the signature, with the same entry.
    match unverified {
        Ok((e, _, _)) => assert_eq!(e, entry),
        Err(e) => panic!("opened, but the checks before the signature failed: {e:?}"),
    }
    match jcs::to_canonical_vec(&entry) {
        Ok(bytes) => assert_eq!(bytes, data, "an opened entry re-encodes differently"),
        Err(e) => panic!("an opened entry cannot be re-encoded: {e:?}"),
    }
    assert!(ledger::check_entry_shape(&entry).is_ok());
    if entry.device == key.public_hex() {
        match ledger::seal(&entry, &key) {
            Ok(sealed) => assert_eq!(sealed.bytes, data, "sealing again gives other bytes"),
            Err(e) => panic!("an opened entry does not seal again: {e:?}"),
        }
    }
    let signed = SignedEntry {
        bytes: data.to_vec(),
        hash: ledger::sha256(data),
        sig,
    };
    let report = ledger::verify_chain(&entry.device, [signed.as_stored(1)]);
    if entry.seq == 1 && entry.prev.is_none() {
        assert!(
            report.error().is_none(),
            "a first entry alone does not chain"
        );
    } else {
        assert!(report.error().is_some(), "a later entry alone chains");
    }
});

/// The device key as an Ed25519 signing key, to sign arbitrary bytes with.
fn key_signing(key: &ledger::DeviceKey) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&key.to_bytes())
}
