//! The in-process tile cache (`server/src/tile_cache.rs`) over real HTTP: proofs and tiles served
//! from a warm cache still verify after further appends, including appends made by a second server
//! on the same database (whose appends the first server's cache never saw). Every proof is checked
//! against the signed checkpoint it is returned with, every tile against tiles computed here from
//! the leaves. SQLite (two servers on one file) always; PostgreSQL when `ROADSIDE_TEST_PG_URL` is
//! set.

mod common;

use base64::Engine;
use common::*;
use roadside_core::ledger::{DeviceKey, Head, SignedEntry};
use roadside_server::tlog::{self, TreeHash};
use serde_json::Value;

fn hashes(v: &Value) -> Vec<TreeHash> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|h| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(h.as_str().expect("str"))
                .expect("b64");
            TreeHash(raw.try_into().expect("32 bytes"))
        })
        .collect()
}

/// One device pushing through whichever server it is given.
struct Device {
    key: DeviceKey,
    token: String,
    head: Option<Head>,
}

impl Device {
    async fn push(&mut self, s: &TestServer, n: usize) -> Vec<SignedEntry> {
        let entries = chain(&self.key, self.head, n, &TWO_OFFICERS);
        self.head = head_of(&entries);
        let (status, body) = s.push(&self.token, &entries).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["accepted"].as_u64(), Some(n as u64), "{body}");
        entries
    }
}

/// What the tests know of the log: every entry hash in leaf order.
#[derive(Default)]
struct Log {
    entries: Vec<[u8; 32]>,
}

impl Log {
    fn leaf(&self, i: usize) -> TreeHash {
        tlog::record_hash(&self.entries[i])
    }

    /// Level-0 hash tile `n` of the tree of `size`, computed here.
    fn level0_tile(&self, n: usize, size: usize) -> Vec<u8> {
        (n * 256..size.min(n * 256 + 256))
            .flat_map(|i| self.leaf(i).0)
            .collect()
    }

    /// Level-1 hash tile 0 of the tree of `size` (the roots of its complete 256-leaf subtrees).
    fn level1_tile(&self, size: usize) -> Vec<u8> {
        (0..size / 256)
            .flat_map(|k| {
                tlog::reference_root(
                    &(k * 256..k * 256 + 256)
                        .map(|i| self.leaf(i))
                        .collect::<Vec<_>>(),
                )
                .0
            })
            .collect()
    }
}

async fn get_json(s: &TestServer, path: &str) -> (u16, Value) {
    s.call(reqwest::Method::GET, path, None, None).await
}

async fn get_bytes(s: &TestServer, path: &str) -> (u16, Vec<u8>) {
    let resp = s.http.get(s.url(path)).send().await.expect("get");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("bytes").to_vec())
}

/// The newest checkpoint `s` serves, verified.
async fn newest(s: &TestServer) -> tlog_tiles::Checkpoint {
    let (status, note) = get_bytes(s, "/log/checkpoint").await;
    assert_eq!(status, 200);
    tlog::verify_checkpoint(std::str::from_utf8(&note).expect("utf-8"), &s.verifier_key)
        .expect("checkpoint verifies")
}

/// Ask `s` for the inclusion proof of leaf `i` (at `size`, or the newest checkpoint) and check it
/// against the checkpoint it comes with, and that checkpoint against the root computed here.
/// Returns the proof's tree size.
async fn check_inclusion(s: &TestServer, log: &Log, i: usize, size: Option<usize>) -> u64 {
    let mut path = format!("/api/v1/log/inclusion?hash={}", hex::encode(log.entries[i]));
    if let Some(size) = size {
        path.push_str(&format!("&size={size}"));
    }
    let (status, body) = get_json(s, &path).await;
    assert_eq!(status, 200, "{path}: {body}");
    let cp = tlog::verify_checkpoint(
        body["checkpoint"].as_str().expect("checkpoint"),
        &s.verifier_key,
    )
    .expect("checkpoint verifies");
    assert_eq!(body["tree_size"].as_u64(), Some(cp.size()));
    if let Some(size) = size {
        assert_eq!(cp.size(), size as u64);
    }
    assert_eq!(body["leaf_index"].as_u64(), Some(i as u64));
    tlog::check_record(
        &hashes(&body["inclusion_proof"]),
        cp.size(),
        *cp.hash(),
        i as u64,
        log.leaf(i),
    )
    .unwrap_or_else(|e| panic!("{path}: proof does not verify at {}: {e}", cp.size()));
    let all: Vec<_> = (0..cp.size() as usize).map(|k| log.leaf(k)).collect();
    assert_eq!(
        *cp.hash(),
        tlog::reference_root(&all),
        "signed root at {}",
        cp.size()
    );
    cp.size()
}

