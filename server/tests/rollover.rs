//! A database restored from an older backup, then `log rollover`, on SQLite and PostgreSQL: the
//! server loses the entries logged after the backup (the device is refused as `CHAIN_GAP`), the
//! operator declares a rollover, and re-submitted entries come back with their old receipts, are
//! checked and recorded as recovered (`roadside_server::rollover`).

mod common;

use base64::Engine;
use common::*;
use roadside_core::ledger::SignedEntry;
use roadside_server::config::Config;
use serde_json::{json, Value};

const OFFICER: &str = "QH6325000101";
const DB_FILES: [&str; 3] = [
    "roadside.sqlite3",
    "roadside.sqlite3-wal",
    "roadside.sqlite3-shm",
];

/// Where the database lives, and how it is backed up and restored.
enum Backend {
    Sqlite,
    /// The live database's URL, and the admin URL to copy it with.
    Postgres {
        url: String,
        admin: String,
    },
}

impl Backend {
    fn url(&self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres { url, .. } => Some(url.clone()),
        }
    }

    /// Copy the database (the server is stopped): SQLite its files, PostgreSQL a database made
    /// from it as template.
    async fn copy(&self, dir: &std::path::Path, backup: &std::path::Path, restore: bool) {
        match self {
            Backend::Sqlite => {
                let (from, to) = if restore {
                    (backup, dir)
                } else {
                    (dir, backup)
                };
                for name in DB_FILES {
                    let _ = std::fs::remove_file(to.join(name));
                    if from.join(name).exists() {
                        std::fs::copy(from.join(name), to.join(name)).expect("copy");
                    }
                }
            }
            Backend::Postgres { url, admin } => {
                let name = |u: &str| {
                    u.split('?')
                        .next()
                        .and_then(|b| b.rsplit('/').next())
                        .expect("database name")
                        .to_string()
                };
                let live = name(url);
                let saved = format!("{live}_backup");
                let (from, to) = if restore {
                    (saved.clone(), live.clone())
                } else {
                    (live.clone(), saved.clone())
                };
                let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(conn);
                // Sessions the stopped server's pool may still hold.
                for db in [&from, &to] {
                    client
                        .batch_execute(&format!(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                             WHERE datname = '{db}' AND pid <> pg_backend_pid()"
                        ))
                        .await
                        .expect("terminate sessions");
                }
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {to}"))
                    .await
                    .expect("drop");
                client
                    .batch_execute(&format!("CREATE DATABASE {to} TEMPLATE {from}"))
                    .await
                    .expect("copy database");
            }
        }
    }
}

fn receipt_of(answer: &Value, i: usize) -> Value {
    answer["results"][i]["receipt"].clone()
}

fn push_with_old(entries: &[(SignedEntry, Option<Value>)]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({"entries": entries.iter().map(|(e, old)| {
        let mut v = json!({"bytes": b64.encode(&e.bytes), "sig": b64.encode(e.sig)});
        if let Some(old) = old {
            v["old_receipt"] = old.clone();
        }
        v
    }).collect::<Vec<_>>()})
}

