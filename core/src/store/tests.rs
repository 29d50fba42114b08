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

/// A connection to the store's file opened the way someone holding the key would, with the stock
/// settings (no `recursive_triggers`): the triggers in the file are all that guard it.
fn attacker(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
        hex::encode(KEY)
    ))
    .unwrap();
    conn
}

/// A store with one case: case.open (1), evidence.add (2), record.amend (3); the clip's path.
fn store_with_evidence(dir: &Path) -> (Store, String, PathBuf) {
    let store = open(dir);
    let case = store.create_case(&record()).unwrap();
    let clip = dir.join("clip.mp4");
    std::fs::write(&clip, vec![5u8; 2 << 20]).unwrap();
    store
        .attach_evidence(
            &case.id,
            &clip,
            EvidenceKind::Video,
            &EvidenceMeta::default(),
        )
        .unwrap();
    let record_id = store.case_detail(&case.id).unwrap().records[0]
        .record_id
        .clone();
    let mut amended = record();
    amended.case_number = Some("青交执〔2026〕77号".to_string());
    store.amend_record(&case.id, &record_id, &amended).unwrap();
    (store, case.id, clip)
}

fn problem<'a>(report: &'a VerifyReport, code: &str, table: &str) -> &'a StoreProblem {
    report
        .problems
        .iter()
        .find(|p| p.code == code && p.table == table)
        .unwrap_or_else(|| panic!("no {code} on {table} in {:#?}", report.problems))
}

#[test]
fn a_clean_store_verifies_and_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_evidence(dir.path());
    let report = store.verify().unwrap();
    assert!(report.ok, "{:#?}", report.problems);
    assert_eq!(report.entries, 3);
    assert_eq!(report.head_seq, 3);
    // 3 ledger rows, 1 case, 2 record versions, 1 evidence row.
    assert_eq!(report.rows_checked, 7);
    let check = store.check().unwrap();
    assert!(check.ok, "{check:#?}");
    assert!(check.cipher_integrity.is_empty() && check.integrity.is_empty());
    assert!(check.error().is_none());
}

