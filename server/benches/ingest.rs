//! Ingest throughput (target ≥ 10,000 signed entries/s with every signature verified, batches of
//! 500), over real HTTP to the real server on loopback, on SQLite and (when `ROADSIDE_TEST_PG_URL`
//! is set) on PostgreSQL. Reference measured in the same run on the same entries: the raw Ed25519
//! verification rate (`verify_strict`), on one thread and on every core, and the raw batch
//! verification rate (`ed25519_dalek::verify_batch`, the batch split across every core as the server
//! does), on every core.
//!
//!   nice -n 10 cargo bench -p roadside-server --bench ingest
//!   ROADSIDE_TEST_PG_URL="$(scripts/pg-test-server.sh)" nice -n 10 cargo bench -p roadside-server --bench ingest

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::*;
use ed25519_dalek::{Signature, VerifyingKey};
use roadside_core::ledger::{DeviceKey, SignedEntry};

const BATCH: usize = 500;
const BATCHES: usize = 20;
const ROUNDS: usize = 3;

fn verify_all(key: &VerifyingKey, entries: &[&SignedEntry]) -> usize {
    entries
        .iter()
        .filter(|e| {
            key.verify_strict(&e.bytes, &Signature::from_bytes(&e.sig))
                .is_ok()
        })
        .count()
}

/// Raw batch verification rate (entries/s) over `entries`: each batch of `BATCH` split across every
/// core, each part verified with one `verify_batch`.
fn raw_batch_rate(key: &DeviceKey, entries: &[SignedEntry]) -> f64 {
    let vk = key.verifying_key();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    for batch in entries.chunks(BATCH) {
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
    entries.len() as f64 / start.elapsed().as_secs_f64()
}

/// Raw Ed25519 verification rate (entries/s) over `entries`: (one thread, every core).
fn raw_verify_rates(key: &DeviceKey, entries: &[SignedEntry]) -> (f64, f64) {
    let vk = key.verifying_key();
    let refs: Vec<&SignedEntry> = entries.iter().collect();
    let start = Instant::now();
    assert_eq!(verify_all(&vk, &refs), refs.len());
    let single = refs.len() as f64 / start.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let ok: usize = std::thread::scope(|s| {
        let handles: Vec<_> = refs
            .chunks(refs.len().div_ceil(cores))
            .map(|chunk| s.spawn(|| verify_all(&vk, chunk)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("join")).sum()
    });
    assert_eq!(ok, refs.len());
    let all = refs.len() as f64 / start.elapsed().as_secs_f64();
    (single, all)
}

/// The counts of a push answer (the rest is read but not parsed).
#[derive(Debug, serde::Deserialize)]
struct Counts {
    accepted: usize,
}

async fn run(backend: &str, db: Option<String>) {
    let s = TestServer::start(db).await;
    let admin = s.admin().await;
    for round in 1..=ROUNDS {
        let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
        let mut batches = Vec::new();
        let mut head = None;
        for _ in 0..BATCHES {
            let entries = chain(&key, head, BATCH, &TWO_OFFICERS);
            head = head_of(&entries);
            batches.push(entries);
        }
        let all: Vec<SignedEntry> = batches.iter().flatten().cloned().collect();
        let (single, cores) = raw_verify_rates(&key, &all);
        let batch = raw_batch_rate(&key, &all);
        // The device's work is done before the clock starts, as the signing is: each request body
        // serialized. Each answer is read in full but only its counts are parsed (checking the
        // receipts is the device's work too; the sync client's benchmark measures that).
        let bodies: Vec<Vec<u8>> = batches
            .iter()
            .map(|entries| serde_json::to_vec(&push_body(entries)).expect("body"))
            .collect();
        let url = s.url("/api/v1/sync/push");
        let start = Instant::now();
        for body in bodies {
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
        }
        let rate = all.len() as f64 / start.elapsed().as_secs_f64();
        println!(
            "{backend:<10} round {round}: ingest {rate:>7.0} entries/s | raw verify_strict 1 thread {single:>7.0}/s, all cores {cores:>7.0}/s | raw verify_batch all cores {batch:>7.0}/s | ratio to 1 thread {:.2}, to all cores {:.2}, to batch {:.2}",
            rate / single,
            rate / cores,
            rate / batch
        );
    }
    s.stop().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!(
            "ingest: {BATCHES} batches of {BATCH} signed entries per round over HTTP (loopback), every signature verified, receipts built; {} cores",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        run("SQLite", None).await;
        match pg_admin_url() {
            Some(url) => run("PostgreSQL", Some(fresh_pg_database(&url).await)).await,
            None => println!("PostgreSQL: skipped (ROADSIDE_TEST_PG_URL not set)"),
        }
    });
}
