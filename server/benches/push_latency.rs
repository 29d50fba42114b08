//! Push latency with 200 concurrent simulated devices (target p99 ≤ 100 ms), over real HTTP to
//! the real server on loopback (SQLite; PostgreSQL too when `ROADSIDE_TEST_PG_URL` is set).
//!
//! Each device is enrolled through the API, then runs on its own task: it waits a random think
//! time (0–2 s, as a device syncing about once a second), pushes a small batch of new signed
//! entries, checks every answer is `accepted`, and records the push's round trip; 10 pushes each.
//! Reference in the same run: `/healthz` round trips made by the same 200 tasks, interleaved with
//! the pushes (same load, same client, same loop).
//!
//!   nice -n 10 cargo bench -p roadside-server --bench push_latency

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const DEVICES: usize = 200;
const PUSHES: usize = 10;
const ENTRIES_PER_PUSH: usize = 5;
const THINK_MS: u64 = 2000;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A small deterministic generator for think times.
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn run(backend: &str, db: Option<String>) {
    let s = Arc::new(TestServer::start(db).await);
    let admin = s.admin().await;
    let mut devices = Vec::with_capacity(DEVICES);
    for _ in 0..DEVICES {
        let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
        // All of the device's entries, signed up front (a device signs as it works, not at sync).
        let mut batches = Vec::new();
        let mut head = None;
        for _ in 0..PUSHES {
            let entries = chain(&key, head, ENTRIES_PER_PUSH, &TWO_OFFICERS);
            head = head_of(&entries);
            batches.push(push_body(&entries));
        }
        devices.push((token, batches));
    }
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, (token, batches))| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64 + 1);
                let (mut push, mut health) = (Vec::new(), Vec::new());
                for body in batches {
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
                    push.push(t.elapsed().as_secs_f64() * 1000.0);
                    assert_eq!(
                        answer["accepted"].as_u64(),
                        Some(ENTRIES_PER_PUSH as u64),
                        "{answer}"
                    );
                    tokio::time::sleep(Duration::from_millis(next_rand(&mut rng) % THINK_MS)).await;
                    let t = Instant::now();
                    let resp = s.http.get(s.url("/healthz")).send().await.expect("get");
                    assert_eq!(resp.status(), 200);
                    let _ = resp.bytes().await.expect("body");
                    health.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                (push, health)
            })
        })
        .collect();
    let (mut push, mut health) = (Vec::new(), Vec::new());
    for t in tasks {
        let (p, h) = t.await.expect("device task");
        push.extend(p);
        health.extend(h);
    }
    let secs = started.elapsed().as_secs_f64();
    push.sort_by(f64::total_cmp);
    health.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&push, 0.5), percentile(&push, 0.99));
    let (h50, h99) = (percentile(&health, 0.5), percentile(&health, 0.99));
    println!(
        "{backend:<10} {} pushes of {ENTRIES_PER_PUSH} entries by {DEVICES} devices in {secs:.1} s ({:.0} pushes/s): push p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms | /healthz p50 {h50:.1} ms, p99 {h99:.1} ms | p99 ratio {:.1}",
        push.len(),
        push.len() as f64 / secs,
        push[push.len() - 1],
        p99 / h99
    );
    match Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => eprintln!("server still shared; not stopped"),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!(
            "push latency: {DEVICES} devices, think time uniform 0–{THINK_MS} ms, {PUSHES} pushes each; {} cores",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        run("SQLite", None).await;
        match pg_admin_url() {
            Some(url) => run("PostgreSQL", Some(fresh_pg_database(&url).await)).await,
            None => println!("PostgreSQL: skipped (ROADSIDE_TEST_PG_URL not set)"),
        }
    });
}
