//! Bytes on the wire for a field day's sync (records only), counted by a TCP proxy between the
//! device and the real server, beside a reference measured in the same run: the same signed
//! entries pushed plain (uncompressed JSON both ways, the wire format before compression), in the
//! same batches, through the same kind of proxy to a second server.
//!
//! Run: `cargo build -p roadside-server && cargo run -p roadside-tests --example sync_bytes`
//! (`ROADSIDE_BYTES_ENTRIES`, default 150: the entries of a day's ~30 cases).

use base64::Engine;
use roadside_core::sync::SyncOptions;
use roadside_tests::proxy::{FaultProxy, Faults};
use roadside_tests::*;
use serde_json::json;

fn main() {
    let n: usize = std::env::var("ROADSIDE_BYTES_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let b64 = base64::engine::general_purpose::STANDARD;

    // The core's sync: gzip push bodies, gzip answers.
    let dir = tempfile::tempdir().expect("dir");
    let server = ServerProcess::start(dir.path(), "127.0.0.1:0");
    let proxy = FaultProxy::start(server.addr, Faults::none(), 1);
    let dev = Device::new();
    dev.capture_cases(n);
    let entries = dev.store.export_ledger().expect("ledger");
    enrol(
        &dev.store,
        &proxy.base(),
        &server.enrolment_code("QH6325000101"),
    );
    proxy.reset_bytes();
    let report = sync(
        &dev.store,
        &SyncOptions {
            upload_media: false,
            pull_bundles: false,
            ..SyncOptions::default()
        },
    )
    .expect("sync");
    assert_eq!(report.receipts as usize, n);
    let (up, down) = (proxy.client_to_server(), proxy.server_to_client());

    // Reference: the same entries pushed plain through a proxy of its own to a second server.
    let ref_dir = tempfile::tempdir().expect("dir");
    let reference = ServerProcess::start(ref_dir.path(), "127.0.0.1:0");
    let ref_proxy = FaultProxy::start(reference.addr, Faults::none(), 2);
    let code = reference.enrolment_code("QH6325000101");
    let (status, enrolled) = call(
        "POST",
        &reference.url("/api/v1/devices/enrol"),
        None,
        Some(json!({"code": code, "public_key": dev.store.device_id()})),
    );
    assert_eq!(status, 201, "{enrolled}");
    let token = enrolled["token"].as_str().expect("token").to_string();
    let plain = reqwest::blocking::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    ref_proxy.reset_bytes();
    for batch in entries.chunks(500) {
        let body = json!({"entries": batch.iter().map(|e| json!({
            "bytes": b64.encode(e.bytes.as_bytes()),
            "sig": b64.encode(hex::decode(&e.sig).expect("sig hex")),
        })).collect::<Vec<_>>()});
        let resp = plain
            .post(format!("{}/api/v1/sync/push", ref_proxy.base()))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .expect("push");
        assert!(resp.status().is_success());
        let _ = resp.bytes();
    }
    let (ref_up, ref_down) = (ref_proxy.client_to_server(), ref_proxy.server_to_client());

    let per = |b: u64| b as f64 / n as f64;
    println!("== a day's sync, {n} entries, records only (bytes per entry, TCP payload both ways)");
    println!(
        "core sync (gzip):     {:>7.0} B up  {:>7.0} B down",
        per(up),
        per(down)
    );
    println!(
        "plain push (before):  {:>7.0} B up  {:>7.0} B down",
        per(ref_up),
        per(ref_down)
    );
    println!(
        "ratio core / plain:   {:>7.2} up    {:>7.2} down",
        up as f64 / ref_up as f64,
        down as f64 / ref_down as f64
    );
}
