//! The real `roadside-server` binary (child process, ephemeral port) and the real core's sync client:
//! an offline day, cut connections, a killed server, a tampered device database, a server that
//! rewrites its log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use roadside_core::evidence::hash_file;
use roadside_core::model::EvidenceKind;
use roadside_core::store::sync::ReceiptStatus;
use roadside_core::store::EvidenceMeta;
use roadside_core::sync::{self, verify, SyncOptions};
use roadside_tests::proxy::{FaultProxy, Faults};
use roadside_tests::*;
use serde_json::Value;

const OFFICER: &str = "QH6325000101";

/// Cases the server holds for the demo agencies.
fn server_cases(server: &ServerProcess) -> Vec<Value> {
    let token = server.admin_token();
    let (status, body) = call("GET", &server.url("/api/v1/cases"), Some(&token), None);
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("cases").clone()
}

/// Every receipt in the store verifies against the pinned key, and entries left the outbox only
/// with one.
fn assert_receipts_verify(dev: &Device) {
    let config = dev.store.sync_config().unwrap().expect("enrolled");
    let entries = dev.store.export_ledger().unwrap();
    for e in &entries {
        let r = dev
            .store
            .receipt(e.seq)
            .unwrap()
            .unwrap_or_else(|| panic!("entry {} has no receipt", e.seq));
        assert_ne!(r.status, ReceiptStatus::Refused);
        let cp = verify::checkpoint(&r.checkpoint, &config.log_verifier_key, &config.log_origin)
            .expect("checkpoint signature");
        assert_eq!(cp.size, r.tree_size);
        let proof: Vec<[u8; 32]> = r
            .inclusion_proof
            .iter()
            .map(|h| hex::decode(h).unwrap().try_into().unwrap())
            .collect();
        let hash: [u8; 32] = hex::decode(&e.hash).unwrap().try_into().unwrap();
        verify::inclusion(&proof, &cp, r.leaf_index, &hash).expect("inclusion proof");
    }
}

fn patient() -> SyncOptions {
    SyncOptions {
        retry_attempts: 60,
        retry_base_ms: 5,
        retry_max_ms: 200,
        request_timeout_secs: 30,
        ..SyncOptions::default()
    }
}

/// Attach `n` evidence files of `min_mb`–`max_mb` MiB to the given cases; their paths and sizes.
fn attach_media(
    dev: &Device,
    cases: &[String],
    n: usize,
    min: u64,
    max: u64,
) -> Vec<(String, u64)> {
    let media_dir = dev.dir.path().join("media");
    std::fs::create_dir_all(&media_dir).unwrap();
    let mut out = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = min + x % (max - min + 1);
        let path = media_dir.join(format!("clip-{i:03}.mp4"));
        random_file(&path, size, x);
        let info = dev
            .store
            .attach_evidence(
                &cases[i % cases.len()],
                &path,
                EvidenceKind::Video,
                &EvidenceMeta::default(),
            )
            .expect("attach");
        out.push((info.sha256, size));
    }
    out
}

#[test]
fn offline_day_then_sync_everything_arrives_and_receipts_verify() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), "127.0.0.1:0");
    let dev = Device::new();
    let enrolment = enrol(&dev.store, &server.base, &server.enrolment_code(OFFICER));
    assert_eq!(enrolment.agency, "632500");

    // An offline day: 450 cases opened, 50 video files of 5–50 MB declared (500 signed entries).
    let cases = dev.capture_cases(450);
    let media = attach_media(&dev, &cases, 50, 5 << 20, 50 << 20);
    assert_eq!(dev.store.outbox_len().unwrap(), 500);
    let total_bytes: u64 = media.iter().map(|(_, s)| s).sum();

    let seen = Arc::new(AtomicU64::new(0));
    let progress: sync::ProgressFn = {
        let seen = seen.clone();
        Arc::new(move |p: &sync::SyncProgress| {
            seen.fetch_max(p.bytes_done, Ordering::SeqCst);
        })
    };
    let report = sync::runtime()
        .unwrap()
        .block_on(sync::sync(
            &dev.store,
            &SyncOptions::default(),
            Some(progress),
        ))
        .expect("sync");
    assert_eq!(report.receipts, 500, "{report:?}");
    assert_eq!(report.accepted, 500);
    assert_eq!(report.outbox_left, 0);
    assert_eq!(report.files_uploaded, 50);
    assert_eq!(report.bytes_uploaded, total_bytes);
    assert_eq!(seen.load(Ordering::SeqCst), total_bytes);
    assert!(report.blocked.is_none());

    // Everything arrived: the server's log and cases, and the objects.
    assert_eq!(server.log_size(), 500);
    assert_eq!(server_cases(&server).len(), 450);
    let status = sync::status(&dev.store).unwrap();
    assert!(
        status.pending_uploads.is_empty(),
        "{:?}",
        status.pending_uploads
    );
    assert_eq!(status.uploads_done, 50);
    assert_eq!(status.last_checkpoint_size, Some(500));
    assert!(status.last_error.is_none());
    assert_receipts_verify(&dev);

    // Syncing again sends nothing.
    let again = sync(&dev.store, &SyncOptions::default()).expect("sync again");
    assert_eq!(
        (again.receipts, again.files_uploaded, again.bytes_uploaded),
        (0, 0, 0)
    );
    // The local files are the ones declared.
    for (i, (sha, _)) in media.iter().enumerate().take(3) {
        let path = dev
            .dir
            .path()
            .join("media")
            .join(format!("clip-{i:03}.mp4"));
        assert_eq!(&hash_file(&path).unwrap().sha256, sha);
    }
}