async fn check_consistency(s: &TestServer, log: &Log, from: usize, to: usize) {
    let (status, body) = get_json(s, &format!("/api/v1/log/consistency?from={from}&to={to}")).await;
    assert_eq!(status, 200, "{body}");
    let cp = tlog::verify_checkpoint(body["checkpoint"].as_str().expect("cp"), &s.verifier_key)
        .expect("checkpoint verifies");
    assert_eq!(cp.size(), to as u64);
    let old = tlog::reference_root(&(0..from).map(|k| log.leaf(k)).collect::<Vec<_>>());
    tlog::check_tree(
        &hashes(&body["consistency_proof"]),
        to as u64,
        *cp.hash(),
        from as u64,
        old,
    )
    .expect("consistent");
}

/// Tiles of the tree of `size`, each as wide as that tree has it, equal those computed here.
async fn check_tiles(s: &TestServer, log: &Log, size: usize) {
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256);
        let path = format!("/log/{}", tlog::tile_path((0, n as u64), width as u32));
        let (status, data) = get_bytes(s, &path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(data, log.level0_tile(n, size), "{path}");
        let bundle = if width == 256 {
            format!("/log/tile/entries/{n:03}")
        } else {
            format!("/log/tile/entries/{n:03}.p/{width}")
        };
        let (status, data) = get_bytes(s, &bundle).await;
        assert_eq!(status, 200, "{bundle}");
        let served: Vec<&[u8]> = data.chunks(34).map(|c| &c[2..]).collect();
        let expected: Vec<&[u8]> = log.entries[n * 256..n * 256 + width]
            .iter()
            .map(|h| &h[..])
            .collect();
        assert_eq!(served, expected, "{bundle}");
    }
    if size >= 256 {
        let path = format!("/log/{}", tlog::tile_path((1, 0), (size / 256) as u32));
        let (status, data) = get_bytes(s, &path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(data, log.level1_tile(size), "{path}");
    }
    if size == log.entries.len() {
        // One hash wider than the log holds: not there (from a warm cache too).
        let n = size / 256;
        let width = size - n * 256 + 1;
        let path = format!("/log/{}", tlog::tile_path((0, n as u64), width as u32));
        assert_eq!(get_bytes(s, &path).await.0, 404, "{path}");
        let path = format!("/log/tile/entries/{n:03}.p/{width}");
        assert_eq!(get_bytes(s, &path).await.0, 404, "{path}");
    }
}

