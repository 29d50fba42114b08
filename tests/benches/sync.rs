//! Sync benchmarks against the real server binary on loopback, each beside a reference measured in
//! the same run:
//!
//! 1. a backlog of 10,000 records synced by the core (receipts verified and stored) against the raw
//!    push of the same signed entries (plain HTTP, nothing verified or stored) to a second server;
//! 2. a media upload through the core's tus client (8 MiB chunks, per-chunk SHA-256) against a plain
//!    HTTP PUT of the same file to a tiny receiver here that writes and hashes it like the server.
//!
//! Criterion times the core's sync, each call on a device of its own made before the clock starts,
//! its reference run just before it in the same loop.
//!
//! Run: `cargo build --release -p roadside-server && cargo bench -p roadside-tests --bench sync`
//! (`ROADSIDE_BENCH_RECORDS`, `ROADSIDE_BENCH_MEDIA_MB` change the sizes; a criterion filter,
//! `backlog` or `media`, picks one).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine;
use roadside_bench::criterion::{Criterion, Throughput};
use roadside_bench::{configured, print_ratio, Figures};
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

const BACKLOG: &str = "backlog: core sync, receipts verified and stored";
const BACKLOG_REF: &str = "backlog reference: raw push of the same signed entries";

fn backlog(c: &mut Criterion, figures: &Figures) {
    let n = env_u64("ROADSIDE_BENCH_RECORDS", 10_000) as usize;
    let ref_dir = tempfile::tempdir().unwrap();
    let reference = ServerProcess::start(ref_dir.path(), "127.0.0.1:0");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), "127.0.0.1:0");
    let client = reqwest::blocking::Client::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut g = c.benchmark_group("backlog");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    figures.bench_timed(&mut g, BACKLOG, |calls| {
        let (mut core, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..calls {
            let dev = Device::new();
            dev.capture_cases(n);

            // Reference: the same signed entries pushed raw (500 per request) to a second server.
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
            raw.push(t.elapsed());

            // The core's sync of the same backlog.
            enrol(
                &dev.store,
                &server.base,
                &server.enrolment_code("QH6325000101"),
            );
            let t = Instant::now();
            let report = sync(&dev.store, &SyncOptions::default()).unwrap();
            core.push(t.elapsed());
            assert_eq!(report.receipts as usize, n);
        }
        figures.record(BACKLOG_REF, &raw);
        core
    });
    g.finish();
    println!("== backlog of {n} records");
    figures.print(&[BACKLOG, BACKLOG_REF]);
    if let Some(d) = figures.quantile(BACKLOG, 0.5) {
        println!(
            "core sync {:.0} records/s (median)",
            n as f64 / d.as_secs_f64()
        );
    }
    print_ratio(
        "core sync time / raw push time (median)",
        figures.time_ratio(BACKLOG, BACKLOG_REF, 0.5),
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

const MEDIA: &str = "media: core tus upload, 8 MiB chunks with checksums";
const MEDIA_REF: &str = "media reference: plain HTTP PUT of the same file";

fn media(c: &mut Criterion, figures: &Figures) {
    let mb = env_u64("ROADSIDE_BENCH_MEDIA_MB", 256);
    let size = mb << 20;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), "127.0.0.1:0");
    let put_dir = tempfile::tempdir().unwrap();
    let addr = put_receiver(put_dir.path().to_path_buf());
    let client = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("media");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size));
    let mut seed = 12345;
    figures.bench_timed(&mut g, MEDIA, |calls| {
        let (mut core, mut put) = (Vec::new(), Vec::new());
        for _ in 0..calls {
            let dev = Device::new();
            let case = dev.capture_cases(1).remove(0);
            let path = dev.dir.path().join("clip.mp4");
            // A file of its own each call (`random_file` ignores the seed's lowest bit), so that
            // the server never holds it already.
            seed += 2;
            random_file(&path, size, seed);
            dev.store
                .attach_evidence(&case, &path, EvidenceKind::Video, &EvidenceMeta::default())
                .unwrap();
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
            let t = Instant::now();
            let file = std::fs::File::open(&path).unwrap();
            let resp = client
                .put(format!("http://{addr}/clip"))
                .body(reqwest::blocking::Body::sized(file, size))
                .send()
                .unwrap();
            assert!(resp.status().is_success());
            let _ = resp.text().unwrap();
            put.push(t.elapsed());

            let t = Instant::now();
            let report = sync(&dev.store, &SyncOptions::default()).unwrap();
            core.push(t.elapsed());
            assert_eq!(report.bytes_uploaded, size);
        }
        figures.record(MEDIA_REF, &put);
        core
    });
    g.finish();
    println!("== media upload of {mb} MiB");
    figures.print(&[MEDIA, MEDIA_REF]);
    let mbs = |d: Duration| size as f64 / (1 << 20) as f64 / d.as_secs_f64();
    if let (Some(core), Some(put)) = (
        figures.quantile(MEDIA, 0.5),
        figures.quantile(MEDIA_REF, 0.5),
    ) {
        println!(
            "core {:.0} MiB/s, plain PUT {:.0} MiB/s (medians)",
            mbs(core),
            mbs(put)
        );
    }
    // Throughput ratio: the PUT's time over the core's.
    print_ratio(
        "core throughput / plain PUT throughput (median)",
        figures.time_ratio(MEDIA_REF, MEDIA, 0.5),
    );
}

fn main() {
    let mut c = configured();
    let figures = Figures::new();
    backlog(&mut c, &figures);
    media(&mut c, &figures);
    c.final_summary();
}