#[test]
fn replace_is_refused_on_every_append_only_table() {
    let dir = tempfile::tempdir().unwrap();
    let (store, case_id, _) = store_with_evidence(dir.path());
    let conn = attacker(dir.path());
    conn.execute_batch(
        "INSERT INTO receipts (entry_seq, status, leaf_index, tree_size, inclusion_proof, checkpoint, received_at)
             VALUES (1, 'accepted', 0, 1, x'', 'cp', 'now');
         INSERT INTO log_alarms (id, detected_at, code, message) VALUES (1, 'now', 'LOG_INCONSISTENT', 'alarm');",
    )
    .unwrap();
    let attempts = [
        "REPLACE INTO ledger SELECT seq, hash, x'7b7d', sig, kind, case_id, at FROM ledger WHERE seq = 2",
        "INSERT OR REPLACE INTO ledger SELECT seq, hash, x'7b7d', sig, kind, case_id, at FROM ledger WHERE seq = 2",
        "REPLACE INTO record_versions SELECT case_id, record_id, version, entry_seq, 'inspection' FROM record_versions",
        "INSERT OR REPLACE INTO record_versions SELECT case_id, record_id, version, 1, kind FROM record_versions",
        "REPLACE INTO evidence SELECT id, case_id, entry_seq, kind, '/tmp/forged.mp4', sha256, size, chunk_size, chunks FROM evidence",
        "INSERT OR REPLACE INTO evidence SELECT id, case_id, entry_seq, kind, path, 'ab', size, chunk_size, chunks FROM evidence",
        "REPLACE INTO receipts SELECT entry_seq, 'refused', leaf_index, tree_size, inclusion_proof, checkpoint, code, message, received_at FROM receipts",
        "INSERT OR REPLACE INTO log_alarms (id, detected_at, code, message) VALUES (1, 'now', 'X', 'gone')",
    ];
    for sql in attempts {
        let err = conn.execute(sql, []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    // The store's own connections also run delete triggers on REPLACE (recursive_triggers).
    {
        let writer = lock(&store.writer);
        let on: i64 = writer
            .query_row("PRAGMA recursive_triggers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(on, 1);
    }
    let detail = store.case_detail(&case_id).unwrap();
    assert_eq!(
        detail.evidence[0].path,
        dir.path().join("clip.mp4").to_string_lossy()
    );
    let alarm: String = conn
        .query_row("SELECT message FROM log_alarms WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(alarm, "alarm");
    // Only the outbox/receipt pairing of entry 1 (a receipt planted above) is off.
    let report = store.verify().unwrap();
    assert!(report.first_broken.is_none());
    assert!(report
        .problems
        .iter()
        .all(|p| p.table == "receipts" || p.table == "outbox"));
}

#[test]
fn a_forged_evidence_row_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (store, case_id, _) = store_with_evidence(dir.path());
    let forged_hash = "00".repeat(32);
    attacker(dir.path())
        .execute_batch(&format!(
            "DROP TRIGGER evidence_no_update;
             UPDATE evidence SET sha256 = '{forged_hash}', path = '/sdcard/other/forged.mp4';"
        ))
        .unwrap();
    // What `case show` displays is the forged row...
    let shown = store.case_detail(&case_id).unwrap();
    assert_eq!(shown.evidence[0].sha256, forged_hash);
    // ...and verify names it: the row, the entry, the field, both values.
    let report = store.verify().unwrap();
    assert!(!report.ok);
    assert!(report.first_broken.is_none(), "the chain itself is intact");
    let mismatches: Vec<&StoreProblem> = report
        .problems
        .iter()
        .filter(|p| p.code == "STORE_ROW_MISMATCH" && p.table == "evidence")
        .collect();
    let fields: Vec<&str> = mismatches
        .iter()
        .filter_map(|p| p.field.as_deref())
        .collect();
    assert_eq!(fields, vec!["path", "sha256"], "{mismatches:#?}");
    let entries = store.export_ledger().unwrap();
    for p in &mismatches {
        assert_eq!(p.entry_seq, Some(2));
        assert_eq!(p.entry_hash.as_deref(), Some(entries[1].hash.as_str()));
        assert!(p.row.as_deref().unwrap().contains(&shown.evidence[0].id));
    }
    assert!(mismatches[1].message.contains(&forged_hash));
    assert_eq!(report.error().unwrap().code(), "STORE_ROW_MISMATCH");
}

#[test]
fn every_kind_of_forged_materialised_row_is_named() {
    type Tamper = (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    );
    let cases: [Tamper; 9] = [
        (
            "DROP TRIGGER evidence_no_update; UPDATE evidence SET chunks = zeroblob(64);",
            "STORE_ROW_MISMATCH",
            "evidence",
            Some("chunks"),
        ),
        (
            "INSERT INTO evidence SELECT 'forged-id', case_id, entry_seq, kind, path, sha256, size, chunk_size, chunks FROM evidence;",
            "STORE_ROW_UNBACKED",
            "evidence",
            None,
        ),
        (
            "DROP TRIGGER evidence_no_delete; DELETE FROM evidence;",
            "STORE_ROW_MISSING",
            "evidence",
            None,
        ),
        (
            "DROP TRIGGER record_versions_no_update; UPDATE record_versions SET kind = 'inspection' WHERE version = 2;",
            "STORE_ROW_MISMATCH",
            "record_versions",
            Some("kind"),
        ),
        (
            "DROP TRIGGER record_versions_no_delete; DELETE FROM record_versions WHERE version = 2;",
            "STORE_ROW_MISSING",
            "record_versions",
            None,
        ),
        (
            "UPDATE cases SET status = 'finalized';",
            "STORE_ROW_MISMATCH",
            "cases",
            Some("status"),
        ),
        (
            "UPDATE cases SET case_number = '青交执〔2026〕1号';",
            "STORE_ROW_MISMATCH",
            "cases",
            Some("case_number"),
        ),
        (
            "DROP TRIGGER ledger_no_update; UPDATE ledger SET kind = 'entry.void' WHERE seq = 3;",
            "STORE_ROW_MISMATCH",
            "ledger",
            Some("kind"),
        ),
        (
            "DELETE FROM outbox WHERE entry_seq = 2;",
            "OUTBOX_ENTRY_LOST",
            "outbox",
            None,
        ),
    ];
    for (sql, code, table, field) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = store_with_evidence(dir.path());
        attacker(dir.path()).execute_batch(sql).unwrap();
        let report = store.verify().unwrap();
        assert!(!report.ok, "{sql}");
        let p = problem(&report, code, table);
        assert_eq!(p.field.as_deref(), field, "{sql}: {p:#?}");
        assert!(p.entry_seq.is_some(), "{sql}: {p:#?}");
        assert!(!p.message.is_empty());
    }
}

#[test]
fn a_deleted_tail_entry_is_named_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_evidence(dir.path());
    // The amendment (seq 3) is cut off the end, with its record version and outbox row: a chain
    // that simply ends at 2 verifies, but the case still points at 3.
    attacker(dir.path())
        .execute_batch(
            "PRAGMA foreign_keys = OFF;
             DROP TRIGGER ledger_no_delete; DROP TRIGGER record_versions_no_delete;
             DELETE FROM record_versions WHERE entry_seq = 3;
             DELETE FROM outbox WHERE entry_seq = 3;
             DELETE FROM ledger WHERE seq = 3;",
        )
        .unwrap();
    let report = store.verify().unwrap();
    assert!(
        report.first_broken.is_none(),
        "the chain that is left is intact"
    );
    assert_eq!(report.head_seq, 2);
    assert!(!report.ok);
    let p = problem(&report, "LEDGER_TAIL_MISSING", "cases");
    assert_eq!(p.entry_seq, Some(3));
}

#[test]
fn a_tail_cut_after_its_receipt_is_named_by_the_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_evidence(dir.path());
    // The server acknowledged everything; then the last entry and every row about it disappear,
    // the case is put back as it was, and only the receipt remains.
    let conn = attacker(dir.path());
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         INSERT INTO receipts (entry_seq, status, leaf_index, tree_size, inclusion_proof, checkpoint, received_at)
             SELECT entry_seq, 'accepted', entry_seq - 1, 3, x'', 'cp', 'now' FROM outbox;
         DELETE FROM outbox;
         DROP TRIGGER ledger_no_delete; DROP TRIGGER record_versions_no_delete;
         DELETE FROM record_versions WHERE entry_seq = 3;
         DELETE FROM ledger WHERE seq = 3;
         UPDATE cases SET last_seq = 2, case_number = NULL;",
    )
    .unwrap();
    let report = store.verify().unwrap();
    assert!(report.first_broken.is_none());
    let p = problem(&report, "LEDGER_TAIL_MISSING", "receipts");
    assert_eq!(p.entry_seq, Some(3));
    assert!(
        report.problems.iter().all(|p| p.table == "receipts"),
        "{:#?}",
        report.problems
    );
}

