use std::io::Write;

use super::*;
use crate::demo;
use crate::model::{CoerciveMeasure, CoerciveMeasureKind, OfficerRef};

const KEY: [u8; 32] = [7u8; 32];

fn open(dir: &Path) -> Store {
    let store = Store::open(dir, &KEY, Durability::Normal).expect("open store");
    store.import_roster(&demo::roster()).expect("roster");
    store
}

fn record() -> InspectionRecord {
    demo::on_site_record(Utc::now() - chrono::Duration::hours(1))
}

fn counts(store: &Store) -> (u64, u64, i64) {
    let cases: i64 = lock(&store.reader)
        .query_row("SELECT count(*) FROM cases", [], |r| r.get(0))
        .unwrap();
    (
        store.ledger_len().unwrap(),
        store.outbox_len().unwrap(),
        cases,
    )
}

#[test]
fn a_whole_case_from_draft_to_finalize_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let case = store.create_case(&record()).unwrap();
    assert_eq!(case.status, CaseStatus::Draft);

    let detail = store.case_detail(&case.id).unwrap();
    let record_id = detail.records[0].record_id.clone();
    let mut amended = record();
    amended.remarks = Some("当事人主动卸载".to_string());
    let v2 = store.amend_record(&case.id, &record_id, &amended).unwrap();
    assert_eq!(v2.version, 2);

    let clip = dir.path().join("clip.mp4");
    std::fs::File::create(&clip)
        .unwrap()
        .write_all(&[42u8; 3 << 20])
        .unwrap();
    let ev = store
        .attach_evidence(
            &case.id,
            &clip,
            EvidenceKind::Video,
            &EvidenceMeta::default(),
        )
        .unwrap();
    assert_eq!(ev.chunk_count, 3);

    let done = store.finalize_case(&case.id).unwrap();
    assert_eq!(done.status, CaseStatus::Finalized);
    assert_eq!(done.records, 1);
    assert_eq!(done.evidence, 1);

    let report = store.verify_ledger().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries, 4);
    assert_eq!(counts(&store), (4, 4, 1));

    // The amendment names the entry it supersedes.
    let entries = store.export_ledger().unwrap();
    let amend: serde_json::Value = serde_json::from_str(&entries[1].bytes).unwrap();
    assert_eq!(amend["kind"], "record.amend");
    assert_eq!(amend["body"]["supersedes"], entries[0].hash);

    // A finalized case is locked.
    let err = store
        .amend_record(&case.id, &record_id, &amended)
        .unwrap_err();
    assert_eq!(err.code(), "CASE_FINALIZED");
    assert_eq!(counts(&store), (4, 4, 1));
}

#[test]
fn finalize_with_one_officer_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let case = store.create_case(&record()).unwrap();
    let record_id = store.case_detail(&case.id).unwrap().records[0]
        .record_id
        .clone();
    // An amendment with one officer is itself refused at validation.
    let mut one = record();
    one.officers.truncate(1);
    one.recorder = one.officers[0].name.clone();
    let before = counts(&store);
    let err = store.amend_record(&case.id, &record_id, &one).unwrap_err();
    assert!(
        err.issues().iter().any(|i| i.path.starts_with("officers")),
        "{err:?}"
    );
    assert_eq!(counts(&store), before);
}

#[test]
fn a_coercive_measure_needs_an_av_record_before_finalize() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut rec = record();
    rec.coercive_measure = Some(CoerciveMeasure {
        kind: CoerciveMeasureKind::Seizure,
        told_reasons_basis_rights: true,
        statement_heard: true,
    });
    let case = store.create_case(&rec).unwrap();
    let before = counts(&store);
    let err = store.finalize_case(&case.id).unwrap_err();
    assert!(
        err.issues()
            .iter()
            .any(|i| i.code.contains("AV") || i.code.contains("AUDIO")),
        "{err:?}"
    );
    assert_eq!(counts(&store), before, "a refused finalize stores nothing");

    let photo = dir.path().join("p.jpg");
    std::fs::write(&photo, b"jpeg").unwrap();
    store
        .attach_evidence(
            &case.id,
            &photo,
            EvidenceKind::Photo,
            &EvidenceMeta::default(),
        )
        .unwrap();
    assert!(
        store.finalize_case(&case.id).is_err(),
        "a photo is not an AV record"
    );
    let clip = dir.path().join("v.mp4");
    std::fs::write(&clip, b"video").unwrap();
    store
        .attach_evidence(
            &case.id,
            &clip,
            EvidenceKind::Video,
            &EvidenceMeta::default(),
        )
        .unwrap();
    store.finalize_case(&case.id).unwrap();
}

#[test]
fn invalid_records_and_missing_files_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut bad = record();
    bad.situation = "超".repeat(5_000_000);
    bad.vehicle.as_mut().unwrap().plate = "XX123".to_string();
    let err = store.create_case(&bad).unwrap_err();
    assert!(err.issues().len() >= 2, "every problem at once: {err:?}");
    assert_eq!(counts(&store), (0, 0, 0));

    let case = store.create_case(&record()).unwrap();
    let before = counts(&store);
    let err = store
        .attach_evidence(
            &case.id,
            &dir.path().join("gone.mp4"),
            EvidenceKind::Video,
            &EvidenceMeta::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "EVIDENCE_NOT_FOUND");
    assert_eq!(counts(&store), before);
}