#[test]
fn cut_connections_every_entry_and_object_arrives_once() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), "127.0.0.1:0");
    let proxy = FaultProxy::start(server.addr, Faults::none(), 42);
    let dev = Device::new();
    enrol(&dev.store, &proxy.base(), &server.enrolment_code(OFFICER));

    let cases = dev.capture_cases(300);
    let chunk: u64 = 64 * 1024;
    let media = attach_media(&dev, &cases, 12, 600 * 1024, 2 << 20);
    let media_total: u64 = media.iter().map(|(_, s)| s).sum();
    let entries = dev.store.outbox_len().unwrap();

    // Records: small batches, connections cut after 200 B–24 KiB.
    proxy.set_faults(Faults {
        cut_after: Some((200, 24 * 1024)),
        max_cuts: 70,
    });
    let records_only = SyncOptions {
        batch_size: 10,
        upload_media: false,
        ..patient()
    };
    let mut runs = 0;
    while dev.store.outbox_len().unwrap() > 0 {
        runs += 1;
        assert!(runs < 50, "records never finished syncing");
        let _ = sync(&dev.store, &records_only);
    }
    let record_cuts = proxy.cuts();

    // Media: 64 KiB chunks, connections cut after 10–300 KiB.
    proxy.reset_bytes();
    proxy.set_faults(Faults {
        cut_after: Some((10 * 1024, 300 * 1024)),
        max_cuts: record_cuts + 60,
    });
    let media_opts = SyncOptions {
        chunk_size: chunk as u32,
        ..patient()
    };
    let mut runs = 0;
    while !sync::status(&dev.store).unwrap().pending_uploads.is_empty() {
        runs += 1;
        assert!(runs < 50, "media never finished uploading");
        let _ = sync(&dev.store, &media_opts);
    }
    let media_cuts = proxy.cuts() - record_cuts;
    let sent = proxy.client_to_server();
    assert!(
        record_cuts + media_cuts >= 100,
        "only {record_cuts} + {media_cuts} cuts"
    );

    // Every entry exactly once in the log; every case once.
    assert_eq!(server.log_size(), entries);
    assert_eq!(server_cases(&server).len(), 300);
    assert_receipts_verify(&dev);
    assert_eq!(sync::status(&dev.store).unwrap().uploads_done, 12);

    // No stored media byte sent again beyond the chunk in flight at each cut (plus HTTP headers).
    let requests = media_total / chunk + 4 * media_cuts + 4 * media.len() as u64 + 20;
    let allowed = media_total + media_cuts * chunk + requests * 1024;
    println!(
        "media {media_total} B, sent {sent} B client→server, {media_cuts} cuts during media, {record_cuts} during records, allowed {allowed}"
    );
    assert!(sent >= media_total);
    assert!(sent <= allowed, "sent {sent} > allowed {allowed}");
}

#[test]
fn server_killed_mid_sync_then_sync_completes_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(data.path(), "127.0.0.1:0");
    let proxy = FaultProxy::start(server.addr, Faults::none(), 7);
    let dev = Arc::new(Device::new());
    enrol(&dev.store, &proxy.base(), &server.enrolment_code(OFFICER));
    dev.capture_cases(3000);

    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let progress: sync::ProgressFn = Arc::new(move |p: &sync::SyncProgress| {
        let _ = tx.send(p.records_done);
    });
    let options = SyncOptions {
        batch_size: 25,
        retry_attempts: 200,
        retry_base_ms: 50,
        retry_max_ms: 500,
        ..SyncOptions::default()
    };
    let worker = {
        let dev = dev.clone();
        let options = options.clone();
        std::thread::spawn(move || {
            sync::runtime()
                .unwrap()
                .block_on(sync::sync(&dev.store, &options, Some(progress)))
        })
    };
    // Kill the server once a few hundred entries are in, mid-stream.
    while rx.recv().expect("progress") < 300 {}
    server.kill();
    let pushed_before = 3000 - dev.store.outbox_len().unwrap();
    assert!(pushed_before < 3000, "sync finished before the kill");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let restarted = ServerProcess::start(data.path(), "127.0.0.1:0");
    proxy.set_upstream(restarted.addr);
    drop(rx);

    let report = worker
        .join()
        .unwrap()
        .expect("sync completes after the restart");
    assert_eq!(report.outbox_left, 0);
    assert_eq!(dev.store.outbox_len().unwrap(), 0);
    assert_eq!(restarted.log_size(), 3000);
    assert_eq!(server_cases(&restarted).len(), 3000);
    assert_receipts_verify(&dev);
}

