//! Device-store figures, each beside a reference measured in the same run (criterion; the ratios are
//! printed at the end):
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
use std::time::Instant;

use chrono::{DateTime, Utc};
use roadside_bench::criterion::Criterion;
use roadside_bench::{configured, print_ratio, Figures};
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
    let mut c = configured();
    let figures = Figures::new();
    actions(&mut c, &figures, &target);
    open_and_list(&mut c, &figures, &target);
    c.final_summary();
}

fn actions(c: &mut Criterion, figures: &Figures, target: &Path) {
    let dir = tempfile::tempdir_in(target).expect("temp dir");
    let record = demo::on_site_record(Utc::now() - chrono::Duration::hours(1));
    let bytes = serde_json::to_vec(&record).expect("encode");
    let mut rows = Vec::new();
    for (label, durability) in [
        ("normal (shipped)", Durability::Normal),
        ("full", Durability::Full),
    ] {
        let name = label.split(' ').next().unwrap_or("x");
        let store = Store::open(&dir.path().join(name), &KEY, durability).expect("open");
        store.import_roster(&demo::roster()).expect("roster");

        let plain = dir.path().join(format!("plain-{name}.db"));
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

        let subject = format!("device action, {label}");
        let reference = format!("reference: bare SQLite insert-and-commit, {label}");
        let mut g = c.benchmark_group(format!("actions-{name}"));
        figures.bench(&mut g, &subject, || {
            store.create_case(&record).expect("create");
        });
        figures.bench(&mut g, &reference, || {
            conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
            conn.execute("INSERT INTO t (body) VALUES (?1)", [&bytes])
                .expect("insert");
            conn.execute_batch("COMMIT").expect("commit");
        });
        g.finish();
        assert!(store.verify_ledger().expect("verify").ok);
        rows.push((subject, reference));
    }
    println!("== device actions (validate + sign + one transaction)");
    for (subject, reference) in &rows {
        figures.print(&[subject, reference]);
        let per_sec = |id: &str| figures.quantile(id, 0.5).map(|d| 1.0 / d.as_secs_f64());
        if let (Some(a), Some(b)) = (per_sec(subject), per_sec(reference)) {
            println!("actions/s (median) {a:.0}, bare inserts/s {b:.0}");
        }
        print_ratio(
            "roadside actions/s over bare inserts/s (median)",
            figures.time_ratio(reference, subject, 0.5),
        );
    }
}

const OPEN: &str = "roadside Store::open + cases_today() (100,000 cases)";
const OPEN_REF: &str = "reference: bare keyed open + one SELECT";

fn open_and_list(c: &mut Criterion, figures: &Figures, target: &Path) {
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

    // The two interleaved, call by call, so that drift in the machine's load hits both alike.
    let mut listed = 0;
    let mut g = c.benchmark_group("open-and-list");
    figures.bench_timed(&mut g, OPEN, |n| {
        let mut roadside = Vec::new();
        let mut bare = Vec::new();
        for _ in 0..n {
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
        figures.record(OPEN_REF, &bare);
        roadside
    });
    g.finish();
    println!("== open a store of 100,000 records and list today's cases ({listed} today)");
    figures.print(&[OPEN, OPEN_REF]);
    print_ratio(
        "roadside open + list over bare open (median)",
        figures.time_ratio(OPEN, OPEN_REF, 0.5),
    );
}
