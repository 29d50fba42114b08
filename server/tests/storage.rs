//! The `Storage` trait's contract, run against SQLite always and PostgreSQL when
//! `ROADSIDE_TEST_PG_URL` is set (the HTTP suites in `api.rs` and `log_consistency.rs` run on both
//! too). The publications (行政处罚决定公示) have one test per behaviour, on both backends.

#[macro_use]
mod common;

use common::*;
use roadside_core::model::OfficerRole;
use roadside_server::auth::secret_hash;
use roadside_server::storage::{
    self, Account, Device, DynStorage, EnrolOutcome, EnrolmentCode, Session,
};

fn device(key: &str) -> Device {
    Device {
        id: uuid::Uuid::now_v7().to_string(),
        public_key: key.to_string(),
        agency: String::new(),
        certificate_no: String::new(),
        name: "终端".to_string(),
        enrolled_at: String::new(),
        revoked_at: None,
        head_seq: 0,
        head_hash: None,
    }
}

async fn contract(s: DynStorage) {
    s.ping().await.expect("ping");
    assert_eq!(
        s.setting_or_insert("k", "first").await.expect("set"),
        "first"
    );
    assert_eq!(
        s.setting_or_insert("k", "second").await.expect("set"),
        "first",
        "first writer wins"
    );
    assert_eq!(s.setting("k").await.expect("get").as_deref(), Some("first"));
    assert_eq!(s.setting("absent").await.expect("get"), None);
    s.setting_or_insert("p:b", "2").await.expect("set");
    s.setting_or_insert("p:a", "1").await.expect("set");
    s.setting_or_insert("p%", "literal").await.expect("set");
    s.setting_or_insert("q:a", "3").await.expect("set");
    assert_eq!(
        s.settings_with_prefix("p:").await.expect("prefix"),
        [("p:a".into(), "1".into()), ("p:b".into(), "2".into())],
        "by name, the prefix taken literally"
    );
    let erase = [
        ("p:a".to_string(), "1".to_string()),
        ("p:b".to_string(), "changed".to_string()),
        ("absent".to_string(), "x".to_string()),
    ];
    assert_eq!(
        s.erase_settings(&erase).await.expect("erase"),
        1,
        "only rows still holding the value"
    );
    assert_eq!(
        s.settings_with_prefix("p").await.expect("prefix"),
        [("p%".into(), "literal".into()), ("p:b".into(), "2".into())]
    );

    for a in roadside_server::bootstrap::demo_agencies() {
        s.upsert_agency(&a).await.expect("agency");
    }
    assert_eq!(s.agencies().await.expect("agencies").len(), 7);
    for o in roadside_core::demo::roster() {
        s.put_officer(&o).await.expect("officer");
    }
    let gonghe = s.officers(&["632521".to_string()]).await.expect("officers");
    assert!(gonghe.iter().all(|o| o.agency == "632521") && gonghe.len() == 2);
    let revoked = s
        .officer("QH6325000199")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        revoked.revoked_on,
        roadside_core::day::parse_day("2025-06-30")
    );
    assert_eq!(
        s.officers_by_certificate(&["QH6325000101".into(), "NOPE".into()])
            .await
            .expect("q")
            .len(),
        1
    );

    let account = Account {
        login: "a".into(),
        agency: "632500".into(),
        role: OfficerRole::Supervisor,
        certificate_no: Some("QH6325000104".into()),
        password_hash: "x".into(),
        disabled: false,
    };
    assert!(s.create_account(&account).await.expect("create"));
    assert!(
        !s.create_account(&account).await.expect("create again"),
        "login taken"
    );
    assert_eq!(s.account("a").await.expect("get"), Some(account.clone()));
    let county = Account {
        login: "b".into(),
        agency: "632521".into(),
        ..account.clone()
    };
    assert!(s.create_account(&county).await.expect("create county"));
    let listed = |scope: &[&str]| {
        let scope: Vec<String> = scope.iter().map(|a| a.to_string()).collect();
        let s = s.clone();
        async move { s.accounts(&scope).await.expect("accounts") }
    };
    assert_eq!(
        listed(&["632500", "632521"]).await,
        vec![account.clone(), county.clone()]
    );
    assert_eq!(listed(&["632521"]).await, vec![county]);
    assert!(listed(&[]).await.is_empty());

    let t = secret_hash("token");
    let session = Session {
        login: "a".into(),
        agency: "632500".into(),
        role: OfficerRole::Supervisor,
        expires_at: "2999-01-01T00:00:00Z".into(),
    };
    s.create_session(&t, &session).await.expect("session");
    assert_eq!(s.session(&t).await.expect("get"), Some(session));
    s.delete_session(&t).await.expect("delete");
    assert_eq!(s.session(&t).await.expect("get"), None);

    let code = |c: &str, expires: &str| EnrolmentCode {
        code_hash: secret_hash(c),
        agency: "632521".into(),
        certificate_no: "QH6325210201".into(),
        created_by: "a".into(),
        expires_at: expires.into(),
    };
    s.create_enrolment_code(&code("good", "2999-01-01T00:00:00Z"))
        .await
        .expect("code");
    s.create_enrolment_code(&code("old", "2000-01-01T00:00:00Z"))
        .await
        .expect("code");
    s.create_enrolment_code(&code("second", "2999-01-01T00:00:00Z"))
        .await
        .expect("code");
    let now = "2026-01-01T00:00:00Z";
    let key = "11".repeat(32);
    let out = s
        .enrol_device(
            &secret_hash("good"),
            now,
            device(&key),
            &secret_hash("dev-token"),
        )
        .await
        .expect("enrol");
    let EnrolOutcome::Enrolled(d) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        (d.agency.as_str(), d.certificate_no.as_str()),
        ("632521", "QH6325210201")
    );
    assert_eq!(
        s.enrol_device(
            &secret_hash("good"),
            now,
            device(&"22".repeat(32)),
            &secret_hash("t2")
        )
        .await
        .expect("e"),
        EnrolOutcome::CodeUsed
    );
    assert_eq!(
        s.enrol_device(
            &secret_hash("old"),
            now,
            device(&"22".repeat(32)),
            &secret_hash("t2")
        )
        .await
        .expect("e"),
        EnrolOutcome::CodeExpired
    );
    assert_eq!(
        s.enrol_device(
            &secret_hash("nope"),
            now,
            device(&"22".repeat(32)),
            &secret_hash("t2")
        )
        .await
        .expect("e"),
        EnrolOutcome::CodeUnknown
    );
    assert_eq!(
        s.enrol_device(
            &secret_hash("second"),
            now,
            device(&key),
            &secret_hash("t3")
        )
        .await
        .expect("e"),
        EnrolOutcome::KeyTaken
    );

    let found = s
        .device_by_token(&secret_hash("dev-token"))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(found.id, d.id);
    assert!(
        !s.revoke_device(&d.id, &["632522".into()], now)
            .await
            .expect("revoke"),
        "other agency cannot revoke"
    );
    assert!(s
        .revoke_device(&d.id, &["632521".into()], now)
        .await
        .expect("revoke"));
    let found = s
        .device_by_token(&secret_hash("dev-token"))
        .await
        .expect("get")
        .expect("found");
    assert_eq!(found.revoked_at.as_deref(), Some(now));
    assert_eq!(s.devices(&["632521".into()]).await.expect("list").len(), 1);
    assert!(s
        .devices(&["632500".into()])
        .await
        .expect("list")
        .is_empty());

    assert_eq!(s.tree_size().await.expect("size"), 0);
    assert_eq!(s.checkpoint(None).await.expect("cp"), None);
    assert!(s.leaves(0, 10).await.expect("leaves").is_empty());
    assert!(s
        .read_tiles(&[(0, 0)])
        .await
        .expect("tiles")
        .tiles
        .is_empty());
    assert!(s.cases(&["632521".into()]).await.expect("cases").is_empty());
}

