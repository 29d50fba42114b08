//! Inclusion proof at 1,000,000 leaves (target ≤ 1 ms), on SQLite and (when
//! `ROADSIDE_TEST_PG_URL` is set) PostgreSQL.
//!
//! The 1M-leaf log is built directly in the server's storage through the ingest's own write path
//! (`Storage::commit_batch` with a planner that appends to the tiles with `tlog::append`), not by
//! a million HTTP pushes. Then, for random leaves:
//! - from storage: read the tiles the proof needs and compute it (what the endpoint did before the
//!   tile cache), against a reference of one tile read from the same storage;
//! - through the tile cache (`TileCache::inclusion_proof`, what the endpoint does now): cold (a fresh
//!   cache, each proof reading the tiles it misses) and warm (every tile of the log cached), each
//!   against the same one-tile-read reference interleaved;
//! - over HTTP: `GET /api/v1/log/inclusion?hash=…` on the real server, its cache cold, then warm
//!   (after a `GET` of every hash tile), then warm with `&size=` (the checkpoint of that size
//!   cached too), against a reference of `GET /log/tile/0/<N>` (one full tile) on the same server,
//!   interleaved (cold: mostly read from storage; warm: from the cache).
//!
//! Criterion times the proofs, each of a random leaf; each reference call is interleaved with a
//! proof, call by call, in the same loop. "Cold" is a cache fresh when criterion starts that line.
//! Every proof is checked against the signed checkpoint.
//!
//!   nice -n 10 cargo bench -p roadside-server --bench inclusion_proof

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use roadside_bench::criterion::Criterion;
use roadside_bench::{configured, print_ratio, Figures};
use roadside_core::ledger;
use roadside_server::storage::{self, BatchPlan, DynStorage, NewEntry};
use roadside_server::tile_cache::TileCache;
use roadside_server::tlog::{self, LogSigner, TileSet};

const LEAVES: u64 = 1_000_000;
const CHUNK: u64 = 20_000;

fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The stand-in entry hash of leaf `i`.
fn entry_hash(i: u64) -> [u8; 32] {
    ledger::sha256(&i.to_be_bytes())
}

/// Append leaves until the log holds `LEAVES`, `CHUNK` per transaction, each as a logged entry of
/// `device_id` (so the inclusion endpoint finds it by hash).
async fn build_log(store: &DynStorage, device_id: &str, agency: &str, signer: &LogSigner) -> f64 {
    let start = Instant::now();
    loop {
        let (signer, device_id2, agency) =
            (signer.clone(), device_id.to_string(), agency.to_string());
        let plan = store
            .commit_batch(
                device_id,
                Vec::new(),
                Box::new(move |snap| {
                    let size = snap.tree_size;
                    let n = CHUNK.min(LEAVES.saturating_sub(size));
                    let mut tiles = snap.tiles;
                    let hashes: Vec<[u8; 32]> = (size..size + n).map(entry_hash).collect();
                    let leaves: Vec<_> = hashes.iter().map(|h| tlog::record_hash(h)).collect();
                    let mut touched = BTreeSet::new();
                    let new_size = tlog::append(&mut tiles, size, &leaves, &mut touched)?;
                    let checkpoint = Some(signer.sign(new_size, tlog::root(&tiles, new_size)?)?);
                    let entries = hashes
                        .iter()
                        .zip(size..)
                        .map(|(h, i)| NewEntry {
                            hash: *h,
                            seq: 1_000_000_000 + i,
                            leaf_index: i,
                            agency: agency.clone(),
                            device_id: device_id2.clone(),
                            kind: "bench.leaf".to_string(),
                            case_id: None,
                            at: "2026-01-01T00:00:00.000Z".to_string(),
                            officers: Vec::new(),
                            supersedes: None,
                            body: "{}".to_string(),
                            bytes: Vec::new(),
                            sig: Vec::new(),
                            refusal: None,
                        })
                        .collect();
                    Ok(BatchPlan {
                        entries,
                        head: None,
                        tiles: touched
                            .into_iter()
                            .map(|k| (k, tiles.tiles[&k].clone()))
                            .collect(),
                        new_size,
                        checkpoint,
                        outcomes: Vec::new(),
                        working: TileSet::default(),
                        recovered: Vec::new(),
                    })
                }),
            )
            .await
            .expect("append");
        if plan.new_size >= LEAVES {
            return start.elapsed().as_secs_f64();
        }
    }
}

