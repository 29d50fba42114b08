//! `roadside-server audit` throughput (goal: at least 0.5× the raw `verify_strict` rate), on SQLite
//! with 1,000,000 entries by default (`ROADSIDE_AUDIT_BENCH_ENTRIES` to change it). The database is
//! built through the storage layer's batch commit (the ingest planner, no HTTP, signatures not
//! checked while building: the entries are made here). Criterion times whole audits of that database
//! (at least ten: criterion's least sample). Reference measured in the same run: raw Ed25519
//! verification (`verify_strict`) of 50,000 of the same entries, on one thread and on every core.
//! With `ROADSIDE_TEST_PG_URL` set, PostgreSQL is measured too.
//!
//!   nice -n 10 cargo bench -p roadside-server --bench audit

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Instant;

use roadside_bench::criterion::{Criterion, Throughput};
use roadside_bench::{configured, print_ratio, Figures};

use chrono::{Duration, Utc};
use common::*;
use ed25519_dalek::Signature;
use roadside_core::ledger::{self, DeviceKey, EntryKind, Head, SignedEntry};
use roadside_server::audit;
use roadside_server::ingest::{self, Checked, PreChecked};
use roadside_server::storage::{self, Device, DynStorage, EnrolOutcome, EnrolmentCode};
use roadside_server::tlog::LogSigner;
use serde_json::json;

const DEVICES: usize = 4;
const BATCH: usize = 1000;
/// Entries per case (a new case is opened every this many entries of a device).
const CASE_LEN: u64 = 40;
const REFERENCE: usize = 50_000;

/// A device's next `n` entries after `head`: a case opened every [`CASE_LEN`], evidence and records
/// in between.
fn entries(
    key: &DeviceKey,
    mut head: Option<Head>,
    n: usize,
    case: &mut String,
) -> Vec<SignedEntry> {
    let at = Utc::now() - Duration::minutes(5);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let seq = head.map_or(1, |h| h.seq + 1);
        let (kind, body) = if (seq - 1).is_multiple_of(CASE_LEN) {
            *case = uuid::Uuid::now_v7().to_string();
            (
                EntryKind::CaseOpen,
                json!({"reason": "超限运输", "plate": format!("青E{:05}", seq % 100_000)}),
            )
        } else if seq % 3 == 1 {
            (
                EntryKind::EvidenceAdd,
                json!({"sha256": hex::encode(ledger::sha256(&seq.to_be_bytes())), "size": 1024 + seq, "type": "photo"}),
            )
        } else {
            (
                EntryKind::RecordCreate,
                json!({"record": {"situation": format!("第 {seq} 条笔录：车辆在检测站过磅，超限 12.5%")}}),
            )
        };
        let entry = ledger::next_entry(
            key,
            head,
            at,
            TWO_OFFICERS.iter().map(|s| s.to_string()).collect(),
            kind,
            Some(case.clone()),
            body,
        );
        let signed = ledger::seal(&entry, key).expect("seal");
        head = Some(Head {
            seq: entry.seq,
            hash: signed.hash,
        });
        out.push(signed);
    }
    out
}

async fn enrol(storage: &DynStorage, key: &DeviceKey, n: usize) -> String {
    let code_hash = ledger::sha256(format!("bench-code-{n}").as_bytes());
    storage
        .create_enrolment_code(&EnrolmentCode {
            code_hash,
            agency: "632500".into(),
            certificate_no: "QH6325000101".into(),
            created_by: "bench".into(),
            expires_at: "2999-01-01T00:00:00Z".into(),
        })
        .await
        .expect("code");
    let id = format!("bench-device-{n}");
    let device = Device {
        id: id.clone(),
        public_key: key.public_hex(),
        agency: "632500".into(),
        certificate_no: "QH6325000101".into(),
        name: "bench".into(),
        enrolled_at: roadside_server::now(),
        revoked_at: None,
        head_seq: 0,
        head_hash: None,
    };
    let token = ledger::sha256(format!("bench-token-{n}").as_bytes());
    match storage
        .enrol_device(&code_hash, &roadside_server::now(), device, &token)
        .await
        .expect("enrol")
    {
        EnrolOutcome::Enrolled(_) => id,
        other => panic!("not enrolled: {other:?}"),
    }
}