#[tokio::test]
async fn storage_contract_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = storage::open(&dir.path().join("s.sqlite3").to_string_lossy())
        .await
        .expect("open");
    contract(s).await;
}

#[tokio::test]
async fn storage_contract_on_postgres() {
    let Some(admin) = pg_admin_url() else {
        eprintln!(
            "skipped: ROADSIDE_TEST_PG_URL is not set (scripts/pg-test-server.sh starts one)"
        );
        return;
    };
    let s = storage::open(&fresh_pg_database(&admin).await)
        .await
        .expect("open");
    contract(s).await;
}

// ---- Publications (行政处罚决定公示) ----

use roadside_server::publication::{PublicationDraft, PublicationRecord, HEADERS};
use roadside_server::storage::{PublicationAction, PublicationFilter, PublicationState};

backend_tests!(db:
    a_publication_is_published_updated_and_withdrawn_with_its_history,
    a_withdrawn_publication_is_never_published_again,
    overdue_publications_are_the_pending_ones_past_their_due_day,
    publications_are_seen_only_by_their_agency,
    the_publication_history_cannot_be_rewritten,
    witness_cosignatures_and_alarms_are_kept_once,
);

/// Witness cosignatures are kept per witness and checkpoint text (a repeat ignored), the largest
/// cosigned size is per witness and origin, and alarms are kept once per witness, checkpoint and
/// code, newest first.
async fn witness_cosignatures_and_alarms_are_kept_once(db: Db) {
    use roadside_server::storage::{WitnessAlarm, WitnessCosignature};
    let dir = tempfile::tempdir().expect("tempdir");
    let s = storage::open(&db.new_database_url(dir.path()).await)
        .await
        .expect("open");
    let cosig =
        |witness: &str, digest: &str, origin: &str, size: u64, line: &str| WitnessCosignature {
            witness: witness.to_string(),
            checkpoint_sha256: digest.to_string(),
            origin: origin.to_string(),
            size,
            line: line.to_string(),
            signed_at: 1_765_000_000 + size,
            received_at: format!("2026-12-08T00:00:{size:02}.000000Z"),
        };
    assert_eq!(s.witness_cosignatures("aa").await.expect("none"), []);
    assert_eq!(
        s.witness_cosigned_size("w1", "o").await.expect("none"),
        None
    );
    let w1 = cosig("w1", "aa", "o", 3, "— w1 first");
    s.put_witness_cosignature(&w1).await.expect("w1");
    s.put_witness_cosignature(&cosig("w1", "aa", "o", 3, "— w1 again"))
        .await
        .expect("repeat ignored");
    let w2 = cosig("w2", "aa", "o", 3, "— w2");
    s.put_witness_cosignature(&w2).await.expect("w2");
    s.put_witness_cosignature(&cosig("w1", "bb", "o", 7, "— w1 at 7"))
        .await
        .expect("w1 at 7");
    s.put_witness_cosignature(&cosig("w1", "cc", "other", 9, "— w1 other origin"))
        .await
        .expect("other origin");
    assert_eq!(s.witness_cosignatures("aa").await.expect("aa"), [w1, w2]);
    assert_eq!(
        s.witness_cosigned_size("w1", "o").await.expect("w1"),
        Some(7)
    );
    assert_eq!(
        s.witness_cosigned_size("w2", "o").await.expect("w2"),
        Some(3)
    );
    assert_eq!(s.witness_cosigned_size("w3", "o").await.expect("w3"), None);

    let alarm = |code: &str, at: &str, witness_size: Option<u64>| WitnessAlarm {
        witness: "w1".to_string(),
        code: code.to_string(),
        size: 3,
        witness_size,
        message: "见证者拒绝".to_string(),
        checkpoint: "o\n3\nhash\n".to_string(),
        checkpoint_sha256: "dd".to_string(),
        detected_at: at.to_string(),
    };
    let split = alarm("WITNESS_SPLIT_VIEW", "2026-12-08T01:00:00.000000Z", Some(3));
    s.put_witness_alarm(&split).await.expect("alarm");
    s.put_witness_alarm(&alarm(
        "WITNESS_SPLIT_VIEW",
        "2026-12-08T02:00:00.000000Z",
        Some(3),
    ))
    .await
    .expect("same alarm again");
    let ahead = alarm("WITNESS_AHEAD", "2026-12-08T03:00:00.000000Z", None);
    s.put_witness_alarm(&ahead).await.expect("another code");
    assert_eq!(s.witness_alarms().await.expect("alarms"), [ahead, split]);
}