fn flip_byte(path: &Path, offset: u64) {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    std::io::Read::read_exact(&mut f, &mut b).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
}

#[test]
fn a_damaged_first_page_is_corruption_not_a_wrong_key() {
    for offset in [3u64, 100, 2000] {
        let dir = tempfile::tempdir().unwrap();
        drop(store_with_evidence(dir.path()));
        assert!(!dir.path().join(format!("{DB_FILE}-wal")).exists());
        flip_byte(&dir.path().join(DB_FILE), offset);
        let err = Store::open(dir.path(), &KEY, Durability::Normal).unwrap_err();
        assert_eq!(err.code(), "STORE_CORRUPT", "byte {offset}: {err:?}");
        // Another key is still a wrong key.
        let err = Store::open(dir.path(), &[9u8; 32], Durability::Normal).unwrap_err();
        assert_eq!(err.code(), "STORE_WRONG_KEY", "byte {offset}");
        // Without the key check nothing can tell the two apart; the message says both.
        std::fs::remove_file(dir.path().join(KEY_CHECK_FILE)).unwrap();
        let err = Store::open(dir.path(), &KEY, Durability::Normal).unwrap_err();
        assert_eq!(err.code(), "STORE_WRONG_KEY");
        assert!(err.message().contains("损坏"), "{err:?}");
    }
}

#[test]
fn a_damaged_later_page_is_found_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    {
        let store = open(dir.path());
        for _ in 0..40 {
            store.create_case(&record()).unwrap();
        }
    }
    let len = std::fs::metadata(&db).unwrap().len();
    flip_byte(&db, len - 4096 + 200);
    let store = Store::open(dir.path(), &KEY, Durability::Normal).unwrap();
    let report = store.check().unwrap();
    assert!(!report.ok);
    assert!(!report.cipher_integrity.is_empty(), "{report:#?}");
    assert_eq!(report.error().unwrap().code(), "STORE_CORRUPT");
}

