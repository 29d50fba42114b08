//! The first-offence check with the real `roadside-server` binary and the real core: online it
//! answers from the agency's accepted cases; with the server stopped it falls back to the device's
//! own cases and flags the answer for re-check.

use roadside_core::sync::{self, first_offence, FirstOffence, SyncOptions};
use roadside_tests::*;

const OFFICER: &str = "QH6325000101";

fn check(dev: &Device, plate: &str) -> roadside_core::Result<FirstOffence> {
    sync::runtime()
        .expect("runtime")
        .block_on(first_offence(&dev.store, plate, None))
}

#[test]
fn online_answer_then_offline_fallback_flagged_for_recheck() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), "127.0.0.1:0");
    let dev = Device::new();
    enrol(&dev.store, &server.base, &server.enrolment_code(OFFICER));

    // Before anything is synced: online, no prior case.
    let r = check(&dev, "青E12345").unwrap();
    assert!(r.checked_online && !r.needs_recheck, "{r:?}");
    assert!(r.first_offence, "{r:?}");
    assert_eq!(r.prior_cases, 0);
    assert!(r.checked_at.is_some() && r.reason_code.is_none(), "{r:?}");

    // The demo record is for 青E12345; capture one case and sync it.
    let cases = dev.capture_cases(1);
    let options = SyncOptions {
        upload_media: false,
        pull_bundles: false,
        ..SyncOptions::default()
    };
    let report = sync(&dev.store, &options).unwrap();
    assert_eq!(report.accepted, 1, "{report:?}");

    // Online: one prior case (the one just synced), no re-check needed; another plate is clean.
    let r = check(&dev, "青e12345").unwrap();
    assert!(r.checked_online && !r.needs_recheck, "{r:?}");
    assert!(!r.first_offence, "{r:?}");
    assert_eq!(
        (r.prior_cases, r.cases.clone()),
        (1, cases.clone()),
        "{r:?}"
    );
    assert_eq!(r.plate, "青E12345");
    assert!(r.message.contains("已联网核查"), "{}", r.message);
    let r = check(&dev, "青E54321").unwrap();
    assert!(
        r.checked_online && r.first_offence && r.prior_cases == 0,
        "{r:?}"
    );

    // Server stopped: the device's own cases answer, flagged for re-check.
    server.kill();
    let r = check(&dev, "青E12345").unwrap();
    assert!(!r.checked_online && r.needs_recheck, "{r:?}");
    assert!(!r.first_offence, "{r:?}");
    assert_eq!((r.prior_cases, r.cases.clone()), (1, cases), "{r:?}");
    assert_eq!(
        r.reason_code.as_deref(),
        Some("NETWORK_UNREACHABLE"),
        "{r:?}"
    );
    assert!(r.checked_at.is_none());
    assert!(r.message.contains("须联网复核"), "{}", r.message);
    let r = check(&dev, "青E54321").unwrap();
    assert!(
        r.first_offence && !r.checked_online && r.needs_recheck,
        "{r:?}"
    );

    // A bad plate is an error with its code, online or not.
    let e = check(&dev, "青E1234").unwrap_err();
    assert_eq!(e.code(), "PLATE_LENGTH");
}

#[test]
fn not_enrolled_falls_back_and_flags_recheck() {
    let dev = Device::new();
    dev.capture_cases(2);
    let r = check(&dev, "青E12345").unwrap();
    assert!(!r.checked_online && r.needs_recheck, "{r:?}");
    assert_eq!(r.prior_cases, 2, "{r:?}");
    assert_eq!(r.reason_code.as_deref(), Some("NOT_ENROLLED"), "{r:?}");
}