/// A storage on a new database of `db`'s kind, with the demo agencies (the directory holds a
/// SQLite file).
async fn publication_storage(db: &Db) -> (tempfile::TempDir, DynStorage, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db.new_database_url(dir.path()).await;
    let s = storage::open(&url).await.expect("open");
    for a in roadside_server::bootstrap::demo_agencies() {
        s.upsert_agency(&a).await.expect("agency");
    }
    (dir, s, url)
}

fn record(party: &str, facts: &str) -> PublicationRecord {
    let mut items = serde_json::Map::new();
    for h in HEADERS {
        items.insert(h.to_string(), serde_json::Value::String(String::new()));
    }
    items.insert("行政相对人名称".into(), party.into());
    items.insert("违法事实".into(), facts.into());
    serde_json::from_value(items.into()).expect("a record from its items")
}

/// The publication of decision `n` of `case`, decided on `decided_on`, of `agency`.
fn draft(agency: &str, case: &str, n: u8, decided_on: &str) -> PublicationDraft {
    let book = roadside_core::rules::RuleBook::bundled().expect("reference data");
    PublicationDraft {
        case_id: case.into(),
        agency: agency.into(),
        entry_hash: format!("{n:02x}").repeat(32),
        decided_on: roadside_core::day::parse_day(decided_on).expect("day"),
        due: book.deadline("publication", decided_on).expect("due"),
        record: record("张某", "超限运输"),
    }
}

