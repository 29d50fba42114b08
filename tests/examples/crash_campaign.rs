//! Crash campaign (not part of CI; bounded; loopback only): the real server is killed with
//! `SIGKILL` at random moments while a device syncs entries and uploads files through a proxy
//! that also cuts connections at random. At the end the device syncs with no faults and the
//! campaign counts the entries and files lost or changed. The goal is zero of each.
//!
//! ```sh
//! cargo build --release -p roadside-server
//! cargo run --release -p roadside-tests --example crash_campaign -- --kills 1000 --cuts 1000
//! ```
//!
//! Options: `--kills N` (server kills, default 1000), `--cuts N` (connection cuts, default 1000),
//! `--seed N`, `--max-minutes N` (stop early, default 120). Prints a JSON report on stdout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use roadside_core::evidence::hash_file;
use roadside_core::model::EvidenceKind;
use roadside_core::store::EvidenceMeta;
use roadside_core::sync::{self, SyncOptions};
use roadside_tests::proxy::{FaultProxy, Faults};
use roadside_tests::*;
use serde_json::json;

const OFFICER: &str = "QH6325000101";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let kills_target = arg("--kills", 1000);
    let cuts_target = arg("--cuts", 1000);
    let seed = arg("--seed", 0x00c0_ffee);
    let deadline = Instant::now() + Duration::from_secs(60 * arg("--max-minutes", 120));
    let started = Instant::now();

    let data = tempfile::tempdir().expect("tempdir");
    let mut server = ServerProcess::start(data.path(), "127.0.0.1:0");
    let proxy = FaultProxy::start(
        server.addr,
        Faults {
            cut_after: Some((2 * 1024, 512 * 1024)),
            max_cuts: cuts_target,
        },
        seed,
    );
    let dev = Arc::new(Device::new());
    enrol(&dev.store, &proxy.base(), &server.enrolment_code(OFFICER));
    let files_dir = dev.dir.path().join("media");
    std::fs::create_dir_all(&files_dir).expect("media dir");

    let mut rng = Rng(seed | 1);
    let mut files: Vec<(std::path::PathBuf, String, u64)> = Vec::new();
    let mut kills = 0u64;
    let options = SyncOptions {
        chunk_size: 64 * 1024,
        pull_bundles: false,
        retry_attempts: 4,
        retry_base_ms: 10,
        retry_max_ms: 100,
        request_timeout_secs: 20,
        ..SyncOptions::default()
    };
    while (kills < kills_target || proxy.cuts() < cuts_target) && Instant::now() < deadline {
        // New work every round: a few cases and one file.
        let cases = dev.capture_cases(1 + rng.below(6) as usize);
        let size = 64 * 1024 + rng.below(900 * 1024);
        let path = files_dir.join(format!("clip-{:05}.mp4", files.len()));
        random_file(&path, size, rng.next());
        dev.store
            .attach_evidence(
                &cases[0],
                &path,
                EvidenceKind::Video,
                &EvidenceMeta::default(),
            )
            .expect("attach evidence");
        let sha = hash_file(&path).expect("hash").sha256;
        files.push((path, sha, size));

        let worker = {
            let dev = dev.clone();
            let options = options.clone();
            std::thread::spawn(move || sync(&dev.store, &options))
        };
        if kills < kills_target {
            std::thread::sleep(Duration::from_millis(rng.below(400)));
            server.kill();
            kills += 1;
            let _ = worker.join();
            server = ServerProcess::start(data.path(), "127.0.0.1:0");
            proxy.set_upstream(server.addr);
        } else {
            let _ = worker.join();
        }
        if kills.is_multiple_of(50) {
            eprintln!(
                "{kills} kills, {} cuts, {} files, {:?}",
                proxy.cuts(),
                files.len(),
                started.elapsed()
            );
        }
    }

    // The end of the day: no more faults, sync everything.
    proxy.set_faults(Faults::none());
    let calm = SyncOptions {
        retry_attempts: 20,
        ..options
    };
    for _ in 0..50 {
        let ok = sync(&dev.store, &calm).is_ok();
        let status = sync::status(&dev.store).expect("status");
        if ok && status.outbox_len == 0 && status.pending_uploads.is_empty() {
            break;
        }
    }

    // Count what is missing or different on the server.
    let ledger = dev.store.export_ledger().expect("ledger");
    let conn = rusqlite::Connection::open(server.database()).expect("server database");
    let mut entries_lost = 0u64;
    for e in &ledger {
        let hash = hex::decode(&e.hash).expect("hex");
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM entries WHERE hash = ?1",
                [&hash],
                |r| r.get(0),
            )
            .expect("query");
        if n != 1 {
            entries_lost += 1;
        }
    }
    let stored_entries: i64 = conn
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .expect("count");
    let token = server.admin_token();
    let client = reqwest::blocking::Client::new();
    let mut files_lost = 0u64;
    for (_, sha, size) in &files {
        let body = client
            .get(server.url(&format!("/api/v1/media/{sha}")))
            .bearer_auth(&token)
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.bytes().ok());
        use sha2::Digest;
        let whole = body.is_some_and(|b| {
            b.len() as u64 == *size && hex::encode(sha2::Sha256::digest(&b)) == *sha
        });
        if !whole {
            files_lost += 1;
        }
    }
    let status = sync::status(&dev.store).expect("status");
    let report = json!({
        "kills": kills,
        "cuts": proxy.cuts(),
        "entries": ledger.len(),
        "entries_on_server": stored_entries,
        "entries_lost": entries_lost,
        "files": files.len(),
        "files_lost": files_lost,
        "device_uploads_done": status.uploads_done,
        "device_outbox_left": status.outbox_len,
        "minutes": started.elapsed().as_secs_f64() / 60.0,
    });
    println!("{report}");
    if entries_lost > 0 || files_lost > 0 {
        std::process::exit(1);
    }
}
