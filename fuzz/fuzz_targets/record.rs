//! Record JSON (what shells keep drafts as and the CLI reads): a record that parses writes back to
//! JSON that parses to the same record, and validating it (live and for finalising) never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use roadside_core::model::{EvidenceKind, InspectionRecord, OfficerCertificate};
use roadside_core::validate::{validate_for_finalize, validate_record, ValidationContext};

fn roster() -> &'static [OfficerCertificate] {
    static ROSTER: OnceLock<Vec<OfficerCertificate>> = OnceLock::new();
    ROSTER.get_or_init(roadside_core::demo::roster)
}

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<InspectionRecord>(data) else {
        return;
    };
    let text = match serde_json::to_string(&record) {
        Ok(t) => t,
        Err(e) => panic!("a parsed record does not write back: {e}"),
    };
    match serde_json::from_str::<InspectionRecord>(&text) {
        Ok(again) => assert_eq!(again, record, "the record changed through its JSON form"),
        Err(e) => panic!("a record's own JSON does not parse: {e}"),
    }
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T12:00:00+08:00")
        .map(|t| t.to_utc())
        .unwrap_or_default();
    let ctx = ValidationContext {
        roster: roster(),
        now,
    };
    let _ = validate_record(&record, &ctx);
    let _ = validate_for_finalize(&record, &ctx, &[EvidenceKind::Photo, EvidenceKind::Video]);
});
