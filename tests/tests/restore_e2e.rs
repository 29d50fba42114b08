//! Restoring the server's database from an older backup, end to end: the real `roadside-server`
//! binary (SQLite), the real core's sync client, the operator's `roadside-server log rollover`.
//!
//! A device syncs, the operator backs up the database (files copied while the server is stopped),
//! more entries sync, the backup is restored. The device must notice the log shrank, raise the
//! alarm, stop and keep everything; after the documented recovery every entry is on the server
//! exactly once, the entries the server had lost are recorded as recovered with their old
//! receipts, and sync goes on.

use std::path::Path;
use std::process::Command;

use roadside_core::evidence::hash_file;
use roadside_core::model::EvidenceKind;
use roadside_core::store::EvidenceMeta;
use roadside_core::sync::{verify, SyncOptions};
use roadside_tests::proxy::{FaultProxy, Faults};
use roadside_tests::*;
use serde_json::Value;

const OFFICER: &str = "QH6325000101";
const OTHER_OFFICER: &str = "QH6325000102";
const DB_FILES: [&str; 3] = [
    "roadside.sqlite3",
    "roadside.sqlite3-wal",
    "roadside.sqlite3-shm",
];

fn options() -> SyncOptions {
    SyncOptions {
        retry_attempts: 3,
        retry_base_ms: 5,
        retry_max_ms: 50,
        pull_bundles: false,
        ..SyncOptions::default()
    }
}

/// A cold backup: the database's files, copied while the server is stopped.
fn copy_database(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("backup dir");
    for name in DB_FILES {
        let target = to.join(name);
        if target.exists() {
            std::fs::remove_file(&target).expect("remove old file");
        }
        let source = from.join(name);
        if source.exists() {
            std::fs::copy(&source, &target).expect("copy database file");
        }
    }
}