/// Print a line's figures and its ratio to its reference at the median.
fn report(figures: &Figures, subject: &str, reference: &str) {
    figures.print(&[subject, reference]);
    print_ratio(
        &format!("{subject} / its reference (p50)"),
        figures.time_ratio(subject, reference, 0.5),
    );
}

fn run(
    c: &mut Criterion,
    figures: &Figures,
    rt: &tokio::runtime::Runtime,
    backend: &str,
    db: String,
) {
    let s = rt.block_on(TestServer::start(Some(db.clone())));
    let (store, size, cp) = rt.block_on(async {
        let admin = s.admin().await;
        let (_, _, device_id) = s.enrol(&admin, "QH6325000101").await;
        let store = storage::open(&db).await.expect("storage");
        let private = roadside_server::keys::KeyDir::open(&s.dir.path().join("keys"))
            .expect("key dir")
            .log_key("roadside.local/log")
            .expect("log key file")
            .expect("log key");
        let signer = LogSigner::new("roadside.local/log", &private).expect("signer");
        let secs = build_log(&store, &device_id, "632500", &signer).await;
        let size = store.tree_size().await.expect("size");
        assert_eq!(size, LEAVES);
        let (_, note) = store.checkpoint(Some(size)).await.expect("cp").expect("cp");
        let cp = tlog::verify_checkpoint(&note, &s.verifier_key).expect("checkpoint verifies");
        println!("{backend:<10} built a {size}-leaf log in {secs:.1} s");
        (store, size, cp)
    });
    let check = |proof: &Vec<tlog::TreeHash>, leaf: u64| {
        tlog::check_record(
            proof,
            size,
            *cp.hash(),
            leaf,
            tlog::record_hash(&entry_hash(leaf)),
        )
        .expect("proof verifies");
    };
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut g = c.benchmark_group(format!("inclusion-proof-{backend}"));

    // From storage, no cache (what the endpoint did before the tile cache).
    let subject = format!("{backend}: proof from storage, no cache");
    let reference = format!("{backend}: reference: one tile read from storage");
    figures.bench_timed(&mut g, &subject, |n| {
        rt.block_on(async {
            let (mut proofs, mut tiles_read) = (Vec::new(), Vec::new());
            for _ in 0..n {
                let leaf = next_rand(&mut rng) % size;
                let t = Instant::now();
                let tiles = store
                    .read_tiles(&tlog::tiles_for_inclusion(size, leaf))
                    .await
                    .expect("tiles");
                let proof = tlog::inclusion_proof(&tiles, size, leaf).expect("proof");
                proofs.push(t.elapsed());
                check(&proof, leaf);
                let key = (0u8, next_rand(&mut rng) % (size / 256));
                let t = Instant::now();
                let one = store.read_tiles(&[key]).await.expect("tile");
                tiles_read.push(t.elapsed());
                assert_eq!(one.tiles[&key].len(), 256 * 32);
            }
            figures.record(&reference, &tiles_read);
            proofs
        })
    });
    let mut lines = vec![(subject, reference)];

    // Through the tile cache: cold, then warm (every tile of the log cached).
    let cache = TileCache::with_mib(128);
    for pass in ["cold", "warm"] {
        if pass == "warm" {
            let t = Instant::now();
            rt.block_on(async {
                for n in 0..size.div_ceil(256) {
                    let leaf = n * 256;
                    let proof = cache
                        .inclusion_proof(&store, size, leaf)
                        .await
                        .expect("proof");
                    check(&proof, leaf);
                }
            });
            let st = cache.stats();
            println!(
                "{backend:<10} cache warmed with a proof per level-0 tile in {:.1} s: {} entries, {:.1} MiB",
                t.elapsed().as_secs_f64(),
                st.entries,
                st.bytes as f64 / (1024.0 * 1024.0)
            );
        }
        let before = cache.stats();
        let subject = format!("{backend}: proof through the tile cache, {pass}");
        let reference = format!("{backend}: reference: one tile read from storage ({pass} line)");
        figures.bench_timed(&mut g, &subject, |n| {
            rt.block_on(async {
                let (mut proofs, mut tiles_read) = (Vec::new(), Vec::new());
                for _ in 0..n {
                    let leaf = next_rand(&mut rng) % size;
                    let t = Instant::now();
                    let proof = cache
                        .inclusion_proof(&store, size, leaf)
                        .await
                        .expect("proof");
                    proofs.push(t.elapsed());
                    check(&proof, leaf);
                    let key = (0u8, next_rand(&mut rng) % (size / 256));
                    let t = Instant::now();
                    let one = store.read_tiles(&[key]).await.expect("tile");
                    tiles_read.push(t.elapsed());
                    assert_eq!(one.tiles[&key].len(), 256 * 32);
                }
                figures.record(&reference, &tiles_read);
                proofs
            })
        });
        let after = cache.stats();
        let (hits, misses) = (after.hits - before.hits, after.misses - before.misses);
        println!(
            "{backend:<10} tile cache {pass}: {:.0} % of tiles from the cache",
            100.0 * hits as f64 / (hits + misses).max(1) as f64,
        );
        lines.push((subject, reference));
    }

    // Over HTTP: the server's own cache cold, warm, warm with `&size=`.
    for pass in ["cold", "warm", "warm, size given"] {
        if pass == "warm" {
            let t = Instant::now();
            rt.block_on(async {
                for level in 0..3u8 {
                    let hashes = size >> (8 * u32::from(level));
                    for n in 0..hashes.div_ceil(256) {
                        let width = (hashes - n * 256).min(256) as u32;
                        let url = s.url(&format!("/log/{}", tlog::tile_path((level, n), width)));
                        let resp = s.http.get(url).send().await.expect("get");
                        assert_eq!(resp.status(), 200);
                        let bytes = resp.bytes().await.expect("bytes");
                        assert_eq!(bytes.len(), width as usize * 32);
                    }
                }
            });
            println!(
                "{backend:<10} server cache warmed by GET of every hash tile in {:.1} s",
                t.elapsed().as_secs_f64()
            );
        }
        let subject = format!("{backend}: GET /api/v1/log/inclusion, server cache {pass}");
        let reference = format!("{backend}: reference: GET one full tile ({pass} line)");
        figures.bench_timed(&mut g, &subject, |n| {
            rt.block_on(async {
                let (mut proofs, mut tiles_read) = (Vec::new(), Vec::new());
                for _ in 0..n {
                    proofs.push(http_proof(&s, size, pass, &mut rng).await);
                    let n = next_rand(&mut rng) % (size / 256);
                    let url = s.url(&format!("/log/{}", tlog::tile_path((0, n), 256)));
                    let t = Instant::now();
                    let resp = s.http.get(url).send().await.expect("get");
                    assert_eq!(resp.status(), 200);
                    let bytes = resp.bytes().await.expect("bytes");
                    tiles_read.push(t.elapsed());
                    assert_eq!(bytes.len(), 256 * 32);
                }
                figures.record(&reference, &tiles_read);
                proofs
            })
        });
        lines.push((subject, reference));
    }
    g.finish();
    rt.block_on(s.stop());
    println!("== {backend}, {LEAVES} leaves");
    for (subject, reference) in &lines {
        report(figures, subject, reference);
    }
}

