//! Two server processes on one database, pushed to concurrently, keep one consistent log: every
//! leaf index given once, the signed root equal to the RFC 6962 root of the leaves the tiles serve,
//! every receipt valid and every checkpoint consistent with the last. SQLite (two servers on one
//! file) always; PostgreSQL when `ROADSIDE_TEST_PG_URL` is set.

mod common;

use std::collections::HashSet;

use base64::Engine;
use common::*;
use roadside_server::tlog::{self, TreeHash};
use serde_json::Value;

const DEVICES: usize = 6;
const BATCHES: usize = 4;
const PER_BATCH: usize = 50;

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

async fn two_servers(db: String) {
    let a = TestServer::start(Some(db.clone())).await;
    let b = a.replica(Some(db), |_| {}).await;
    assert_eq!(a.verifier_key, b.verifier_key, "replicas share the log key");
    let admin = a.admin().await;
    let mut devices = Vec::new();
    for i in 0..DEVICES {
        let server = if i % 2 == 0 { &a } else { &b };
        devices.push(server.enrol(&admin, "QH6325000101").await);
    }

    let mut tasks = Vec::new();
    for (i, (key, token, _)) in devices.into_iter().enumerate() {
        let servers = [a.base.clone(), b.base.clone()];
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut head = None;
            let mut receipts = Vec::new();
            for batch in 0..BATCHES {
                let entries = chain(&key, head, PER_BATCH, &TWO_OFFICERS);
                head = head_of(&entries);
                let base = &servers[(i + batch) % 2];
                let answer: Value = http
                    .post(format!("{base}/api/v1/sync/push"))
                    .bearer_auth(&token)
                    .json(&push_body(&entries))
                    .send()
                    .await
                    .expect("push")
                    .json()
                    .await
                    .expect("json");
                assert_eq!(
                    answer["accepted"].as_u64(),
                    Some(PER_BATCH as u64),
                    "{answer}"
                );
                for (e, r) in entries
                    .iter()
                    .zip(answer["results"].as_array().expect("results"))
                {
                    receipts.push((e.hash_hex(), r["receipt"].clone()));
                }
            }
            receipts
        }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.extend(t.await.expect("task"));
    }
    let total = DEVICES * BATCHES * PER_BATCH;
    assert_eq!(receipts.len(), total);

    // The newest checkpoint, from either replica, verifies and covers everything.
    let note = b
        .http
        .get(b.url("/log/checkpoint"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let head = tlog::verify_checkpoint(&note, &a.verifier_key).expect("checkpoint verifies");
    assert_eq!(head.size(), total as u64);

    // The leaves the tiles serve: each pushed entry exactly once.
    let mut leaves = Vec::new();
    for n in 0..(total as u64).div_ceil(256) {
        let width = (total as u64 - n * 256).min(256);
        let path = if width == 256 {
            format!("/log/tile/entries/{n:03}")
        } else {
            format!("/log/tile/entries/{n:03}.p/{width}")
        };
        let bundle = a
            .http
            .get(a.url(&path))
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(bundle.len() as u64, width * 34, "{path}");
        for chunk in bundle.chunks(34) {
            leaves.push(hex::encode(&chunk[2..]));
        }
    }
    let unique: HashSet<_> = leaves.iter().cloned().collect();
    assert_eq!(unique.len(), total, "every leaf once");
    let pushed: HashSet<_> = receipts.iter().map(|(h, _)| h.clone()).collect();
    assert_eq!(unique, pushed);

    // The signed root is the RFC 6962 root of those leaves.
    let leaf_hashes: Vec<_> = leaves
        .iter()
        .map(|h| tlog::record_hash(&hex::decode(h).expect("hex")))
        .collect();
    assert_eq!(*head.hash(), tlog::reference_root(&leaf_hashes));

    // Every receipt proves inclusion, and its checkpoint is consistent with the newest one.
    let mut sizes_checked = HashSet::new();
    for (hash, r) in &receipts {
        let cp = tlog::verify_checkpoint(r["checkpoint"].as_str().expect("cp"), &a.verifier_key)
            .expect("receipt checkpoint verifies");
        let index = r["leaf_index"].as_u64().expect("index");
        assert_eq!(leaves[index as usize], *hash);
        tlog::check_record(
            &hashes(&r["inclusion_proof"]),
            cp.size(),
            *cp.hash(),
            index,
            tlog::record_hash(&hex::decode(hash).expect("hex")),
        )
        .expect("inclusion");
        if cp.size() < head.size() && sizes_checked.insert(cp.size()) {
            let c: Value = a
                .http
                .get(a.url(&format!(
                    "/api/v1/log/consistency?from={}&to={}",
                    cp.size(),
                    head.size()
                )))
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            tlog::check_tree(
                &hashes(&c["consistency_proof"]),
                head.size(),
                *head.hash(),
                cp.size(),
                *cp.hash(),
            )
            .expect("consistent");
        }
    }
    assert!(
        sizes_checked.len() >= BATCHES,
        "many checkpoints were published"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_sqlite_file_make_one_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    two_servers(
        dir.path()
            .join("shared.sqlite3")
            .to_string_lossy()
            .into_owned(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_make_one_log() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    two_servers(fresh_pg_database(&admin).await).await;
}
