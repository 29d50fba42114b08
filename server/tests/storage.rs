//! The `Storage` trait's contract, run against SQLite always and PostgreSQL when
//! `ROADSIDE_TEST_PG_URL` is set (the HTTP suites in `api.rs` and `log_consistency.rs` run on both
//! too).

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
