//! Device-store figures (issue: core foundation), each beside a reference measured in the same run:
//!
//! 1. Device actions per second — validate + sign + one transaction (`create_case`), at the
//!    durability the store ships with (`Normal`) and at `Full` — against a bare SQLite
//!    insert-and-commit of the same bytes on a plain (unencrypted, unsigned) database.
//! 2. Opening a store holding 100,000 records and listing today's cases — against opening the same
//!    file with a bare keyed connection and one `SELECT`.
//!
//! `cargo bench -p roadside-core --bench store`. The 100,000-record store is built once and kept
//! in `target/bench-store-100k` (delete it to rebuild).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use roadside_core::demo;
use roadside_core::store::{Durability, Store};
use rusqlite::Connection;

const KEY: [u8; 32] = [0x42; 32];

/// Benchmark clock: "now" minus a number of days, so the big store spans a year of work.
static DAYS_AGO: AtomicI64 = AtomicI64::new(0);
fn bench_clock() -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(DAYS_AGO.load(Ordering::Relaxed))
}

fn main() {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    actions(&target);
    open_and_list(&target);
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn actions(target: &Path) {
    println!("== device actions (validate + sign + one transaction)");
    let dir = tempfile::tempdir_in(target).expect("temp dir");
    let record = demo::on_site_record(Utc::now() - chrono::Duration::hours(1));
    let bytes = serde_json::to_vec(&record).expect("encode");

    let mut rows = Vec::new();
    for (label, durability, n) in [
        ("normal (shipped)", Durability::Normal, 4000usize),
        ("full", Durability::Full, 300),
    ] {
        let store_dir = dir.path().join(label.split(' ').next().unwrap_or("x"));
        let store = Store::open(&store_dir, &KEY, durability).expect("open");
        store.import_roster(&demo::roster()).expect("roster");
        for _ in 0..50 {
            store.create_case(&record).expect("warm-up");
        }
        let t = Instant::now();
        for _ in 0..n {
            store.create_case(&record).expect("create");
        }
        let roadside = per_sec(n, t.elapsed());
        assert!(store.verify_ledger().expect("verify").ok);

        let plain = dir.path().join(format!("plain-{}.db", rows.len()));
        let conn = Connection::open(&plain).expect("plain db");
        let sync = if durability == Durability::Full {
            "FULL"
        } else {
            "NORMAL"
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync};
             CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL);"
        ))
        .expect("plain schema");
        let t = Instant::now();
        for _ in 0..n {
            conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
            conn.execute("INSERT INTO t (body) VALUES (?1)", [&bytes])
                .expect("insert");
            conn.execute_batch("COMMIT").expect("commit");
        }
        let bare = per_sec(n, t.elapsed());
        rows.push((label, roadside, bare));
    }
    println!(
        "{:<18} {:>14} {:>22} {:>8}",
        "durability", "roadside/s", "bare sqlite insert/s", "ratio"
    );
    for (label, roadside, bare) in rows {
        println!(
            "{label:<18} {roadside:>14.0} {bare:>22.0} {:>8.2}",
            roadside / bare
        );
    }
}

fn open_and_list(target: &Path) {
    println!("== open a store of 100,000 records and list today's cases");
    let dir = target.join("bench-store-100k");
    let ready = dir.join("ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir, &KEY, Durability::Normal)
            .expect("open")
            .with_clock(bench_clock);
        store.import_roster(&demo::roster()).expect("roster");
        let t = Instant::now();
        // 100,000 cases over 365 days, ~274 a day; the newest day is today.
        for i in 0..100_000i64 {
            DAYS_AGO.store(364 - i * 365 / 100_000, Ordering::Relaxed);
            let record = demo::on_site_record(bench_clock() - chrono::Duration::hours(1));
            store.create_case(&record).expect("seed");
        }
        println!(
            "(seeded 100,000 cases in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
        std::fs::write(&ready, b"ok").expect("marker");
    }

    let mut roadside = Vec::new();
    let mut bare = Vec::new();
    let mut listed = 0;
    for _ in 0..15 {
        let t = Instant::now();
        let store = Store::open(&dir, &KEY, Durability::Normal).expect("open");
        listed = store.cases_today().expect("list").len();
        roadside.push(t.elapsed());
        drop(store);

        let t = Instant::now();
        let conn = Connection::open(dir.join(roadside_core::store::DB_FILE)).expect("open");
        conn.execute_batch(&format!(
            "PRAGMA key = \"x'{}'\"; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
            hex::encode(KEY)
        ))
        .expect("key");
        let _: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .expect("select");
        bare.push(t.elapsed());
    }
    roadside.sort();
    bare.sort();
    let med = |v: &[Duration]| v[v.len() / 2].as_secs_f64() * 1e3;
    let max = |v: &[Duration]| v[v.len() - 1].as_secs_f64() * 1e3;
    println!("{:<34} {:>10} {:>10}", "", "median ms", "max ms");
    println!(
        "{:<34} {:>10.2} {:>10.2}",
        format!("roadside open + list ({listed} today)"),
        med(&roadside),
        max(&roadside)
    );
    println!(
        "{:<34} {:>10.2} {:>10.2}",
        "bare keyed open + 1 select",
        med(&bare),
        max(&bare)
    );
    println!("ratio (median) {:.2}", med(&roadside) / med(&bare));
}