/// Append `total` entries through the batch commit; returns `REFERENCE` of them for the raw rate.
async fn build(storage: &DynStorage, signer: &Arc<LogSigner>, total: usize) -> Vec<SignedEntry> {
    let keys: Vec<DeviceKey> = (0..DEVICES).map(|_| DeviceKey::generate()).collect();
    let mut ids = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        ids.push(enrol(storage, key, n).await);
    }
    let mut heads: Vec<Option<Head>> = vec![None; DEVICES];
    let mut cases: Vec<String> = vec![String::new(); DEVICES];
    let mut reference = Vec::with_capacity(REFERENCE);
    let mut done = 0;
    let start = Instant::now();
    while done < total {
        let per = BATCH.min((total - done).div_ceil(DEVICES));
        // Each device's next batch signed on a core of its own.
        let batches: Vec<Vec<SignedEntry>> = std::thread::scope(|s| {
            let handles: Vec<_> = keys
                .iter()
                .zip(heads.iter().copied())
                .zip(cases.iter_mut())
                .map(|((key, head), case)| s.spawn(move || entries(key, head, per, case)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("join"))
                .collect()
        });
        for (d, batch) in batches.into_iter().enumerate() {
            let batch: Vec<SignedEntry> = batch.into_iter().take(total - done).collect();
            if batch.is_empty() {
                continue;
            }
            heads[d] = batch.last().map(|e| Head {
                seq: e.entry().expect("entry").seq,
                hash: e.hash,
            });
            let room = REFERENCE.saturating_sub(reference.len());
            reference.extend(batch.iter().take(room).cloned());
            let seqs: Vec<u64> = batch
                .iter()
                .map(|e| e.entry().expect("entry").seq)
                .collect();
            let checked: Vec<PreChecked> = batch
                .into_iter()
                .map(|e| {
                    Ok(Checked {
                        hash: e.hash,
                        entry: e.entry().expect("entry"),
                        sig: e.sig.to_vec(),
                        bytes: e.bytes,
                        refusal: None,
                    })
                })
                .collect();
            let n = checked.len();
            let signer = signer.clone();
            let plan = storage
                .commit_batch(
                    &ids[d],
                    seqs,
                    Box::new(move |snapshot| {
                        ingest::plan(snapshot, checked, &signer, &Default::default())
                    }),
                )
                .await
                .expect("commit");
            assert_eq!(plan.entries.len(), n);
            done += n;
        }
        if done % 100_000 < DEVICES * BATCH {
            eprintln!(
                "  built {done} entries ({:.0} s)",
                start.elapsed().as_secs_f64()
            );
        }
    }
    reference
}

/// Each entry's device key, parsed once.
fn device_keys(entries: &[SignedEntry]) -> Vec<ed25519_dalek::VerifyingKey> {
    entries
        .iter()
        .map(|e| {
            let hex = e.entry().expect("entry").device;
            let bytes: [u8; 32] = hex::decode(hex).expect("hex").try_into().expect("32");
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).expect("key")
        })
        .collect()
}

/// `verify_strict` of `entries` on `threads` threads.
fn raw_verify(keys: &[ed25519_dalek::VerifyingKey], entries: &[SignedEntry], threads: usize) {
    let verify = |range: std::ops::Range<usize>| {
        range
            .filter(|&i| {
                keys[i]
                    .verify_strict(&entries[i].bytes, &Signature::from_bytes(&entries[i].sig))
                    .is_ok()
            })
            .count()
    };
    let per = entries.len().div_ceil(threads);
    let ok: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|c| {
                let range = c * per..((c + 1) * per).min(entries.len());
                s.spawn(move || verify(range))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("join")).sum()
    });
    assert_eq!(ok, entries.len());
}

fn run(
    c: &mut Criterion,
    figures: &Figures,
    rt: &tokio::runtime::Runtime,
    backend: &str,
    url: String,
    total: usize,
) {
    let storage = rt.block_on(storage::open(&url)).expect("storage");
    let (private, _) = LogSigner::generate_key("roadside.local/log");
    let signer = Arc::new(LogSigner::new("roadside.local/log", &private).expect("signer"));
    let start = Instant::now();
    let reference = rt.block_on(build(&storage, &signer, total));
    eprintln!(
        "{backend}: {total} entries built in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    let keys = device_keys(&reference);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let subject = format!("{backend}: audit of {total} entries");
    let single = format!("{backend}: reference: verify_strict of {REFERENCE}, 1 thread");
    let all = format!("{backend}: reference: verify_strict of {REFERENCE}, every core");
    let mut last = None;
    let mut g = c.benchmark_group(format!("audit-{backend}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements(REFERENCE as u64));
    figures.bench(&mut g, &single, || raw_verify(&keys, &reference, 1));
    figures.bench(&mut g, &all, || raw_verify(&keys, &reference, cores));
    g.throughput(Throughput::Elements(total as u64));
    figures.bench(&mut g, &subject, || {
        let report = rt
            .block_on(audit::run(
                &storage,
                signer.verifier_key(),
                audit::Options::default(),
            ))
            .expect("audit");
        assert!(report.clean, "{:#?}", report.findings);
        assert_eq!(report.entries as usize, total);
        last = Some(report);
    });
    g.finish();
    println!("== {backend}");
    if let Some(report) = last {
        println!(
            "audit of {total} entries ({} cases, {} records, {} evidence): {:.1} s, {:.0} entries/s (the last)",
            report.cases,
            report.records,
            report.evidence,
            report.seconds,
            report.entries_per_second()
        );
    }
    figures.print(&[&subject, &single, &all]);
    // Audit entries/s over raw verification entries/s, at the median.
    let rate = |id: &str, n: usize| {
        figures
            .quantile(id, 0.5)
            .map(|d| n as f64 / d.as_secs_f64())
    };
    let ratio = |reference: &str| Some(rate(&subject, total)? / rate(reference, REFERENCE)?);
    print_ratio("audit rate to verify_strict on 1 thread", ratio(&single));
    print_ratio("audit rate to verify_strict on every core", ratio(&all));
}

fn main() {
    let total: usize = std::env::var("ROADSIDE_AUDIT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut c = configured();
    let figures = Figures::new();
    println!(
        "audit: {total} signed entries of {DEVICES} devices, every entry re-hashed and its signature re-verified, the tree recomputed, every materialised row compared; {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("roadside.sqlite3").display().to_string();
    run(&mut c, &figures, &rt, "SQLite", path, total);
    if let Some(url) = pg_admin_url() {
        let db = rt.block_on(fresh_pg_database(&url));
        run(&mut c, &figures, &rt, "PostgreSQL", db, total);
    }
    c.final_summary();
}
