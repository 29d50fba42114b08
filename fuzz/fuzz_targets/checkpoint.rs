//! Checkpoints and signed notes (C2SP tlog-checkpoint in signed-note), as the server's log code and
//! a device read them, and the rollover statement a retired origin signs.
//!
//! The first byte picks how the rest is used:
//! - even: as a whole signed note, verified with the fixed log key;
//! - odd: as a note's text, which the fuzzer signs with that key first, so that the checkpoint and
//!   statement parsers behind the signature see every input. A text that signs verifies to itself;
//!   a checkpoint or statement that parses writes back to exactly its text.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use roadside_core::rollover::RolloverStatement;
use roadside_server::tlog::{verify_checkpoint, verify_note, LogSigner};
use tlog_tiles::Checkpoint;

fn signer() -> &'static LogSigner {
    static SIGNER: OnceLock<LogSigner> = OnceLock::new();
    SIGNER.get_or_init(roadside_fuzz::log_signer)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let signer = signer();
    let verifier = signer.verifier_key();
    if mode % 2 == 0 {
        let note_text = verify_note(text, verifier);
        if let Some(cp) = verify_checkpoint(text, verifier) {
            assert!(
                note_text.is_some(),
                "a checkpoint verifies but its note does not"
            );
            check_checkpoint(&cp);
        }
        return;
    }
    let Ok(note) = signer.sign_text(text) else {
        return;
    };
    assert_eq!(
        verify_note(&note, verifier).as_deref(),
        Some(text),
        "a note we signed does not verify to its text"
    );
    let parsed = Checkpoint::from_bytes(text.as_bytes()).ok();
    let verified = verify_checkpoint(&note, verifier);
    assert_eq!(
        parsed.is_some(),
        verified.is_some(),
        "a signed checkpoint is read differently from its text"
    );
    if let Some(cp) = verified {
        assert_eq!(
            cp.to_bytes(),
            text.as_bytes(),
            "a checkpoint writes back differently"
        );
        check_checkpoint(&cp);
    }
    if let Ok(statement) = RolloverStatement::parse(text) {
        match statement.to_text() {
            Ok(again) => assert_eq!(again, text, "a statement writes back differently"),
            Err(e) => panic!("a parsed statement does not write back: {e:?}"),
        }
    }
});

/// A checkpoint signed afresh for its origin's size and root reads back the same.
fn check_checkpoint(cp: &Checkpoint) {
    if cp.origin() != roadside_fuzz::LOG_ORIGIN || !cp.extension().is_empty() {
        return;
    }
    let note = match signer().sign(cp.size(), *cp.hash()) {
        Ok(n) => n,
        Err(e) => panic!("a verified checkpoint cannot be signed again: {e:?}"),
    };
    match verify_checkpoint(&note, signer().verifier_key()) {
        Some(again) => {
            assert_eq!(again.size(), cp.size());
            assert_eq!(again.hash(), cp.hash());
        }
        None => panic!("a checkpoint signed afresh does not verify"),
    }
}
