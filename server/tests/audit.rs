//! The server's self-audit (`roadside-server audit` and the background audit) on a real database:
//! a clean database audits clean; each tampering done with SQL on the real database file (entry
//! bytes, bytes and hash, a deleted entry row, a case status, a flipped tile hash) is caught and
//! named, and the history query refuses to answer until the tampering is undone and audited again.
//! Runs on SQLite always and on PostgreSQL when `ROADSIDE_TEST_PG_URL` is set.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use roadside_core::ledger::{self, SignedEntry};
use roadside_server::audit::{self, Finding, Report};
use roadside_server::storage::DynStorage;
use serde_json::Value;

/// A raw connection to the server's database, to tamper with it as someone with file or
/// database access would.
enum Raw {
    Sqlite(rusqlite::Connection),
    Pg(tokio_postgres::Client),
}

impl Raw {
    async fn open(s: &TestServer, pg: Option<&str>) -> Raw {
        match pg {
            None => {
                let path = s.dir.path().join("roadside.sqlite3");
                let conn = rusqlite::Connection::open(path).expect("open SQLite file");
                conn.busy_timeout(Duration::from_secs(10)).expect("timeout");
                Raw::Sqlite(conn)
            }
            Some(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(conn);
                Raw::Pg(client)
            }
        }
    }

    async fn batch(&self, sql: &str) {
        match self {
            Raw::Sqlite(c) => c.execute_batch(sql).expect(sql),
            Raw::Pg(c) => c.batch_execute(sql).await.expect(sql),
        }
    }

    async fn entry_bytes(&self, hash: &[u8]) -> Vec<u8> {
        match self {
            Raw::Sqlite(c) => c
                .query_row("SELECT bytes FROM entries WHERE hash = ?1", [hash], |r| {
                    r.get(0)
                })
                .expect("entry"),
            Raw::Pg(c) => c
                .query_one("SELECT bytes FROM entries WHERE hash = $1", &[&hash])
                .await
                .expect("entry")
                .get(0),
        }
    }

    /// Set an entry's hash and bytes.
    async fn set_entry(&self, hash: &[u8], new_hash: &[u8], bytes: &[u8]) {
        let n = match self {
            Raw::Sqlite(c) => c
                .execute(
                    "UPDATE entries SET hash = ?1, bytes = ?2 WHERE hash = ?3",
                    rusqlite::params![new_hash, bytes, hash],
                )
                .expect("update") as u64,
            Raw::Pg(c) => c
                .execute(
                    "UPDATE entries SET hash = $1, bytes = $2 WHERE hash = $3",
                    &[&new_hash, &bytes, &hash],
                )
                .await
                .expect("update"),
        };
        assert_eq!(n, 1);
    }

    async fn tile(&self, level: i32, idx: i64) -> Vec<u8> {
        match self {
            Raw::Sqlite(c) => c
                .query_row(
                    "SELECT data FROM log_tiles WHERE level = ?1 AND idx = ?2",
                    rusqlite::params![level, idx],
                    |r| r.get(0),
                )
                .expect("tile"),
            Raw::Pg(c) => c
                .query_one(
                    "SELECT data FROM log_tiles WHERE level = $1 AND idx = $2",
                    &[&level, &idx],
                )
                .await
                .expect("tile")
                .get(0),
        }
    }

    async fn set_tile(&self, level: i32, idx: i64, data: &[u8]) {
        match self {
            Raw::Sqlite(c) => {
                c.execute(
                    "UPDATE log_tiles SET data = ?1 WHERE level = ?2 AND idx = ?3",
                    rusqlite::params![data, level, idx],
                )
                .expect("update tile");
            }
            Raw::Pg(c) => {
                c.execute(
                    "UPDATE log_tiles SET data = $1 WHERE level = $2 AND idx = $3",
                    &[&data, &level, &idx],
                )
                .await
                .expect("update tile");
            }
        }
    }
}

async fn audit_now(storage: &DynStorage, s: &TestServer) -> Report {
    let report = audit::run(storage, &s.verifier_key, audit::Options::default())
        .await
        .expect("audit runs");
    audit::record(storage, &report)
        .await
        .expect("findings kept");
    report
}

fn with_code<'a>(report: &'a Report, code: &str) -> Vec<&'a Finding> {
    report.findings.iter().filter(|f| f.code == code).collect()
}

fn assert_clean(report: &Report) {
    assert!(report.clean, "{:#?}", report.findings);
    assert_eq!(report.findings_total, 0);
}

async fn history_status(s: &TestServer, token: &str) -> (u16, Value) {
    s.call(
        Method::GET,
        "/api/v1/history?plate=%E9%9D%92E12345",
        Some(token),
        None,
    )
    .await
}

/// `roadside-server audit` on the server's database: (exit status, JSON report).
fn audit_command(s: &TestServer, pg: Option<&str>) -> (i32, Value) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_roadside-server"));
    cmd.env_clear().arg("--data-dir").arg(s.dir.path());
    if let Some(url) = pg {
        cmd.arg("--database-url").arg(url);
    }
    let out = cmd
        .arg("audit")
        .output()
        .expect("roadside-server audit runs");
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report)
}