const COUNTY: &str = "632521";

fn scope(a: &str) -> Vec<String> {
    vec![a.to_string()]
}

fn day(s: &str) -> chrono::NaiveDate {
    roadside_core::day::parse_day(s).expect("day")
}

async fn a_publication_is_published_updated_and_withdrawn_with_its_history(db: Db) {
    let (_dir, s, _) = publication_storage(&db).await;
    let d = draft(COUNTY, "case-1", 1, "2026-11-02");
    let (case, hash) = (d.case_id.as_str(), d.entry_hash.as_str());
    let mine = scope(COUNTY);
    assert!(s
        .add_publication(&d, "clerk", "2026-11-02T09:00:00.000000Z")
        .await
        .expect("add"));
    assert!(
        !s.add_publication(&d, "other", "2026-11-03T09:00:00.000000Z")
            .await
            .expect("add again"),
        "one publication per decision"
    );
    let p = s
        .publication(&mine, case, hash)
        .await
        .expect("read")
        .expect("registered");
    assert_eq!(p.state, PublicationState::Pending);
    assert_eq!(p.due_on, day("2026-11-30"), "20 working days after");
    assert_eq!(p.decided_on, day("2026-11-02"));
    assert_eq!(
        (p.agency.as_str(), p.record.clone()),
        (COUNTY, d.record.clone())
    );
    assert_eq!(p.created_at, "2026-11-02T09:00:00.000000Z");
    assert_eq!(p.published_at, None);

    let p = s
        .publish(&mine, case, hash, "clerk", "2026-11-10T09:00:00.000000Z")
        .await
        .expect("publish");
    assert_eq!(p.state, PublicationState::Published);
    assert_eq!(
        p.published_at.as_deref(),
        Some("2026-11-10T09:00:00.000000Z")
    );
    let err = s
        .publish(&mine, case, hash, "clerk", "2026-11-11T09:00:00.000000Z")
        .await
        .expect_err("twice");
    assert_eq!(err.code, "PUBLICATION_ALREADY_PUBLISHED");

    let corrected = record("张某", "超限运输（更正）");
    let err = s
        .update_publication(
            &mine,
            case,
            hash,
            &corrected,
            " ",
            "clerk",
            "2026-11-12T00:00:00Z",
        )
        .await
        .expect_err("no reason");
    assert_eq!(err.code, "PUBLICATION_REASON_REQUIRED");
    let p = s
        .update_publication(
            &mine,
            case,
            hash,
            &corrected,
            "违法事实笔误更正",
            "chief",
            "2026-11-12T09:00:00.000000Z",
        )
        .await
        .expect("update");
    assert_eq!(p.state, PublicationState::Published, "still public");
    assert_eq!(p.record, corrected);
    assert_eq!(
        p.published_at.as_deref(),
        Some("2026-11-10T09:00:00.000000Z")
    );
    assert_eq!(p.updated_at, "2026-11-12T09:00:00.000000Z");
    assert_eq!(s.published_publications().await.expect("public").len(), 1);

    let err = s
        .withdraw_publication(&mine, case, hash, "", "chief", "2026-11-13T00:00:00Z")
        .await
        .expect_err("no reason");
    assert_eq!(err.code, "PUBLICATION_REASON_REQUIRED");
    let p = s
        .withdraw_publication(
            &mine,
            case,
            hash,
            " 处罚决定经行政复议被撤销 ",
            "chief",
            "2026-11-20T09:00:00.000000Z",
        )
        .await
        .expect("withdraw");
    assert_eq!(p.state, PublicationState::Withdrawn);
    assert_eq!(
        p.withdrawn_reason.as_deref(),
        Some("处罚决定经行政复议被撤销")
    );
    assert_eq!(
        p.withdrawn_at.as_deref(),
        Some("2026-11-20T09:00:00.000000Z")
    );
    assert!(s.published_publications().await.expect("public").is_empty());

    // The history, oldest first: who did what, when, why, and the record after each change.
    let h = s
        .publication_history(&mine, case, hash)
        .await
        .expect("history");
    let summary: Vec<_> = h
        .iter()
        .map(|e| {
            (
                e.seq,
                e.action,
                e.reason.as_deref(),
                e.by.as_str(),
                e.at.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                1,
                PublicationAction::Created,
                None,
                "clerk",
                "2026-11-02T09:00:00.000000Z"
            ),
            (
                2,
                PublicationAction::Published,
                None,
                "clerk",
                "2026-11-10T09:00:00.000000Z"
            ),
            (
                3,
                PublicationAction::Updated,
                Some("违法事实笔误更正"),
                "chief",
                "2026-11-12T09:00:00.000000Z"
            ),
            (
                4,
                PublicationAction::Withdrawn,
                Some("处罚决定经行政复议被撤销"),
                "chief",
                "2026-11-20T09:00:00.000000Z"
            ),
        ]
    );
    assert_eq!(h[1].record, d.record, "what was first published");
    assert_eq!(h[2].record, corrected);
    assert_eq!(h[3].record, corrected);
}

