//! `roadside package export` (the evidence package of a case, from this device's store) and
//! `roadside verify` (check a package offline; format and checks: `roadside_verify::package`).

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use roadside_core::store::Store;
use roadside_core::RoadsideError;
use roadside_verify::package::{self as format, PackageWriter};
use serde_json::{json, Value};

/// Write the package of `case` to `out` (through a temporary file beside it, renamed when
/// complete, so `out` is never a half-written package).
pub fn export(store: &Store, case: &str, out: &Path) -> Result<Value, RoadsideError> {
    let config = store.sync_config()?.ok_or_else(|| {
        RoadsideError::store(
            "PACKAGE_NOT_ENROLLED",
            "本设备尚未登记到服务器：没有透明日志的公钥和回执，无法制作可核验的证据包",
        )
    })?;
    let detail = store.case_detail(case)?;
    let tmp = out.with_extension("zip.part");
    let file = fs::File::create(&tmp).map_err(|e| io_err("PACKAGE_WRITE", &tmp, e))?;
    let written = write(store, case, &config, &detail, BufWriter::new(file));
    let summary = match written {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    fs::rename(&tmp, out).map_err(|e| io_err("PACKAGE_WRITE", out, e))?;
    Ok(json!({
        "out": out,
        "case": case,
        "entries": summary.entries,
        "media": summary.media,
        "unlogged": summary.unlogged,
        "missing_media": summary.missing_media,
    }))
}

struct Written {
    entries: usize,
    media: usize,
    /// Entries without a receipt yet (not synced): the package will not verify until they are.
    unlogged: Vec<u64>,
    missing_media: Vec<String>,
}

fn write(
    store: &Store,
    case: &str,
    config: &roadside_core::store::sync::SyncConfig,
    detail: &roadside_core::store::CaseDetail,
    out: BufWriter<fs::File>,
) -> Result<Written, RoadsideError> {
    let werr =
        |e: std::io::Error| RoadsideError::store("PACKAGE_WRITE", format!("写入证据包失败：{e}"));
    let mut w = PackageWriter::new(out, case, &config.log_origin);
    w.add(
        format::LOG_KEY,
        format!("{}\n", config.log_verifier_key).as_bytes(),
    )
    .map_err(werr)?;
    if let Some(key) = &config.bundle_key {
        let bytes = roadside_verify::canonical::to_canonical_vec(&format::AgencyKey {
            agency: config.agency.clone(),
            public_key: key.clone(),
        })
        .map_err(|e| RoadsideError::store("PACKAGE_WRITE", e))?;
        w.add(format::AGENCY_KEY, &bytes).map_err(werr)?;
    } else {
        w.note("服务器在登记时没有给出执法单位的公钥，证据包中缺少单位公钥");
    }
    let mut written = Written {
        entries: 0,
        media: 0,
        unlogged: Vec::new(),
        missing_media: Vec::new(),
    };
    let mut checkpoints = std::collections::BTreeMap::new();
    for entry in store.export_ledger()? {
        let value: Value = serde_json::from_str(&entry.bytes).unwrap_or_default();
        if value.get("case").and_then(Value::as_str) != Some(case) {
            continue;
        }
        let sig = hex::decode(&entry.sig)
            .map_err(|_| RoadsideError::store("PACKAGE_WRITE", "账本中的签名不是十六进制"))?;
        w.add(&format::entry_path(&entry.hash), entry.bytes.as_bytes())
            .map_err(werr)?;
        w.add(
            &format::entry_sig_path(&entry.hash),
            &format::sig_bytes(&sig),
        )
        .map_err(werr)?;
        written.entries += 1;
        match store.receipt(entry.seq)? {
            Some(r) => {
                let proof: Vec<[u8; 32]> = r
                    .inclusion_proof
                    .iter()
                    .map(|h| {
                        let mut b = [0u8; 32];
                        hex::decode_to_slice(h, &mut b).map(|_| b)
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        RoadsideError::store("PACKAGE_WRITE", "回执中的哈希不是十六进制")
                    })?;
                let bytes = format::receipt_bytes(r.leaf_index, r.tree_size, &proof)
                    .map_err(|e| RoadsideError::store("PACKAGE_WRITE", e))?;
                w.add(&format::receipt_path(&entry.hash), &bytes)
                    .map_err(werr)?;
                checkpoints.entry(r.tree_size).or_insert(r.checkpoint);
            }
            None => {
                written.unlogged.push(entry.seq);
                w.note(format!(
                    "第 {} 条记录尚未同步到服务器，没有透明日志回执",
                    entry.seq
                ));
            }
        }
    }
    for (size, note) in checkpoints {
        w.add(&format::checkpoint_path(size), note.as_bytes())
            .map_err(werr)?;
    }
    for ev in &detail.evidence {
        let path = format::media_path(&ev.sha256, &ev.path);
        if w.has(&path) {
            continue;
        }
        let src = PathBuf::from(&ev.path);
        let mut file = match fs::File::open(&src) {
            Ok(f) => f,
            Err(_) => {
                written.missing_media.push(ev.path.clone());
                w.note(format!(
                    "证据文件 {}（{}）已不在本设备上，未包含在本证据包中",
                    ev.sha256, ev.path
                ));
                continue;
            }
        };
        let mut sink = w.start(&path, ev.size).map_err(werr)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| io_err("PACKAGE_READ", &src, e))?;
            if n == 0 {
                break;
            }
            sink.write_all(&buf[..n]).map_err(werr)?;
        }
        sink.finish();
        written.media += 1;
    }
    let mut out = w.finish().map_err(werr)?;
    out.flush().map_err(werr)?;
    out.get_ref().sync_all().map_err(werr)?;
    Ok(written)
}

/// Verify the package at `path` with no network; the report as text (or JSON when `json`). A
/// package that fails any check prints the report and fails with `PACKAGE_INVALID`, naming the
/// first failed file and check.
pub fn verify(
    path: &Path,
    json: bool,
    log_key: Option<&str>,
) -> Result<Option<Value>, RoadsideError> {
    let file = fs::File::open(path).map_err(|e| io_err("PACKAGE_READ", path, e))?;
    let report = roadside_verify::package::verify(std::io::BufReader::new(file), log_key);
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", json!(report));
    } else {
        let _ = write!(out, "{}", report.to_text(false));
    }
    let _ = out.flush();
    let failed = report.failures().count();
    let first = report.failures().next().map(|c| {
        RoadsideError::ledger(
            "PACKAGE_INVALID",
            format!(
                "证据包未通过核验：{} 的 {} 检查失败：{}（共 {failed} 项失败）",
                c.file, c.check, c.message
            ),
        )
    });
    match first {
        None => Ok(None),
        Some(e) => Err(e),
    }
}

fn io_err(code: &str, path: &Path, e: std::io::Error) -> RoadsideError {
    RoadsideError::store(code, format!("{}：{e}", path.display()))
}