/// `roadside-server log rollover --reason …` on a data directory: (exit ok, stdout JSON, stderr).
fn log_rollover(data_dir: &Path, reason: &str) -> (bool, Value, String) {
    let out = Command::new(server_bin())
        .env("ROADSIDE_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .args(["log", "rollover", "--reason", reason])
        .output()
        .expect("run roadside-server log rollover");
    let stdout = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn get_json(server: &ServerProcess, path: &str, token: Option<&str>) -> Value {
    let (status, body) = call("GET", &server.url(path), token, None);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The newest checkpoint's origin and size.
fn checkpoint(server: &ServerProcess) -> (String, u64) {
    let text = reqwest::blocking::get(server.url("/log/checkpoint"))
        .expect("checkpoint")
        .text()
        .expect("text");
    let mut lines = text.lines();
    let origin = lines.next().expect("origin").to_string();
    let size = lines.next().expect("size").parse().expect("size");
    (origin, size)
}

#[test]
fn restore_from_backup_is_detected_and_recovered_with_old_receipts() {
    let data = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(data.path(), "127.0.0.1:0");
    // Devices talk to a fixed address; the server behind it restarts on new ports.
    let proxy = FaultProxy::start(server.addr, Faults::none(), 1);
    let base = proxy.base();

    let dev = Device::new();
    enrol(&dev.store, &base, &server.enrolment_code(OFFICER));
    // A second device that syncs only before the backup: what it holds survives the restore.
    let quiet = Device::new();
    enrol(&quiet.store, &base, &server.enrolment_code(OTHER_OFFICER));

    // 1. Five cases synced from the first device, two from the second.
    dev.capture_cases(5);
    let r = sync(&dev.store, &options()).expect("first sync");
    assert_eq!(r.accepted, 5);
    quiet.capture_cases(2);
    sync(&quiet.store, &options()).expect("second device syncs");
    assert_eq!(checkpoint(&server), ("roadside.local/log".to_string(), 7));

    // 2. The operator backs the database up (server stopped, files copied), and starts it again.
    server.kill();
    copy_database(data.path(), backup.path());
    server = ServerProcess::start(data.path(), "127.0.0.1:0");
    proxy.set_upstream(server.addr);

    // 3. More is synced after the backup: three cases and an evidence file.
    let cases = dev.capture_cases(3);
    let clip = dev.dir.path().join("clip.mp4");
    random_file(&clip, 300_000, 7);
    dev.store
        .attach_evidence(
            &cases[0],
            &clip,
            EvidenceKind::Video,
            &EvidenceMeta::default(),
        )
        .expect("attach");
    let r = sync(&dev.store, &options()).expect("sync after the backup");
    assert_eq!((r.accepted, r.files_uploaded), (4, 1));
    assert_eq!(dev.store.receipt_count().unwrap(), 9);
    assert_eq!(checkpoint(&server).1, 11);

    // 4. The database is restored from the backup.
    server.kill();
    copy_database(backup.path(), data.path());
    server = ServerProcess::start(data.path(), "127.0.0.1:0");
    proxy.set_upstream(server.addr);
    assert_eq!(checkpoint(&server).1, 7);

    // 5. The next sync sees the log shrank: alarm, non-zero, nothing dropped, nothing pushed.
    dev.capture_cases(2);
    let err = sync(&dev.store, &options()).expect_err("a rolled-back log stops sync");
    assert_eq!(err.code(), "LOG_ROLLED_BACK", "{err}");
    assert!(
        err.message().contains("11") && err.message().contains('7'),
        "{err}"
    );
    assert_eq!(dev.store.outbox_len().unwrap(), 2);
    assert_eq!(dev.store.receipt_count().unwrap(), 9);
    let report = dev.store.verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    let status = roadside_core::sync::status(&dev.store).unwrap();
    assert_eq!(status.log_alarms.len(), 1);
    assert_eq!(status.log_alarms[0].code, "LOG_ROLLED_BACK");
    assert_eq!(
        status
            .last_error
            .as_deref()
            .map(|e| e.starts_with("LOG_ROLLED_BACK")),
        Some(true)
    );
    // It stays stopped, and the server did not get anything.
    let again = sync(&dev.store, &options()).expect_err("still stopped");
    assert_eq!(again.code(), "LOG_ROLLED_BACK");
    assert_eq!(checkpoint(&server).1, 7);
    // The same through the CLI's sync: non-zero, the code on stderr.
    let stderr = cli::err(
        &cli::Cli::new(cli_bin(), dev.dir.path())
            .key(&hex::encode(dev.key))
            .run(&["sync", "--quiet"]),
    );
    assert_eq!(stderr["code"], "LOG_ROLLED_BACK", "{stderr}");

    // 6. The operator's recovery: stop the server, declare the rollover, start it again.
    server.kill();
    let (ok, declared, stderr) = log_rollover(data.path(), "从前一天的备份恢复数据库");
    assert!(ok, "{stderr}");
    assert_eq!(declared["old_origin"], "roadside.local/log");
    assert_eq!(declared["new_origin"], "roadside.local/log/epoch2");
    assert_eq!(declared["size"], 7);
    let (ok, _, stderr) = log_rollover(data.path(), "  ");
    assert!(!ok);
    assert!(stderr.contains("ROLLOVER_REASON_REQUIRED"), "{stderr}");
    server = ServerProcess::start(data.path(), "127.0.0.1:0");
    proxy.set_upstream(server.addr);
    let key = get_json(&server, "/api/v1/log/key", None);
    assert_eq!(key["origin"], "roadside.local/log/epoch2");

    // 7. The device follows the signed rollover and re-submits what the server lost.
    let r = sync(&dev.store, &options()).expect("sync after the rollover");
    assert_eq!(r.accepted, 4 + 2, "{r:?}");
    assert_eq!(r.outbox_left, 0);
    assert_eq!(r.files_uploaded, 1, "the lost evidence file goes up again");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("roadside.local/log/epoch2")),
        "{:?}",
        r.warnings
    );
    assert_eq!(
        checkpoint(&server),
        ("roadside.local/log/epoch2".to_string(), 13)
    );
    let config = dev.store.sync_config().unwrap().unwrap();
    assert_eq!(config.log_origin, "roadside.local/log/epoch2");
    let status = roadside_core::sync::status(&dev.store).unwrap();
    assert_eq!(status.log_alarms.len(), 1, "the alarm stays on record");
    let rollovers = dev.store.log_rollovers().unwrap();
    assert_eq!(rollovers.len(), 1);
    assert_eq!((rollovers[0].size, rollovers[0].resubmitted), (7, 4));
    assert_eq!(rollovers[0].renewed, 4);
    // The store's own check agrees: old receipts verify under the ended origin's key, the renewed
    // ones under the new origin's, and nothing is both queued and receipted.
    let report = dev.store.verify().unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.receipts_checked, 9 + 4 + 2);

    // Every entry of the device is in the current log exactly once, at the leaf its receipt names.
    let entries = dev.store.export_ledger().unwrap();
    assert_eq!(entries.len(), 11);
    let mut leaves = std::collections::BTreeSet::new();
    for e in &entries {
        let r = dev.store.receipt(e.seq).unwrap().expect("receipt");
        let proof = get_json(
            &server,
            &format!("/api/v1/log/inclusion?hash={}", e.hash),
            None,
        );
        assert_eq!(proof["leaf_index"], r.leaf_index, "entry {}", e.seq);
        assert!(leaves.insert(r.leaf_index), "leaf {} twice", r.leaf_index);
        // The receipt verifies: the new origin's key, or the old one for the part still held.
        let cp = if r.checkpoint.starts_with("roadside.local/log/epoch2\n") {
            verify::checkpoint(&r.checkpoint, &config.log_verifier_key, &config.log_origin)
        } else {
            assert!(r.leaf_index < 7, "entry {} kept an old receipt", e.seq);
            let old_key = roadside_core::rollover::rename_verifier_key(
                &config.log_verifier_key,
                "roadside.local/log",
            )
            .unwrap();
            verify::checkpoint(&r.checkpoint, &old_key, "roadside.local/log")
        }
        .expect("receipt checkpoint signature");
        let proof: Vec<[u8; 32]> = r
            .inclusion_proof
            .iter()
            .map(|h| hex::decode(h).unwrap().try_into().unwrap())
            .collect();
        let hash: [u8; 32] = hex::decode(&e.hash).unwrap().try_into().unwrap();
        verify::inclusion(&proof, &cp, r.leaf_index, &hash).expect("inclusion");
    }
    let token = server.admin_token();
    let cases = get_json(&server, "/api/v1/cases", Some(&token));
    assert_eq!(cases.as_array().unwrap().len(), 10 + 2);

    // The gap is on record for an auditor: the statement, and the four entries brought back with
    // the old log's receipts (old leaves 7–10, new leaves 7–10).
    let rolled = get_json(&server, "/api/v1/log/rollovers", None);
    assert_eq!(rolled["origin"], "roadside.local/log/epoch2");
    assert_eq!(rolled["statements"].as_array().unwrap().len(), 1);
    let recovered = rolled["recovered"].as_array().unwrap();
    assert_eq!(recovered.len(), 4, "{rolled:#}");
    for (i, r) in recovered.iter().enumerate() {
        assert_eq!(r["old_origin"], "roadside.local/log");
        assert_eq!(r["old_leaf_index"], 7 + i as u64);
        assert_eq!(r["leaf_index"], 7 + i as u64);
        assert_eq!(r["old_tree_size"], 11);
        assert!(r["old_checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("roadside.local/log\n11\n"));
    }

    // The evidence file is on the server again, whole.
    let digest = hash_file(&clip).unwrap().sha256;
    let (status, _) = call(
        "GET",
        &server.url(&format!("/api/v1/media/{digest}")),
        Some(&token),
        None,
    );
    assert_eq!(status, 200);

    // 8. Sync goes on: the second device follows the rollover with nothing to re-submit, and
    // both keep syncing.
    quiet.capture_cases(1);
    let r = sync(&quiet.store, &options()).expect("second device after the rollover");
    assert_eq!(r.accepted, 1);
    assert_eq!(quiet.store.log_rollovers().unwrap()[0].resubmitted, 0);
    dev.capture_cases(1);
    let r = sync(&dev.store, &options()).expect("sync goes on");
    assert_eq!((r.accepted, r.outbox_left), (1, 0));
    assert_eq!(checkpoint(&server).1, 15);
    let r = sync(&dev.store, &options()).expect("nothing left");
    assert_eq!(r.receipts, 0);
}