async fn a_withdrawn_publication_is_never_published_again(db: Db) {
    let (_dir, s, _) = publication_storage(&db).await;
    let d = draft(COUNTY, "case-1", 1, "2026-11-02");
    let (case, hash) = (d.case_id.as_str(), d.entry_hash.as_str());
    let mine = scope(COUNTY);
    s.add_publication(&d, "clerk", "2026-11-02T09:00:00.000000Z")
        .await
        .expect("add");
    // Withdrawn before it was ever published.
    s.withdraw_publication(
        &mine,
        case,
        hash,
        "决定已变更",
        "chief",
        "2026-11-03T09:00:00Z",
    )
    .await
    .expect("withdraw");
    let before = s.publication(&mine, case, hash).await.expect("read");
    let history = s.publication_history(&mine, case, hash).await.expect("h");

    let err = s
        .publish(&mine, case, hash, "clerk", "2026-11-04T09:00:00Z")
        .await
        .expect_err("republish");
    assert_eq!(err.code, "PUBLICATION_WITHDRAWN");
    assert_eq!(err.kind.status().as_u16(), 409);
    assert!(err.message.contains("已撤回"), "{}", err.message);
    let err = s
        .update_publication(
            &mine,
            case,
            hash,
            &record("张某", "x"),
            "更正",
            "clerk",
            "2026-11-04T09:00:00Z",
        )
        .await
        .expect_err("update");
    assert_eq!(err.code, "PUBLICATION_WITHDRAWN");
    let err = s
        .withdraw_publication(
            &mine,
            case,
            hash,
            "再次撤回",
            "clerk",
            "2026-11-04T09:00:00Z",
        )
        .await
        .expect_err("withdraw again");
    assert_eq!(err.code, "PUBLICATION_WITHDRAWN");

    // Nothing changed, in the publication or its history; nothing is public.
    assert_eq!(
        s.publication(&mine, case, hash).await.expect("read"),
        before
    );
    assert_eq!(
        s.publication_history(&mine, case, hash).await.expect("h"),
        history
    );
    assert_eq!(before.map(|p| p.published_at), Some(None));
    assert!(s.published_publications().await.expect("public").is_empty());
    // Registering it again does not bring it back.
    assert!(!s
        .add_publication(&d, "clerk", "2026-11-05T09:00:00Z")
        .await
        .expect("add again"));
    let p = s
        .publication(&mine, case, hash)
        .await
        .expect("read")
        .expect("p");
    assert_eq!(p.state, PublicationState::Withdrawn);
}

