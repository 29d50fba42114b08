//! One half of the store compatibility check between the core's builds: the desktop build (system
//! libcrypto) and the mobile build (feature `mobile`: OpenSSL vendored, or CommonCrypto on Apple
//! targets). The example is built once per configuration; scripts/test-arm64.sh writes a store with one
//! build and checks and extends it with the other, both ways. The encrypted file format and the key
//! handling must be the same, so a store survives a phone's data being read by the desktop tools and
//! the other way round.
//!
//! ```text
//! store_compat write DIR    new store in DIR: roster, a case with an amendment, evidence, finalized
//! store_compat check DIR    open the store another build wrote: wrong key refused, every page's HMAC,
//!                           integrity and the ledger verified, the entries the writer made unchanged;
//!                           then one more finalized case written, and all checked again after reopening
//! ```
//!
//! Each run prints one JSON line naming the build (architecture, configuration) and the crypto
//! SQLCipher runs on (`PRAGMA cipher_provider`, `cipher_provider_version`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use roadside_core::demo;
use roadside_core::model::EvidenceKind;
use roadside_core::store::{Durability, EvidenceMeta, Store};

/// The store key of the check (a real device's key comes from the platform's keystore).
const KEY: [u8; 32] = [0x5a; 32];
/// What the writer records beside the store for the reader to compare.
const WRITTEN: &str = "written-by.json";

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, dir] if cmd == "write" => write(Path::new(dir)),
        [cmd, dir] if cmd == "check" => check(Path::new(dir)),
        _ => Err("usage: store_compat write DIR | store_compat check DIR".into()),
    };
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("store_compat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// This build: architecture, configuration and the crypto SQLCipher uses.
fn build_info() -> Result<serde_json::Value, Failure> {
    let conn = rusqlite::Connection::open_in_memory()?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(KEY)))?;
    let provider: String = conn.query_row("PRAGMA cipher_provider", [], |r| r.get(0))?;
    let version: String = conn.query_row("PRAGMA cipher_provider_version", [], |r| r.get(0))?;
    Ok(serde_json::json!({
        "arch": std::env::consts::ARCH,
        "configuration": if cfg!(feature = "mobile") { "mobile" } else { "desktop" },
        "cipher_provider": provider,
        "cipher_provider_version": version,
    }))
}

/// A finalized case: record, amendment, a 1.5 MiB video (two evidence chunks), finalize.
fn finalized_case(store: &Store, dir: &Path, tag: &str) -> Result<String, Failure> {
    let record = demo::on_site_record(Utc::now() - chrono::Duration::hours(1));
    let case = store.create_case(&record)?;
    let detail = store.case_detail(&case.id)?;
    let record_id = detail
        .records
        .first()
        .ok_or("a new case has no record")?
        .record_id
        .clone();
    let mut amended = record;
    amended.remarks = Some(format!("当事人主动卸载（{tag}）"));
    store.amend_record(&case.id, &record_id, &amended)?;

    let clip: PathBuf = dir.join(format!("clip-{tag}.mp4"));
    let bytes: Vec<u8> = (0..3u32 << 19).map(|i| (i % 251) as u8).collect();
    std::fs::File::create(&clip)?.write_all(&bytes)?;
    let ev = store.attach_evidence(
        &case.id,
        &clip,
        EvidenceKind::Video,
        &EvidenceMeta::default(),
    )?;
    if ev.chunk_count != 2 {
        return Err(format!("evidence of 1.5 MiB has {} chunks, not 2", ev.chunk_count).into());
    }
    store.finalize_case(&case.id)?;
    Ok(case.id)
}

/// Every check of the whole store passes.
fn check_whole(store: &Store) -> Result<u64, Failure> {
    let report = store.check()?;
    if !report.ok {
        return Err(format!("store check failed: {report:?}").into());
    }
    Ok(report.verify.entries)
}

fn write(dir: &Path) -> Result<serde_json::Value, Failure> {
    if dir.join(WRITTEN).exists() {
        return Err(format!("{} already holds a store", dir.display()).into());
    }
    let info = build_info()?;
    let store = Store::open(dir, &KEY, Durability::Full)?;
    store.import_roster(&demo::roster())?;
    let case = finalized_case(&store, dir, "writer")?;
    let entries = check_whole(&store)?;
    let hashes: Vec<String> = store.export_ledger()?.into_iter().map(|e| e.hash).collect();
    let written = serde_json::json!({
        "by": info,
        "device": store.device_id(),
        "case": case,
        "entries": hashes,
    });
    drop(store);
    std::fs::write(dir.join(WRITTEN), serde_json::to_vec_pretty(&written)?)?;
    Ok(serde_json::json!({ "wrote": dir, "entries": entries, "build": info }))
}

fn check(dir: &Path) -> Result<serde_json::Value, Failure> {
    let info = build_info()?;
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(WRITTEN))?)?;
    let expected: Vec<&str> = written["entries"]
        .as_array()
        .ok_or("written-by.json has no entries")?
        .iter()
        .filter_map(|h| h.as_str())
        .collect();

    // The key handling is the same: another key is refused as a wrong key, not as damage.
    match Store::open(dir, &[0x11; 32], Durability::Full) {
        Ok(_) => return Err("the store opened with a wrong key".into()),
        Err(e) if e.code() == "STORE_WRONG_KEY" => {}
        Err(e) => {
            return Err(format!("a wrong key gave {} ({e}), not STORE_WRONG_KEY", e.code()).into())
        }
    }

    let store = Store::open(dir, &KEY, Durability::Full)?;
    if store.device_id() != written["device"].as_str().unwrap_or_default() {
        return Err("the device key read back differs from the one the writer created".into());
    }
    check_whole(&store)?;
    let found: Vec<String> = store.export_ledger()?.into_iter().map(|e| e.hash).collect();
    if found != expected {
        return Err(format!("ledger read back differs: wrote {expected:?}, read {found:?}").into());
    }

    // This build writes into the other's store, and the result checks after reopening.
    finalized_case(&store, dir, "reader")?;
    drop(store);
    let store = Store::open(dir, &KEY, Durability::Full)?;
    let entries = check_whole(&store)?;
    if entries != 2 * expected.len() as u64 {
        return Err(format!(
            "after one more case the ledger has {entries} entries, not {}",
            2 * expected.len()
        )
        .into());
    }
    Ok(serde_json::json!({
        "checked": dir,
        "written_by": written["by"],
        "entries": entries,
        "build": info,
    }))
}