fn cache_lookups(metrics: &str, result: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("roadside_tile_cache_lookups_total{")
                && l.contains(&format!("result=\"{result}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn metrics(s: &TestServer) -> String {
    let (status, body) = get_bytes(s, "/metrics").await;
    assert_eq!(status, 200);
    String::from_utf8(body).expect("utf-8")
}

/// Server `a` (cache on) serves proofs and tiles; the log grows through `a` and through `b`
/// (another server on the same database, its cache off), and `a`'s warm cache never makes it serve
/// a proof or tile of another tree than the one asked for.
async fn warm_cache_survives_appends(db: String) {
    let a = TestServer::start(Some(db.clone())).await;
    let b = a.replica(Some(db), |c| c.tile_cache_mib = 0).await;
    let admin = a.admin().await;
    let (key, token, _) = a.enrol(&admin, "QH6325000101").await;
    let mut dev = Device {
        key,
        token,
        head: None,
    };
    let mut log = Log::default();
    let mut sizes = Vec::new();

    // 300 leaves through `a`: one full level-0 tile, one of 44.
    for e in dev.push(&a, 300).await {
        log.entries.push(e.hash);
    }
    sizes.push(log.entries.len());
    // Warm `a`'s cache: proofs of leaves in both tiles, the tiles themselves.
    for i in [0, 5, 255, 256, 299] {
        assert_eq!(check_inclusion(&a, &log, i, None).await, 300);
    }
    check_tiles(&a, &log, 300).await;
    let warm = metrics(&a).await;
    assert!(cache_lookups(&warm, "hit") > 0, "{warm}");

    // 250 more through `a`, then 230 through `b`: `a`'s cached edge tiles are now narrower than
    // the newest tree, and `a` never saw `b`'s appends.
    for e in dev.push(&a, 250).await {
        log.entries.push(e.hash);
    }
    sizes.push(log.entries.len());
    let (key2, token2, _) = b.enrol(&admin, "QH6325000102").await;
    let mut dev2 = Device {
        key: key2,
        token: token2,
        head: None,
    };
    for e in dev2.push(&b, 230).await {
        log.entries.push(e.hash);
    }
    sizes.push(log.entries.len());
    let total = log.entries.len();
    assert_eq!(newest(&a).await.size(), total as u64);

    // Newest proofs from `a` cover `b`'s appends and verify; so do proofs at each older size
    // (their tiles cut from the wider cached ones), and consistency between all sizes.
    for i in [0, 5, 255, 256, 299, 300, 511, 512, 549, 550, total - 1] {
        assert_eq!(check_inclusion(&a, &log, i, None).await, total as u64);
        for &size in &sizes {
            if i < size {
                check_inclusion(&a, &log, i, Some(size)).await;
            }
        }
    }
    for (k, &from) in sizes.iter().enumerate() {
        for &to in &sizes[k..] {
            check_consistency(&a, &log, from, to).await;
        }
    }
    // Tiles: as the newest tree has them, and the older partial widths still served exactly.
    check_tiles(&a, &log, total).await;
    for &size in &sizes {
        check_tiles(&a, &log, size.min(total - 1)).await;
    }
    // And the same answers from `b`, whose cache is off.
    check_tiles(&b, &log, total).await;
    check_inclusion(&b, &log, 299, Some(300)).await;

    // `b` grows the log again while `a`'s cache is warm at the newest size: `a` follows.
    for e in dev2.push(&b, 40).await {
        log.entries.push(e.hash);
    }
    let total = log.entries.len();
    for i in [0, 299, 767, total - 1] {
        assert_eq!(check_inclusion(&a, &log, i, None).await, total as u64);
    }
    check_tiles(&a, &log, total).await;
    check_consistency(&a, &log, 300, total).await;

    let after = metrics(&a).await;
    assert!(cache_lookups(&after, "miss") > cache_lookups(&warm, "miss"));
    assert!(cache_lookups(&after, "hit") > cache_lookups(&warm, "hit"));
    assert!(after.contains("roadside_tile_cache_bytes"), "{after}");
    // `b`'s cache holds nothing.
    assert_eq!(cache_lookups(&metrics(&b).await, "hit"), 0);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_cache_survives_appends_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    warm_cache_survives_appends(
        dir.path()
            .join("shared.sqlite3")
            .to_string_lossy()
            .into_owned(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_cache_survives_appends_on_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    warm_cache_survives_appends(fresh_pg_database(&admin).await).await;
}

/// With the cache off (`--tile-cache-mib 0`) everything is read from storage, and right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cache_off_everything_still_answers() {
    let s = TestServer::start_with(None, |c| c.tile_cache_mib = 0).await;
    let admin = s.admin().await;
    let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
    let mut dev = Device {
        key,
        token,
        head: None,
    };
    let mut log = Log::default();
    for e in dev.push(&s, 260).await {
        log.entries.push(e.hash);
    }
    for i in [0, 259] {
        check_inclusion(&s, &log, i, None).await;
        check_inclusion(&s, &log, i, Some(260)).await;
    }
    check_tiles(&s, &log, 260).await;
    assert_eq!(cache_lookups(&metrics(&s).await, "hit"), 0);
    s.stop().await;
}

/// Lookups of one kind (`tile`, `checkpoint`, …) with one result (`hit`, `miss`).
fn lookups_of(metrics: &str, kind: &str, result: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("roadside_tile_cache_lookups_total{")
                && l.contains(&format!("kind=\"{kind}\""))
                && l.contains(&format!("result=\"{result}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The storage hands every committed batch to the cache (write-through): right after a push, the
/// proofs at the push's size are served from memory, with no read of a tile or of that checkpoint
/// from the database.
async fn a_push_feeds_the_cache(db: Option<String>) {
    let s = TestServer::start(db).await;
    let admin = s.admin().await;
    let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
    let mut dev = Device {
        key,
        token,
        head: None,
    };
    let mut log = Log::default();
    for e in dev.push(&s, 300).await {
        log.entries.push(e.hash);
    }
    for i in [0, 255, 256, 299] {
        assert_eq!(check_inclusion(&s, &log, i, Some(300)).await, 300);
    }
    let m = metrics(&s).await;
    assert!(lookups_of(&m, "tile", "hit") > 0, "{m}");
    assert_eq!(lookups_of(&m, "tile", "miss"), 0, "{m}");
    assert!(lookups_of(&m, "checkpoint", "hit") > 0, "{m}");
    assert_eq!(lookups_of(&m, "checkpoint", "miss"), 0, "{m}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_feeds_the_cache_on_sqlite() {
    a_push_feeds_the_cache(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_feeds_the_cache_on_postgres() {
    let Some(admin) = pg_admin_url() else {
        eprintln!(
            "skipped: ROADSIDE_TEST_PG_URL is not set (scripts/pg-test-server.sh starts one)"
        );
        return;
    };
    a_push_feeds_the_cache(Some(fresh_pg_database(&admin).await)).await;
}