async fn overdue_publications_are_the_pending_ones_past_their_due_day(db: Db) {
    let (_dir, s, _) = publication_storage(&db).await;
    let mine = scope(COUNTY);
    // Due 2026-10-29 (国庆 in between), 2026-11-30, 2026-12-01.
    let early = draft(COUNTY, "case-a", 1, "2026-09-24");
    let late = draft(COUNTY, "case-b", 2, "2026-11-02");
    let later = draft(COUNTY, "case-c", 3, "2026-11-03");
    let published = draft(COUNTY, "case-d", 4, "2026-09-01");
    let withdrawn = draft(COUNTY, "case-e", 5, "2026-09-02");
    for d in [&later, &early, &late, &published, &withdrawn] {
        s.add_publication(d, "clerk", "2026-11-04T09:00:00Z")
            .await
            .expect("add");
    }
    s.publish(
        &mine,
        "case-d",
        &published.entry_hash,
        "clerk",
        "2026-11-05T09:00:00Z",
    )
    .await
    .expect("publish");
    s.withdraw_publication(
        &mine,
        "case-e",
        &withdrawn.entry_hash,
        "决定已撤销",
        "clerk",
        "2026-11-05T09:00:00Z",
    )
    .await
    .expect("withdraw");
    let cases = |ps: Vec<roadside_server::storage::Publication>| {
        ps.into_iter().map(|p| p.case_id).collect::<Vec<_>>()
    };
    let overdue = |on: &str| PublicationFilter {
        state: None,
        overdue_on: Some(day(on)),
    };
    assert_eq!(
        cases(
            s.publications(&mine, &overdue("2026-10-29"))
                .await
                .expect("list")
        ),
        Vec::<String>::new(),
        "the due day itself is still in time"
    );
    assert_eq!(
        cases(
            s.publications(&mine, &overdue("2026-10-30"))
                .await
                .expect("list")
        ),
        ["case-a"]
    );
    assert_eq!(
        cases(
            s.publications(&mine, &overdue("2026-12-01"))
                .await
                .expect("list")
        ),
        ["case-a", "case-b"]
    );
    assert_eq!(
        cases(
            s.publications(&mine, &overdue("2027-01-01"))
                .await
                .expect("list")
        ),
        ["case-a", "case-b", "case-c"],
        "published and withdrawn ones are never overdue"
    );
    let all = s
        .publications(&mine, &PublicationFilter::default())
        .await
        .expect("all");
    assert!(!all[0].overdue_on(day("2026-12-01")), "case-d is published");
    assert!(!all[2].overdue_on(day("2026-10-29")) && all[2].overdue_on(day("2026-10-30")));
    assert_eq!(
        cases(all),
        ["case-d", "case-e", "case-a", "case-b", "case-c"],
        "by due day"
    );
    let pending = PublicationFilter {
        state: Some(PublicationState::Pending),
        overdue_on: None,
    };
    assert_eq!(
        cases(s.publications(&mine, &pending).await.expect("pending")),
        ["case-a", "case-b", "case-c"]
    );
    let withdrawn_only = PublicationFilter {
        state: Some(PublicationState::Withdrawn),
        overdue_on: None,
    };
    assert_eq!(
        cases(
            s.publications(&mine, &withdrawn_only)
                .await
                .expect("withdrawn")
        ),
        ["case-e"]
    );
    assert_eq!(
        cases(s.published_publications().await.expect("public")),
        ["case-d"],
        "the public sees the published only"
    );
}