async fn restore_then_rollover(backend: Backend) {
    let backup = tempfile::tempdir().expect("backup dir");
    let server = TestServer::start(backend.url()).await;
    let admin = server.admin().await;
    let (key, token, _) = server.enrol(&admin, OFFICER).await;
    let entries = chain(&key, None, 7, &[OFFICER, "QH6325000102"]);

    // Three entries, then a backup, then three more.
    let (status, first) = server.push(&token, &entries[..3]).await;
    assert_eq!(
        (status, first["accepted"].as_u64()),
        (200, Some(3)),
        "{first}"
    );
    let dir = server.stop_keeping_dir().await;
    backend.copy(dir.path(), backup.path(), false).await;
    let server = TestServer::start_in(dir, backend.url(), |_| {}).await;
    let (status, second) = server.push(&token, &entries[3..6]).await;
    assert_eq!(
        (status, second["accepted"].as_u64()),
        (200, Some(3)),
        "{second}"
    );
    let old_receipts: Vec<Value> = (0..3).map(|i| receipt_of(&second, i)).collect();
    assert_eq!(old_receipts[0]["leaf_index"], 3);

    // The restore: the server no longer has entries 4–6, and refuses 7 as a gap.
    let dir = server.stop_keeping_dir().await;
    backend.copy(dir.path(), backup.path(), true).await;
    let server = TestServer::start_in(dir, backend.url(), |_| {}).await;
    let (_, gap) = server.push(&token, &entries[6..]).await;
    assert_eq!(gap["results"][0]["code"], "CHAIN_GAP", "{gap}");

    // The operator declares the rollover on the stopped server's database.
    let dir = server.stop_keeping_dir().await;
    let mut config = Config::for_data_dir(dir.path());
    config.database_url = backend.url();
    let declared = roadside_server::log_rollover(&config, "从备份恢复")
        .await
        .expect("rollover");
    assert_eq!(declared["size"], 3);
    assert_eq!(declared["new_origin"], "roadside.local/log/epoch2");
    let server = TestServer::start_in(dir, backend.url(), |_| {}).await;
    let (_, key_answer) = server
        .call(reqwest::Method::GET, "/api/v1/log/key", None, None)
        .await;
    assert_eq!(key_answer["origin"], "roadside.local/log/epoch2");

    // An old receipt that does not prove the entry rejects it; nothing is stored.
    let mut forged = old_receipts[0].clone();
    forged["leaf_index"] = json!(4);
    let (_, bad) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/sync/push",
            Some(&token),
            Some(push_with_old(&[(entries[3].clone(), Some(forged))])),
        )
        .await;
    assert_eq!(bad["results"][0]["code"], "OLD_RECEIPT_INVALID", "{bad}");
    let (_, rolls) = server
        .call(reqwest::Method::GET, "/api/v1/log/rollovers", None, None)
        .await;
    assert_eq!(rolls["statements"].as_array().map(Vec::len), Some(1));
    assert_eq!(rolls["recovered"], json!([]));

    // The device re-submits 4–6 with their old receipts, and 7.
    let batch: Vec<(SignedEntry, Option<Value>)> = entries[3..]
        .iter()
        .cloned()
        .zip(old_receipts.iter().cloned().map(Some).chain([None]))
        .collect();
    let (status, again) = server
        .call(
            reqwest::Method::POST,
            "/api/v1/sync/push",
            Some(&token),
            Some(push_with_old(&batch)),
        )
        .await;
    assert_eq!(
        (status, again["accepted"].as_u64()),
        (200, Some(4)),
        "{again}"
    );
    let new_cp = receipt_of(&again, 0)["checkpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        new_cp.starts_with("roadside.local/log/epoch2\n7\n"),
        "{new_cp}"
    );

    // Entries the server kept answer as before (a receipt of the old origin, still valid: the new
    // log begins with it).
    let (_, dup) = server.push(&token, &entries[..3]).await;
    assert_eq!(dup["duplicates"], 3, "{dup}");
    assert!(receipt_of(&dup, 0)["checkpoint"]
        .as_str()
        .unwrap()
        .starts_with("roadside.local/log\n3\n"));

    // The gap is on record.
    let (_, rolls) = server
        .call(reqwest::Method::GET, "/api/v1/log/rollovers", None, None)
        .await;
    let recovered = rolls["recovered"].as_array().expect("recovered");
    assert_eq!(recovered.len(), 3, "{rolls:#}");
    for (i, r) in recovered.iter().enumerate() {
        assert_eq!(r["seq"], 4 + i as u64);
        assert_eq!(r["old_leaf_index"], 3 + i as u64);
        assert_eq!(r["leaf_index"], 3 + i as u64);
        assert_eq!(r["old_origin"], "roadside.local/log");
        assert_eq!(r["old_tree_size"], 6);
        assert_eq!(r["entry_hash"], hex::encode(entries[3 + i].hash));
    }
    let (_, page) = server
        .call(
            reqwest::Method::GET,
            "/api/v1/log/rollovers?after=4",
            None,
            None,
        )
        .await;
    assert_eq!(page["recovered"].as_array().map(Vec::len), Some(1));

    // An origin ends once: a declaration made with the first origin's signer (an operator racing
    // the first declaration) cannot replace its statement.
    let dir = server.stop_keeping_dir().await;
    let storage = roadside_server::storage::open(&config.database_url())
        .await
        .expect("open");
    let first_key = roadside_server::keys::KeyDir::open(&config.key_dir())
        .expect("key directory")
        .log_key("roadside.local/log")
        .expect("read key file")
        .expect("key");
    let configured =
        roadside_server::tlog::LogSigner::new("roadside.local/log", &first_key).expect("signer");
    let err = roadside_server::rollover::declare(&storage, &configured, "再次切换")
        .await
        .expect_err("an origin ends once");
    assert_eq!(err.code, "ROLLOVER_EXISTS");
    drop(dir);
}

#[tokio::test]
async fn restore_then_rollover_on_sqlite() {
    restore_then_rollover(Backend::Sqlite).await;
}

#[tokio::test]
async fn restore_then_rollover_on_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    let url = fresh_pg_database(&admin).await;
    restore_then_rollover(Backend::Postgres { url, admin }).await;
}