#[test]
fn an_emptied_database_beside_its_key_check_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
    let err = Store::open(dir.path(), &KEY, Durability::Normal).unwrap_err();
    assert_eq!(err.code(), "STORE_CORRUPT");
    std::fs::remove_file(dir.path().join(DB_FILE)).unwrap();
    let err = Store::open(dir.path(), &KEY, Durability::Normal).unwrap_err();
    assert_eq!(err.code(), "STORE_CORRUPT");
    assert!(
        !dir.path().join(DB_FILE).exists(),
        "no new empty database was started"
    );
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new").join("data");
    let store = open(&dir);
    store.create_case(&record()).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&tmp.path().join("new")), 0o700);
    for name in [
        DB_FILE,
        "roadside.db-wal",
        "roadside.db-shm",
        KEY_CHECK_FILE,
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    drop(store);
    // A database an older build left readable by others is narrowed when it is opened.
    std::fs::set_permissions(dir.join(DB_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = open(&dir);
    store.create_case(&record()).unwrap();
    for name in [DB_FILE, "roadside.db-wal", "roadside.db-shm"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
}

/// A signed log of `hashes` as the server keeps it, and its receipts: (verifier key, origin,
/// one `EntryResult::Receipt` per entry, seq 1…).
#[cfg(feature = "sync")]
fn receipted_log(hashes: &[[u8; 32]]) -> (String, String, Vec<sync::EntryResult>) {
    use signed_note::{Note, StandardSigner};
    use tlog_tiles::{node_hash, record_hash, Checkpoint};
    assert_eq!(
        hashes.len(),
        3,
        "the proofs below are for a tree of three leaves"
    );
    let origin = "roadside.test/log";
    let (private, verifier) = signed_note::generate_key(&mut rand_core::OsRng, origin);
    let leaves: Vec<_> = hashes.iter().map(|h| record_hash(h)).collect();
    let left = node_hash(leaves[0], leaves[1]);
    let root = node_hash(left, leaves[2]);
    let checkpoint = Checkpoint::new(origin, 3, root, "").unwrap();
    let mut note = Note::new(&checkpoint.to_bytes(), &[]).unwrap();
    note.add_sigs(&[&StandardSigner::new(&private).unwrap()])
        .unwrap();
    let note = String::from_utf8(note.to_bytes()).unwrap();
    let proofs = [
        vec![leaves[1].0, leaves[2].0],
        vec![leaves[0].0, leaves[2].0],
        vec![left.0],
    ];
    let receipts = proofs
        .into_iter()
        .enumerate()
        .map(|(i, proof)| sync::EntryResult::Receipt {
            seq: i as u64 + 1,
            status: sync::ReceiptStatus::Accepted,
            leaf_index: i as u64,
            tree_size: 3,
            proof,
            checkpoint: note.clone(),
            code: None,
            message: None,
        })
        .collect();
    (verifier, origin.to_string(), receipts)
}

#[cfg(feature = "sync")]
#[test]
fn a_re_signed_entry_is_caught_by_its_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = store_with_evidence(dir.path());
    let hashes: Vec<[u8; 32]> = store
        .export_ledger()
        .unwrap()
        .iter()
        .map(|e| hex::decode(&e.hash).unwrap().try_into().unwrap())
        .collect();
    let (verifier, origin, receipts) = receipted_log(&hashes);
    store
        .save_enrolment(&sync::SyncConfig {
            server_url: "http://127.0.0.1:9".to_string(),
            server_device_id: "d1".to_string(),
            token: "t".to_string(),
            agency: "632500".to_string(),
            certificate_no: "QH6325000101".to_string(),
            log_origin: origin,
            log_verifier_key: verifier,
            bundle_key: None,
            enrolled_at: "2026-03-01T00:00:00.000Z".to_string(),
        })
        .unwrap();
    store.apply_push_results(&receipts).unwrap();
    let report = store.verify().unwrap();
    assert!(report.ok, "{:#?}", report.problems);
    assert_eq!(report.receipts_checked, 3);

    // The device key is in the database, so someone holding the database key can re-sign an
    // entry: the chain and every row still agree, only the server's signed log does not.
    let conn = attacker(dir.path());
    let device_key: Vec<u8> = conn
        .query_row("SELECT v FROM meta WHERE k = 'device_key'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let device_key = ledger::DeviceKey::from_bytes(&device_key.try_into().unwrap());
    let bytes: Vec<u8> = conn
        .query_row("SELECT bytes FROM ledger WHERE seq = 3", [], |r| r.get(0))
        .unwrap();
    let mut entry: ledger::LedgerEntry = serde_json::from_slice(&bytes).unwrap();
    entry.body["record"]["remarks"] = json!("当事人未到场");
    let forged = ledger::seal(&entry, &device_key).unwrap();
    conn.execute_batch("DROP TRIGGER ledger_no_update").unwrap();
    conn.execute(
        "UPDATE ledger SET bytes = ?1, hash = ?2, sig = ?3 WHERE seq = 3",
        params![forged.bytes, &forged.hash[..], &forged.sig[..]],
    )
    .unwrap();
    let report = store.verify().unwrap();
    assert!(
        report.first_broken.is_none(),
        "the re-signed chain verifies"
    );
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    let p = problem(&report, "RECEIPT_MISMATCH", "receipts");
    assert_eq!(p.entry_seq, Some(3));
    assert_eq!(
        p.entry_hash.as_deref(),
        Some(hex::encode(forged.hash).as_str())
    );

    // A checkpoint not signed by the pinned key is named too.
    conn.execute_batch(
        "DROP TRIGGER receipts_no_update;
         UPDATE receipts SET checkpoint = replace(checkpoint, 'roadside.test/log', 'other.test/log') WHERE entry_seq = 1;",
    )
    .unwrap();
    let report = store.verify().unwrap();
    let p = problem(&report, "RECEIPT_CHECKPOINT_INVALID", "receipts");
    assert_eq!(p.entry_seq, Some(1));
}