async fn publications_are_seen_only_by_their_agency(db: Db) {
    let (_dir, s, _) = publication_storage(&db).await;
    let county = draft(COUNTY, "case-1", 1, "2026-11-02");
    let other = draft("632522", "case-2", 2, "2026-11-02");
    s.add_publication(&county, "clerk", "2026-11-02T09:00:00Z")
        .await
        .expect("add");
    s.add_publication(&other, "clerk", "2026-11-02T09:00:00Z")
        .await
        .expect("add");
    let theirs = scope("632522");
    let (case, hash) = (county.case_id.as_str(), county.entry_hash.as_str());
    assert_eq!(
        s.publication(&theirs, case, hash).await.expect("read"),
        None
    );
    assert!(s
        .publication_history(&theirs, case, hash)
        .await
        .expect("history")
        .is_empty());
    let err = s
        .publish(&theirs, case, hash, "x", "2026-11-03T00:00:00Z")
        .await
        .expect_err("not theirs");
    assert_eq!(err.code, "PUBLICATION_NOT_FOUND");
    assert_eq!(err.kind.status().as_u16(), 404);
    let err = s
        .withdraw_publication(&theirs, case, hash, "x", "x", "2026-11-03T00:00:00Z")
        .await
        .expect_err("not theirs");
    assert_eq!(err.code, "PUBLICATION_NOT_FOUND");
    assert!(s
        .publications(&[], &PublicationFilter::default())
        .await
        .expect("none")
        .is_empty());
    // The prefecture bureau sees both when its scope names both.
    let both = vec![COUNTY.to_string(), "632522".to_string()];
    assert_eq!(
        s.publications(&both, &PublicationFilter::default())
            .await
            .expect("both")
            .len(),
        2
    );
    let p = s
        .publication(&scope(COUNTY), case, hash)
        .await
        .expect("read")
        .expect("own");
    assert_eq!(p.state, PublicationState::Pending, "nothing changed");
}

async fn the_publication_history_cannot_be_rewritten(db: Db) {
    let (dir, s, url) = publication_storage(&db).await;
    let d = draft(COUNTY, "case-1", 1, "2026-11-02");
    s.add_publication(&d, "clerk", "2026-11-02T09:00:00Z")
        .await
        .expect("add");
    let statements = [
        "UPDATE publication_events SET reason = 'x'",
        "DELETE FROM publication_events",
    ];
    match &db {
        Db::Sqlite => {
            let conn =
                rusqlite::Connection::open(dir.path().join("roadside.sqlite3")).expect("open");
            for sql in statements {
                let err = conn.execute(sql, []).expect_err(sql);
                assert!(err.to_string().contains("append-only"), "{sql}: {err}");
            }
        }
        Db::Postgres { .. } => {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            for sql in statements {
                let err = client.execute(sql, &[]).await.expect_err(sql);
                let detail = err.as_db_error().map(|e| e.message().to_string());
                assert_eq!(
                    detail.as_deref(),
                    Some("publication history is append-only"),
                    "{sql}"
                );
            }
        }
    }
    let h = s
        .publication_history(&scope(COUNTY), &d.case_id, &d.entry_hash)
        .await
        .expect("history");
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].reason, None);
}