#[test]
fn the_wrong_key_is_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.create_case(&record()).unwrap();
    }
    let digest = || crate::ledger::sha256(&std::fs::read(dir.path().join(DB_FILE)).unwrap());
    let before = digest();
    let err = Store::open(dir.path(), &[9u8; 32], Durability::Normal).unwrap_err();
    assert_eq!(err.code(), "STORE_WRONG_KEY");
    assert!(
        before == digest(),
        "the wrong key changed the database file"
    );
    // The right key still opens it, with the same device identity.
    let store = Store::open(dir.path(), &KEY, Durability::Normal).unwrap();
    assert_eq!(store.ledger_len().unwrap(), 1);
    assert!(store.verify_ledger().unwrap().ok);
}

#[test]
fn the_database_file_is_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.create_case(&record()).unwrap();
    }
    let raw = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    assert!(!raw.starts_with(b"SQLite format 3"));
    let needle = "韩建国".as_bytes();
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "plaintext leaked"
    );
}

#[test]
fn the_device_key_persists_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path()).device_id();
    let second = open(dir.path()).device_id();
    assert_eq!(first, second);
    assert_eq!(first.len(), 64);
}

#[test]
fn assistants_and_unknown_officers_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut rec = record();
    rec.officers[1] = OfficerRef {
        name: "赵小兵".to_string(),
        certificate_no: "QH6325210299".to_string(),
    };
    rec.recorder = "才让多杰".to_string();
    let issues = store.validate(&rec).unwrap();
    assert!(
        issues.iter().any(|i| i.path.starts_with("officers")),
        "{issues:?}"
    );
}

#[test]
fn cases_are_listed_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store.create_case(&record()).unwrap();
    let b = store.create_case(&record()).unwrap();
    let today = store.cases_today().unwrap();
    assert_eq!(today.len(), 2);
    assert!(today.iter().any(|c| c.id == a.id) && today.iter().any(|c| c.id == b.id));
    assert!(store.cases_on("2001-01-01").unwrap().is_empty());
}

#[test]
fn voiding_names_the_opening_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let case = store.create_case(&record()).unwrap();
    assert_eq!(
        store.void_case(&case.id, "").unwrap_err().code(),
        "VOID_REASON_REQUIRED"
    );
    let voided = store.void_case(&case.id, "误立案").unwrap();
    assert_eq!(voided.status, CaseStatus::Voided);
    let entries = store.export_ledger().unwrap();
    let void: serde_json::Value = serde_json::from_str(&entries[1].bytes).unwrap();
    assert_eq!(void["body"]["supersedes"], entries[0].hash);
    assert!(store.verify_ledger().unwrap().ok);
}

#[test]
fn tampering_with_the_file_is_detected_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for _ in 0..3 {
        store.create_case(&record()).unwrap();
    }
    // Bypass the triggers the way an attacker with the key would: drop them, edit, restore.
    {
        let conn = lock(&store.writer);
        conn.execute_batch(
            "DROP TRIGGER ledger_no_update;
             UPDATE ledger SET bytes = CAST(replace(CAST(bytes AS TEXT), '21350', '11350') AS BLOB) WHERE seq = 2;",
        )
        .unwrap();
    }
    let report = store.verify_ledger().unwrap();
    assert!(!report.ok);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.position, 2);
}

fn late_evening_cst() -> DateTime<Utc> {
    // 2026-03-01 23:59:59.999 in China Standard Time.
    "2026-03-01T15:59:59.999Z".parse().unwrap()
}

fn just_after_midnight_cst() -> DateTime<Utc> {
    // 2026-03-02 00:00:00.000 in China Standard Time.
    "2026-03-01T16:00:00.000Z".parse().unwrap()
}

#[test]
fn a_day_is_the_china_standard_time_day() {
    let dir = tempfile::tempdir().unwrap();
    let evening = {
        let store = open(dir.path()).with_clock(late_evening_cst);
        store
            .create_case(&demo::on_site_record(
                late_evening_cst() - chrono::Duration::hours(1),
            ))
            .unwrap()
    };
    let store = Store::open(dir.path(), &KEY, Durability::Normal)
        .unwrap()
        .with_clock(just_after_midnight_cst);
    let night = store
        .create_case(&demo::on_site_record(
            just_after_midnight_cst() - chrono::Duration::hours(1),
        ))
        .unwrap();
    let first: Vec<String> = store
        .cases_on("2026-03-01")
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let second: Vec<String> = store
        .cases_on("2026-03-02")
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(first, vec![evening.id]);
    assert_eq!(second, vec![night.id.clone()]);
    assert_eq!(store.cases_today().unwrap()[0].id, night.id);
    assert!(store.cases_on("2026-02-28").unwrap().is_empty());
    assert_eq!(store.cases_on("1 March").unwrap_err().code(), "DAY_FORMAT");
}
