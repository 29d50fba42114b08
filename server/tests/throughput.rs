//! Ingest throughput on SQLite (issue #4 target: ≥ 10,000 signed entries/s, batches of 500, every
//! signature verified). Ignored by default: timing is machine-dependent and never asserted; run
//!   nice -n 10 cargo test --release -p roadside-server --test throughput -- --ignored --nocapture

mod common;

use std::time::Instant;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn ingest_throughput_on_sqlite() {
    let s = TestServer::start(None).await;
    let admin = s.admin().await;
    let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
    let batches = 20;
    let mut all = Vec::new();
    let mut head = None;
    for _ in 0..batches {
        let entries = chain(&key, head, 500, &TWO_OFFICERS);
        head = head_of(&entries);
        all.push(entries);
    }
    let start = Instant::now();
    for entries in &all {
        let (status, answer) = s.push(&token, entries).await;
        assert_eq!((status, answer["accepted"].as_u64()), (200, Some(500)));
    }
    let secs = start.elapsed().as_secs_f64();
    let n = batches * 500;
    eprintln!("ingest: {n} entries in {secs:.2} s = {:.0} entries/s (SQLite, batches of 500, signatures verified, receipts built)", n as f64 / secs);
    s.stop().await;
}
