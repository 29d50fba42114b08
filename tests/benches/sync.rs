//! Sync benchmarks against the real server binary on loopback, each beside a reference measured in
//! the same run:
//!
//! 1. a backlog of 10,000 records synced by the core (receipts verified and stored) against the raw
//!    push of the same signed entries (plain HTTP, nothing verified or stored) to a second server;
//! 2. a media upload through the core's tus client (8 MiB chunks, per-chunk SHA-256) against a plain
//!    HTTP PUT of the same file to a tiny receiver here that writes and hashes it like the server.
//!
//! Run: `cargo build --release -p roadside-server && cargo bench -p roadside-tests --bench sync`
//! (`ROADSIDE_BENCH_RECORDS`, `ROADSIDE_BENCH_MEDIA_MB` change the sizes).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Instant;

use base64::Engine;
use roadside_core::model::EvidenceKind;
use roadside_core::store::EvidenceMeta;
use roadside_core::sync::SyncOptions;
use roadside_tests::*;
use serde_json::json;
use sha2::{Digest, Sha256};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn backlog() {
    let n = env_u64("ROADSIDE_BENCH_RECORDS", 10_000) as usize;
    let dev = Device::new();
    let t = Instant::now();
    dev.capture_cases(n);
    println!(
        "backlog: captured {n} records in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // Reference: the same signed entries pushed raw (500 per request) to a second server.
    let ref_dir = tempfile::tempdir().unwrap();
    let reference = ServerProcess::start(ref_dir.path(), "127.0.0.1:0");
    let code = reference.enrolment_code("QH6325000101");
    let (status, enrolled) = call(
        "POST",
        &reference.url("/api/v1/devices/enrol"),
        None,
        Some(json!({"code": code, "public_key": dev.store.device_id()})),
    );
    assert_eq!(status, 201, "{enrolled}");
    let token = enrolled["token"].as_str().unwrap().to_string();
    let entries = dev.store.export_ledger().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let client = reqwest::blocking::Client::new();
    let t = Instant::now();
    for batch in entries.chunks(500) {
        let body = json!({"entries": batch.iter().map(|e| json!({
            "bytes": b64.encode(e.bytes.as_bytes()),
            "sig": b64.encode(hex::decode(&e.sig).unwrap()),
        })).collect::<Vec<_>>()});
        let resp = client
            .post(reference.url("/api/v1/sync/push"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap();
        assert!(resp.status().is_success());
        let _ = resp.bytes().unwrap();
    }
    let raw = t.elapsed().as_secs_f64();

    // The core's sync of the same backlog.
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), "127.0.0.1:0");
    enrol(
        &dev.store,
        &server.base,
        &server.enrolment_code("QH6325000101"),
    );
    let t = Instant::now();
    let report = sync(&dev.store, &SyncOptions::default()).unwrap();
    let core = t.elapsed().as_secs_f64();
    assert_eq!(report.receipts as usize, n);
    println!(
        "backlog: {n} records — core sync {core:.2} s ({:.0} records/s), raw push {raw:.2} s; ratio core/raw {:.2}",
        n as f64 / core,
        core / raw
    );
}

/// A tiny HTTP/1.1 PUT receiver: writes the body to a file and hashes it, like the server does.
fn put_receiver(dir: std::path::PathBuf) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let len: u64 = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut file = std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::fs::File::create(dir.join(format!("put-{i}"))).unwrap(),
                );
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut left = len;
                while left > 0 {
                    let n = conn.read(&mut buf[..left.min(1 << 20) as usize]).unwrap();
                    if n == 0 {
                        return;
                    }
                    hasher.update(&buf[..n]);
                    file.write_all(&buf[..n]).unwrap();
                    left -= n as u64;
                }
                file.flush().unwrap();
                file.get_ref().sync_all().unwrap();
                let digest = hex::encode(hasher.finalize());
                let reply = format!(
                    "HTTP/1.1 201 Created\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{digest}",
                    digest.len()
                );
                let _ = conn.write_all(reply.as_bytes());
            });
        }
    });
    addr
}

fn media() {
    let mb = env_u64("ROADSIDE_BENCH_MEDIA_MB", 256);
    let size = mb << 20;
    let dev = Device::new();
    let case = dev.capture_cases(1).remove(0);
    let path = dev.dir.path().join("clip.mp4");
    random_file(&path, size, 12345);
    dev.store
        .attach_evidence(&case, &path, EvidenceKind::Video, &EvidenceMeta::default())
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), "127.0.0.1:0");
    enrol(
        &dev.store,
        &server.base,
        &server.enrolment_code("QH6325000101"),
    );
    sync(
        &dev.store,
        &SyncOptions {
            upload_media: false,
            ..SyncOptions::default()
        },
    )
    .unwrap();

    // Reference: one plain PUT of the same file.
    let put_dir = tempfile::tempdir().unwrap();
    let addr = put_receiver(put_dir.path().to_path_buf());
    let client = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap();
    let t = Instant::now();
    let file = std::fs::File::open(&path).unwrap();
    let resp = client
        .put(format!("http://{addr}/clip"))
        .body(reqwest::blocking::Body::sized(file, size))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    let _ = resp.text().unwrap();
    let put = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let report = sync(&dev.store, &SyncOptions::default()).unwrap();
    let core = t.elapsed().as_secs_f64();
    assert_eq!(report.bytes_uploaded, size);
    let mbs = |secs: f64| size as f64 / (1 << 20) as f64 / secs;
    println!(
        "media: {mb} MiB — core tus upload {core:.2} s ({:.0} MiB/s), plain PUT {put:.2} s ({:.0} MiB/s); throughput ratio core/PUT {:.2}",
        mbs(core),
        mbs(put),
        put / core
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one benchmark.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if want("backlog") {
        backlog();
    }
    if want("media") {
        media();
    }
}
