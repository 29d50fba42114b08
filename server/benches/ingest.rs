//! Ingest throughput (target ≥ 10,000 signed entries/s with every signature verified, batches of
//! 500), over real HTTP to the real server on loopback, on SQLite and (when `ROADSIDE_TEST_PG_URL`
//! is set) on PostgreSQL. Criterion times one push of 500 new signed entries by one enrolled device
//! (the log grows by 500 with every call). References measured in the same run on batches of the
//! same entries: raw Ed25519 verification (`verify_strict`) on one thread and on every core, and raw
//! batch verification (`ed25519_dalek::verify_batch`, the batch split across every core as the
//! server does).
//!
//!   nice -n 10 cargo bench -p roadside-server --bench ingest
//!   ROADSIDE_TEST_PG_URL="$(scripts/pg-test-server.sh)" nice -n 10 cargo bench -p roadside-server --bench ingest

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use ed25519_dalek::{Signature, VerifyingKey};
use roadside_bench::criterion::{Criterion, Throughput};
use roadside_bench::{configured, print_ratio, Figures};
use roadside_core::ledger::{DeviceKey, SignedEntry};

const BATCH: usize = 500;

fn verify_all(key: &VerifyingKey, entries: &[&SignedEntry]) -> usize {
    entries
        .iter()
        .filter(|e| {
            key.verify_strict(&e.bytes, &Signature::from_bytes(&e.sig))
                .is_ok()
        })
        .count()
}

/// One batch verified as the server does: split across every core, each part with one
/// `verify_batch`.
fn raw_batch(key: &DeviceKey, batch: &[SignedEntry]) {
    let vk = key.verifying_key();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        let handles: Vec<_> = batch
            .chunks(batch.len().div_ceil(cores))
            .map(|part| {
                s.spawn(move || {
                    let msgs: Vec<&[u8]> = part.iter().map(|e| e.bytes.as_slice()).collect();
                    let sigs: Vec<Signature> =
                        part.iter().map(|e| Signature::from_bytes(&e.sig)).collect();
                    let keys = vec![vk; part.len()];
                    ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
                })
            })
            .collect();
        assert!(handles.into_iter().all(|h| h.join().expect("join")));
    });
}

/// One batch verified with `verify_strict`, entry by entry, on every core.
fn raw_verify_cores(key: &DeviceKey, batch: &[SignedEntry]) {
    let vk = key.verifying_key();
    let refs: Vec<&SignedEntry> = batch.iter().collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ok: usize = std::thread::scope(|s| {
        let handles: Vec<_> = refs
            .chunks(refs.len().div_ceil(cores))
            .map(|chunk| s.spawn(|| verify_all(&vk, chunk)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("join")).sum()
    });
    assert_eq!(ok, refs.len());
}

/// The counts of a push answer (the rest is read but not parsed).
#[derive(Debug, serde::Deserialize)]
struct Counts {
    accepted: usize,
}

fn run(
    c: &mut Criterion,
    figures: &Figures,
    rt: &tokio::runtime::Runtime,
    backend: &str,
    db: Option<String>,
) {
    let s = rt.block_on(TestServer::start(db));
    let (key, token) = rt.block_on(async {
        let admin = s.admin().await;
        let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
        (key, token)
    });
    let url = s.url("/api/v1/sync/push");
    let push = format!("{backend}: push of {BATCH} entries (HTTP, verified, logged, receipts)");
    let single = format!("{backend}: reference: verify_strict of {BATCH}, 1 thread");
    let cores = format!("{backend}: reference: verify_strict of {BATCH}, every core");
    let batch = format!("{backend}: reference: verify_batch of {BATCH}, every core");
    let mut head = None;
    let mut g = c.benchmark_group(format!("ingest-{backend}"));
    g.throughput(Throughput::Elements(BATCH as u64));
    // The device's work is done before the clock starts, as the signing is: the entries signed and
    // the request body serialized. Each answer is read in full but only its counts are parsed
    // (checking the receipts is the device's work too; the sync client's benchmark measures that).
    figures.bench_with_setup(
        &mut g,
        &push,
        || {
            let entries = chain(&key, head, BATCH, &TWO_OFFICERS);
            head = head_of(&entries);
            serde_json::to_vec(&push_body(&entries)).expect("body")
        },
        |body| {
            rt.block_on(async {
                let resp = s
                    .http
                    .post(&url)
                    .bearer_auth(&token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("push sent");
                let status = resp.status().as_u16();
                let text = resp.bytes().await.expect("answer read");
                let counts: Counts = serde_json::from_slice(&text).expect("answer parses");
                assert_eq!((status, counts.accepted), (200, BATCH), "{counts:?}");
            })
        },
    );
    let entries = chain(&key, None, BATCH, &TWO_OFFICERS);
    let refs: Vec<&SignedEntry> = entries.iter().collect();
    let vk = key.verifying_key();
    figures.bench(&mut g, &single, || {
        assert_eq!(verify_all(&vk, &refs), refs.len());
    });
    figures.bench(&mut g, &cores, || raw_verify_cores(&key, &entries));
    figures.bench(&mut g, &batch, || raw_batch(&key, &entries));
    g.finish();
    rt.block_on(s.stop());

    println!("== {backend}");
    figures.print(&[&push, &single, &cores, &batch]);
    if let Some(p) = figures.quantile(&push, 0.5) {
        println!(
            "ingest {:.0} entries/s (median push)",
            BATCH as f64 / p.as_secs_f64()
        );
    }
    for (label, reference) in [
        ("to verify_strict on 1 thread", &single),
        ("to verify_strict on every core", &cores),
        ("to verify_batch on every core", &batch),
    ] {
        // Entries per second over the reference's entries per second: its time over the push's.
        print_ratio(
            &format!("ingest rate {label} (median)"),
            figures.time_ratio(reference, &push, 0.5),
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = configured();
    let figures = Figures::new();
    println!(
        "ingest: pushes of {BATCH} signed entries over HTTP (loopback), every signature verified, receipts built; {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    run(&mut c, &figures, &rt, "SQLite", None);
    if let Some(url) = pg_admin_url() {
        let db = rt.block_on(fresh_pg_database(&url));
        run(&mut c, &figures, &rt, "PostgreSQL", Some(db));
    }
    c.final_summary();
}