/// Twelve entries of one device: seq 1 opens a case for 青E12345, then evidence and records.
async fn populated(s: &TestServer) -> (String, Vec<SignedEntry>) {
    let admin = s.admin().await;
    let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
    let entries = chain(&key, None, 12, &TWO_OFFICERS);
    let (status, body) = s.push(&token, &entries).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 12, "{body}");
    (token, entries)
}

async fn suite(pg: Option<String>) {
    let s = TestServer::start_with(pg.clone(), |c| c.audit_interval_secs = 0).await;
    let (token, entries) = populated(&s).await;
    let url = pg
        .clone()
        .unwrap_or_else(|| s.dir.path().join("roadside.sqlite3").display().to_string());
    let storage = roadside_server::storage::open(&url).await.expect("storage");
    let raw = Raw::open(&s, pg.as_deref()).await;
    let case = entries[0].entry().expect("entry").case.expect("case");

    // Clean.
    let report = audit_now(&storage, &s).await;
    assert_clean(&report);
    assert_eq!((report.entries, report.tree_size), (12, 12));
    assert_eq!((report.cases, report.records, report.evidence), (1, 7, 4));
    assert_eq!(report.checkpoint_size, Some(12));
    let (status, body) = history_status(&s, &token).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)), "{body}");

    // 1. The opening entry's bytes edited (another plate), hash column left: the history would
    //    follow the edited bytes; the audit names the entry and the history refuses.
    let opening = &entries[0];
    let edited = String::from_utf8(opening.bytes.clone())
        .expect("UTF-8")
        .replace("E12345", "E54321")
        .into_bytes();
    assert_ne!(edited, opening.bytes);
    raw.set_entry(&opening.hash, &opening.hash, &edited).await;
    let report = audit_now(&storage, &s).await;
    let f = with_code(&report, audit::code::ENTRY_HASH_MISMATCH);
    assert_eq!(f.len(), 1, "{:#?}", report.findings);
    let e = f[0].entry.as_ref().expect("names the entry");
    assert_eq!((e.seq, e.leaf_index), (1, 0));
    assert_eq!(e.hash, hex::encode(opening.hash));
    assert_eq!(f[0].case.as_deref(), Some(case.as_str()));
    assert_eq!(
        with_code(&report, audit::code::ENTRY_SIGNATURE_INVALID).len(),
        1,
        "{:#?}",
        report.findings
    );
    let (status, body) = history_status(&s, &token).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "HISTORY_UNDER_AUDIT", "{body}");
    raw.set_entry(&opening.hash, &opening.hash, &opening.bytes)
        .await;
    assert_clean(&audit_now(&storage, &s).await);
    let (status, body) = history_status(&s, &token).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)), "{body}");

    // 2. A record's bytes and hash both edited, consistently: the signature fails and the log leaf
    //    no longer holds the entry's hash.
    let third = &entries[2];
    let bytes = raw.entry_bytes(&third.hash).await;
    let edited = String::from_utf8(bytes)
        .expect("UTF-8")
        .replace("笔录", "记录")
        .into_bytes();
    let new_hash = ledger::sha256(&edited);
    raw.set_entry(&third.hash, &new_hash, &edited).await;
    let report = audit_now(&storage, &s).await;
    let sig = with_code(&report, audit::code::ENTRY_SIGNATURE_INVALID);
    assert_eq!(sig.len(), 1, "{:#?}", report.findings);
    let e = sig[0].entry.as_ref().expect("names the entry");
    assert_eq!((e.seq, e.leaf_index), (3, 2));
    assert_eq!(e.hash, hex::encode(new_hash));
    let leaf = with_code(&report, audit::code::LEAF_MISMATCH);
    assert_eq!(leaf.len(), 1, "{:#?}", report.findings);
    assert_eq!(leaf[0].entry.as_ref().map(|e| e.seq), Some(3));
    assert!(with_code(&report, audit::code::ENTRY_HASH_MISMATCH).is_empty());
    assert_eq!(history_status(&s, &token).await.0, 409);
    raw.set_entry(&new_hash, &third.hash, &third.bytes).await;
    assert_clean(&audit_now(&storage, &s).await);

    // 3. An entry row deleted (the fifth, an evidence entry at leaf 4).
    raw.batch(
        "CREATE TABLE saved_entry AS SELECT * FROM entries WHERE leaf_index = 4; \
         DELETE FROM entries WHERE leaf_index = 4;",
    )
    .await;
    let report = audit_now(&storage, &s).await;
    let missing = with_code(&report, audit::code::ENTRY_MISSING);
    assert_eq!(missing.len(), 1, "{:#?}", report.findings);
    assert!(
        missing[0].detail.contains("第 4 个叶子"),
        "{}",
        missing[0].detail
    );
    assert!(
        missing[0].detail.contains(&hex::encode(
            roadside_server::tlog::record_hash(&entries[4].hash).0
        )),
        "{}",
        missing[0].detail
    );
    // The device's chain has a hole after seq 4, and its evidence row no entry stands behind.
    let chain = with_code(&report, audit::code::CHAIN_BROKEN);
    assert_eq!(chain.len(), 1, "{:#?}", report.findings);
    assert_eq!(chain[0].entry.as_ref().map(|e| e.seq), Some(6));
    assert_eq!(
        with_code(&report, audit::code::EVIDENCE_ROW_UNEXPECTED).len(),
        1,
        "{:#?}",
        report.findings
    );
    assert_eq!(history_status(&s, &token).await.0, 409);
    raw.batch("INSERT INTO entries SELECT * FROM saved_entry; DROP TABLE saved_entry;")
        .await;
    assert_clean(&audit_now(&storage, &s).await);

    // 4. The case's status edited; this time through `roadside-server audit` itself.
    raw.batch(&format!(
        "UPDATE cases SET status = 'finalized' WHERE id = '{case}'"
    ))
    .await;
    let (status, json) = audit_command(&s, pg.as_deref());
    assert_eq!(status, 1, "{json}");
    assert_eq!(json["clean"], false, "{json}");
    assert_eq!(json["codes"]["CASE_ROW_MISMATCH"], 1, "{json}");
    let f = &json["findings"][0];
    assert_eq!(f["code"], "CASE_ROW_MISMATCH", "{json}");
    assert_eq!(f["table"], "cases", "{json}");
    assert_eq!(f["case"], case.as_str(), "{json}");
    assert_eq!(f["entry"]["seq"], 1, "{json}");
    assert!(
        f["detail"]
            .as_str()
            .is_some_and(|d| d.contains("finalized")),
        "{json}"
    );
    let (status, body) = history_status(&s, &token).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "HISTORY_UNDER_AUDIT", "{body}");
    raw.batch(&format!(
        "UPDATE cases SET status = 'draft' WHERE id = '{case}'"
    ))
    .await;
    let (status, json) = audit_command(&s, pg.as_deref());
    assert_eq!(status, 0, "{json}");
    assert_eq!(json["clean"], true, "{json}");
    assert_eq!(json["entries"], 12, "{json}");
    assert_eq!(history_status(&s, &token).await.0, 200);

    // 5. One hash of the log's level-0 tile flipped (leaf 7).
    let tile = raw.tile(0, 0).await;
    let mut flipped = tile.clone();
    flipped[7 * 32 + 5] ^= 0x01;
    raw.set_tile(0, 0, &flipped).await;
    let report = audit_now(&storage, &s).await;
    let leaf = with_code(&report, audit::code::LEAF_MISMATCH);
    assert_eq!(leaf.len(), 1, "{:#?}", report.findings);
    let e = leaf[0].entry.as_ref().expect("names the entry");
    assert_eq!((e.seq, e.leaf_index), (8, 7));
    assert_eq!(e.hash, hex::encode(entries[7].hash));
    assert_eq!(report.findings_total, 1, "{:#?}", report.findings);
    assert_eq!(history_status(&s, &token).await.0, 409);
    raw.set_tile(0, 0, &tile).await;
    assert_clean(&audit_now(&storage, &s).await);
    assert_eq!(history_status(&s, &token).await.0, 200);

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_catches_each_tampering_sqlite() {
    suite(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_catches_each_tampering_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    suite(Some(fresh_pg_database(&admin).await)).await;
}

/// The value of a metric line `name value` on /metrics.
async fn metric(s: &TestServer, name: &str) -> Option<f64> {
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Poll /metrics until `check` holds for the findings gauge after a run counted later than `runs`.
async fn wait_for_audit(s: &TestServer, after_runs: f64, check: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let runs = metric(s, "roadside_audit_runs_total").await.unwrap_or(0.0);
        let findings = metric(s, "roadside_audit_findings").await;
        if findings.is_some_and(|f| runs > after_runs && check(f)) {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "the background audit did not report (runs {runs}, findings {findings:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn background(pg: Option<String>) {
    let s = TestServer::start_with(pg.clone(), |c| c.audit_interval_secs = 1).await;
    let (token, entries) = populated(&s).await;
    let raw = Raw::open(&s, pg.as_deref()).await;
    let case = entries[0].entry().expect("entry").case.expect("case");

    let runs = wait_for_audit(&s, 0.0, |f| f == 0.0).await;
    assert!(metric(&s, "roadside_audit_last_success_timestamp_seconds")
        .await
        .is_some_and(|t| t > 1.0e9));
    raw.batch(&format!(
        "UPDATE cases SET status = 'finalized' WHERE id = '{case}'"
    ))
    .await;
    let runs = wait_for_audit(&s, runs, |f| f == 1.0).await;
    let (status, body) = history_status(&s, &token).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "HISTORY_UNDER_AUDIT", "{body}");
    raw.batch(&format!(
        "UPDATE cases SET status = 'draft' WHERE id = '{case}'"
    ))
    .await;
    wait_for_audit(&s, runs, |f| f == 0.0).await;
    let (status, body) = history_status(&s, &token).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_audit_raises_the_alarm_and_holds_the_history_sqlite() {
    background(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_audit_raises_the_alarm_and_holds_the_history_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    background(Some(fresh_pg_database(&admin).await)).await;
}
