//! Push latency with 200 concurrent simulated devices (target p99 ≤ 100 ms), over real HTTP to
//! the real server on loopback (SQLite; PostgreSQL too when `ROADSIDE_TEST_PG_URL` is set).
//!
//! Each device is enrolled through the API, then runs on its own task: it waits a random think
//! time (0–2 s, as a device syncing about once a second), pushes a small batch of new signed
//! entries, checks every answer is `accepted`, and reports the push's round trip; over and over
//! while criterion measures. Criterion's calls are those pushes, in the order they complete (the
//! fleet sets the pace, not criterion). Reference in the same run: `/healthz` round trips made by
//! the same 200 tasks, interleaved with the pushes (same load, same client, same loop).
//!
//!   nice -n 10 cargo bench -p roadside-server --bench push_latency

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::*;
use roadside_bench::criterion::Criterion;
use roadside_bench::{configured, print_ratio, Figures};

const DEVICES: usize = 200;
const ENTRIES_PER_PUSH: usize = 5;
const THINK_MS: u64 = 2000;

/// A small deterministic generator for think times.
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn run(
    c: &mut Criterion,
    figures: &Figures,
    rt: &tokio::runtime::Runtime,
    backend: &str,
    db: Option<String>,
) {
    let s = Arc::new(rt.block_on(TestServer::start(db)));
    let devices = rt.block_on(async {
        let admin = s.admin().await;
        let mut devices = Vec::with_capacity(DEVICES);
        for _ in 0..DEVICES {
            let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
            devices.push((key, token));
        }
        devices
    });
    let running = Arc::new(AtomicBool::new(true));
    let (push_tx, push_rx) = mpsc::channel::<Duration>();
    let (health_tx, health_rx) = mpsc::channel::<Duration>();
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, (key, token))| {
            let (s, running) = (s.clone(), running.clone());
            let (push_tx, health_tx) = (push_tx.clone(), health_tx.clone());
            rt.spawn(async move {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64 + 1);
                let mut head = None;
                let mut pushes = 0usize;
                while running.load(Ordering::Relaxed) {
                    // The device signs as it works, before it syncs: not part of the round trip.
                    let entries = chain(&key, head, ENTRIES_PER_PUSH, &TWO_OFFICERS);
                    head = head_of(&entries);
                    let body = push_body(&entries);
                    tokio::time::sleep(Duration::from_millis(next_rand(&mut rng) % THINK_MS)).await;
                    let t = Instant::now();
                    let resp = s
                        .http
                        .post(s.url("/api/v1/sync/push"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .expect("push sent");
                    assert_eq!(resp.status(), 200);
                    let answer: serde_json::Value = resp.json().await.expect("json");
                    let took = t.elapsed();
                    assert_eq!(
                        answer["accepted"].as_u64(),
                        Some(ENTRIES_PER_PUSH as u64),
                        "{answer}"
                    );
                    pushes += 1;
                    let _ = push_tx.send(took);
                    tokio::time::sleep(Duration::from_millis(next_rand(&mut rng) % THINK_MS)).await;
                    let t = Instant::now();
                    let resp = s.http.get(s.url("/healthz")).send().await.expect("get");
                    assert_eq!(resp.status(), 200);
                    let _ = resp.bytes().await.expect("body");
                    let _ = health_tx.send(t.elapsed());
                }
                pushes
            })
        })
        .collect();
    drop((push_tx, health_tx));
    let push = format!("{backend}: push of {ENTRIES_PER_PUSH} entries, {DEVICES} devices");
    let health = format!("{backend}: reference: /healthz by the same tasks");
    let mut g = c.benchmark_group(format!("push-latency-{backend}"));
    g.sample_size(10);
    figures.bench_timed(&mut g, &push, |n| {
        let took: Vec<Duration> = (0..n)
            .map(|_| push_rx.recv().expect("the fleet is running"))
            .collect();
        let health_calls: Vec<Duration> = health_rx.try_iter().collect();
        figures.record(&health, &health_calls);
        took
    });
    g.finish();
    running.store(false, Ordering::Relaxed);
    let pushes: usize = rt.block_on(async {
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("device task");
        }
        total
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "== {backend}: {pushes} pushes of {ENTRIES_PER_PUSH} entries by {DEVICES} devices in {secs:.1} s ({:.0} pushes/s)",
        pushes as f64 / secs
    );
    figures.print(&[&push, &health]);
    if let Some(max) = figures.quantile(&push, 1.0) {
        println!("push max {}", roadside_bench::human(max));
    }
    print_ratio(
        "push p99 over /healthz p99",
        figures.time_ratio(&push, &health, 0.99),
    );
    match Arc::try_unwrap(s) {
        Ok(s) => rt.block_on(s.stop()),
        Err(_) => eprintln!("server still shared; not stopped"),
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
        "push latency: {DEVICES} devices, think time uniform 0–{THINK_MS} ms; {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    run(&mut c, &figures, &rt, "SQLite", None);
    if let Some(url) = pg_admin_url() {
        let db = rt.block_on(fresh_pg_database(&url));
        run(&mut c, &figures, &rt, "PostgreSQL", Some(db));
    }
    c.final_summary();
}