/// One `GET /api/v1/log/inclusion` of a random leaf, its proof checked: the round trip's time.
async fn http_proof(s: &TestServer, size: u64, pass: &str, rng: &mut u64) -> Duration {
    let leaf = next_rand(rng) % size;
    let mut path = format!(
        "/api/v1/log/inclusion?hash={}",
        hex::encode(entry_hash(leaf))
    );
    if pass == "warm, size given" {
        path.push_str(&format!("&size={size}"));
    }
    let url = s.url(&path);
    let t = Instant::now();
    let resp = s.http.get(url).send().await.expect("get");
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    let took = t.elapsed();
    assert_eq!(body["leaf_index"].as_u64(), Some(leaf));
    let proof: Vec<tlog::TreeHash> = body["inclusion_proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(h.as_str().expect("str"))
                .expect("b64");
            tlog::TreeHash(raw.try_into().expect("32 bytes"))
        })
        .collect();
    let note = body["checkpoint"].as_str().expect("checkpoint");
    let cp = tlog::verify_checkpoint(note, &s.verifier_key).expect("checkpoint verifies");
    tlog::check_record(
        &proof,
        cp.size(),
        *cp.hash(),
        leaf,
        tlog::record_hash(&entry_hash(leaf)),
    )
    .expect("proof verifies");
    took
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = configured();
    let figures = Figures::new();
    println!("inclusion proof at {LEAVES} leaves, random leaves");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir
        .path()
        .join("bench.sqlite3")
        .to_string_lossy()
        .into_owned();
    run(&mut c, &figures, &rt, "SQLite", db);
    if let Some(url) = pg_admin_url() {
        let db = rt.block_on(fresh_pg_database(&url));
        run(&mut c, &figures, &rt, "PostgreSQL", db);
    }
    c.final_summary();
}