/// Open the device database with its key, as someone holding the key could.
fn raw_device_db(dev_dir: &std::path::Path, key: &[u8; 32]) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dev_dir.join("roadside.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
        hex::encode(key)
    ))
    .unwrap();
    conn
}

#[test]
fn tampered_device_database_is_flagged_and_the_server_refuses_the_entry() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), "127.0.0.1:0");
    let dev = Device::new();
    enrol(&dev.store, &server.base, &server.enrolment_code(OFFICER));
    dev.capture_cases(5);
    sync(&dev.store, &SyncOptions::default()).expect("first sync");
    dev.capture_cases(5);
    assert!(dev.store.verify_ledger().unwrap().first_broken.is_none());

    // Someone with the database key rewrites entry 8 (the plate) behind the core's back: the
    // append-only trigger has to be dropped first.
    let Device { dir, key, store } = dev;
    drop(store);
    {
        let conn = raw_device_db(dir.path(), &key);
        conn.execute_batch("DROP TRIGGER ledger_no_update").unwrap();
        let bytes: Vec<u8> = conn
            .query_row("SELECT bytes FROM ledger WHERE seq = 8", [], |r| r.get(0))
            .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let plate = "青E";
        assert!(text.contains(plate));
        let altered = text.replacen(plate, "青A", 1);
        conn.execute(
            "UPDATE ledger SET bytes = ?1 WHERE seq = 8",
            [altered.into_bytes()],
        )
        .unwrap();
    }
    let store = roadside_core::store::Store::open(
        dir.path(),
        &key,
        roadside_core::store::Durability::Normal,
    )
    .unwrap();
    let report = store.verify_ledger().unwrap();
    let broken = report.first_broken.expect("verify flags the entry");
    assert_eq!(broken.position, 8, "{broken:?}");

    let report = sync(&store, &SyncOptions::default()).expect("sync runs");
    let blocked = report.blocked.expect("the altered entry is refused");
    assert_eq!(blocked.entry_seq, 8);
    assert!(!blocked.has_receipt);
    println!("server refused: {} {}", blocked.code, blocked.message);
    // Entries 6, 7 arrived; 8 stays with its reason, and 9, 10 wait behind it.
    assert_eq!(server.log_size(), 7);
    assert_eq!(store.outbox_len().unwrap(), 3);
    let status = sync::status(&store).unwrap();
    assert!(status
        .problems
        .iter()
        .any(|p| p.entry_seq == 8 && p.code == blocked.code && !p.message.is_empty()));
    assert!(store.receipt(8).unwrap().is_none());
}

#[test]
fn a_server_that_rewrites_its_log_is_detected() {
    let data = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(data.path(), "127.0.0.1:0");
    let proxy = FaultProxy::start(server.addr, Faults::none(), 3);
    let dev = Device::new();
    enrol(&dev.store, &proxy.base(), &server.enrolment_code(OFFICER));
    dev.capture_cases(20);
    sync(&dev.store, &SyncOptions::default()).expect("first sync");
    assert_eq!(
        sync::status(&dev.store).unwrap().last_checkpoint_size,
        Some(20)
    );

    // The operator stops the server and rewrites the first leaf of the log's tree.
    server.kill();
    {
        let conn = rusqlite::Connection::open(server.database()).unwrap();
        let mut tile: Vec<u8> = conn
            .query_row(
                "SELECT data FROM log_tiles WHERE level = 0 AND idx = 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        tile[0] ^= 0xff;
        conn.execute(
            "UPDATE log_tiles SET data = ?1 WHERE level = 0 AND idx = 0",
            [tile],
        )
        .unwrap();
    }
    let restarted = ServerProcess::start(data.path(), "127.0.0.1:0");
    proxy.set_upstream(restarted.addr);

    dev.capture_cases(5);
    let err = sync(&dev.store, &SyncOptions::default()).expect_err("inconsistency detected");
    assert_eq!(err.code(), "LOG_INCONSISTENT", "{err:?}");
    // Recorded, the outbox intact, and sync stays stopped.
    let status = sync::status(&dev.store).unwrap();
    assert_eq!(status.log_alarms.len(), 1);
    assert_eq!(status.outbox_len, 5);
    assert!(status.last_error.unwrap().starts_with("LOG_INCONSISTENT"));
    let again = sync(&dev.store, &SyncOptions::default()).expect_err("still stopped");
    assert_eq!(again.code(), "LOG_INCONSISTENT");
}
