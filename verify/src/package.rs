//! The evidence package: one zip file holding everything needed to check a case offline.
//!
//! # Layout (format `roadside-evidence-package/1`)
//!
//! | file                         | what it is |
//! |------------------------------|------------|
//! | `manifest.json`              | RFC 8785 canonical JSON: `format`, `case`, `origin` (the log), and `files`: every other file's `path`, `sha256` and `size`, sorted by path |
//! | `index.html`                 | a page in Chinese saying what each file is |
//! | `keys/log.txt`               | the transparency log's verifier key (C2SP note key `<origin>+<id>+<base64>`) |
//! | `keys/agency.json`           | canonical JSON `{"agency": …, "public_key": <64 hex>}`: the agency's Ed25519 key, which signs key history |
//! | `entries/<hash>.json`        | a ledger entry's exact signed bytes (`<hash>`: their SHA-256, hex) |
//! | `entries/<hash>.sig`         | its Ed25519 signature, 128 hex digits |
//! | `history/<hash>.json`, `.sig`| a key history statement ([`crate::history`]) and the agency's signature |
//! | `receipts/<hash>.json`       | canonical JSON `{"inclusion_proof": [base64…], "leaf_index": n, "tree_size": n}`: the entry's or statement's place in the log |
//! | `checkpoints/<size>.txt`     | the log's signed checkpoint of that size, exactly as the log serves it (witness cosignatures included) |
//! | `media/<sha256>[.ext]`       | an evidence file (photo, video, audio) named by an `evidence.add` entry |
//! | `documents/<sha256>.pdf`     | a rendered document (文书) named by a `document.issue` entry |
//!
//! # Checks (their names in the report)
//!
//! `package.read`, `manifest.format`, `file.listed` (a file the manifest does not list),
//! `file.present` (a listed file missing), `file.sha256` (hash and size against the manifest),
//! `keys.log`, `keys.agency`, `checkpoint.signature` (by the log key; other signature lines are
//! skipped), `checkpoint.origin`, `checkpoint.size` (the file's name), `entry.signature`
//! (hash, canonical bytes, device key, signature), `entry.case`, `chain.link` (consecutive entries
//! of a device: `prev` is the hash before, no seq twice), `receipt.inclusion` (present,
//! well-formed, its checkpoint present and verified, the proof leads to its root),
//! `history.signature`, `key.enrolment` (the signing key was enrolled by the agency, in the log,
//! before the entry was signed or logged, and not revoked before the entry was logged),
//! `media.sha256` (the file's SHA-256 and size are those its entry signed), `media.chunks` (the
//! chunk manifest's digest and count), `media.declared` (a media file no entry names),
//! `document.sha256`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Seek, Write};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::chunks::{ChunkHasher, Chunked};
use crate::report::{Report, Summary};
use crate::{canonical, entry, history, log};

/// The format name in `manifest.json`.
pub const FORMAT: &str = "roadside-evidence-package/1";
/// The manifest's path.
pub const MANIFEST: &str = "manifest.json";
/// The human-readable index's path.
pub const INDEX: &str = "index.html";
/// The log key's path.
pub const LOG_KEY: &str = "keys/log.txt";
/// The agency key's path.
pub const AGENCY_KEY: &str = "keys/agency.json";

/// Small files (entries, receipts, checkpoints, keys) larger than this are refused unread.
const SMALL_MAX: u64 = 16 << 20;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub case: String,
    pub origin: String,
    pub files: Vec<ManifestFile>,
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `keys/agency.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyKey {
    pub agency: String,
    pub public_key: String,
}

/// `receipts/<hash>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageReceipt {
    pub inclusion_proof: Vec<String>,
    pub leaf_index: u64,
    pub tree_size: u64,
}

/// The path of an entry's bytes.
pub fn entry_path(hash_hex: &str) -> String {
    format!("entries/{hash_hex}.json")
}
/// The path of an entry's signature.
pub fn entry_sig_path(hash_hex: &str) -> String {
    format!("entries/{hash_hex}.sig")
}
/// The path of a key history statement.
pub fn history_path(hash_hex: &str) -> String {
    format!("history/{hash_hex}.json")
}
/// The path of a key history statement's signature.
pub fn history_sig_path(hash_hex: &str) -> String {
    format!("history/{hash_hex}.sig")
}
/// The path of the receipt of an entry or statement.
pub fn receipt_path(hash_hex: &str) -> String {
    format!("receipts/{hash_hex}.json")
}
/// The path of a checkpoint.
pub fn checkpoint_path(size: u64) -> String {
    format!("checkpoints/{size}.txt")
}
/// The path of an evidence file: its SHA-256 and the extension of its recorded file name (letters
/// and digits only, at most 8), so a person's player opens it.
pub fn media_path(sha256_hex: &str, file_name: &str) -> String {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()));
    match ext {
        Some(e) => format!("media/{sha256_hex}.{e}"),
        None => format!("media/{sha256_hex}"),
    }
}
/// The path of a rendered document.
pub fn document_path(sha256_hex: &str) -> String {
    format!("documents/{sha256_hex}.pdf")
}

/// The receipt file's bytes for an inclusion proof.
pub fn receipt_bytes(
    leaf_index: u64,
    tree_size: u64,
    proof: &[[u8; 32]],
) -> Result<Vec<u8>, String> {
    canonical::to_canonical_vec(&PackageReceipt {
        inclusion_proof: proof
            .iter()
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
            .collect(),
        leaf_index,
        tree_size,
    })
}

/// What a file of the package is, for `index.html`.
fn describe(path: &str) -> &'static str {
    match path {
        LOG_KEY => "透明日志的公钥：用来核验检查点的签名（请与透明日志公开发布的公钥核对）",
        AGENCY_KEY => "执法单位的公钥：用来核验密钥历史（设备登记与注销）的签名（请与执法单位公开发布的公钥核对）",
        _ if path.starts_with("entries/") && path.ends_with(".sig") => "上一条记录的数字签名（Ed25519，由执法记录设备的密钥签署）",
        _ if path.starts_with("entries/") => "执法记录原文：设备签署的原始字节（规范 JSON），文件名是其 SHA-256 哈希值",
        _ if path.starts_with("history/") && path.ends_with(".sig") => "上一条密钥历史的数字签名（由执法单位的密钥签署）",
        _ if path.starts_with("history/") => "密钥历史：执法单位登记或注销某台设备签名密钥的声明，已写入透明日志",
        _ if path.starts_with("receipts/") => "回执：同名记录在透明日志中的位置及其包含证明",
        _ if path.starts_with("checkpoints/") => "透明日志检查点：日志在该大小时的根哈希，由日志签名（可附见证人联署）",
        _ if path.starts_with("media/") => "证据文件（照片、录像或录音）原件，文件名是其 SHA-256 哈希值",
        _ if path.starts_with("documents/") => "执法文书（PDF）原件，文件名是其 SHA-256 哈希值",
        _ => "其他文件",
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes a package: files in any order, then [`PackageWriter::finish`] adds `index.html` and
/// `manifest.json`. Writes forward only (a stream: an HTTP body, a pipe, a file), never holding a
/// file whole; what each file's hash is, it computes from the bytes it writes.
pub struct PackageWriter<W: Write> {
    zip: zip::ZipWriter<zip::write::StreamWriter<W>>,
    case: String,
    origin: String,
    files: BTreeMap<String, (String, u64)>,
    /// Extra lines for `index.html` (the case's entries, what was left out and why).
    notes: Vec<String>,
}

/// A file being written into a package: hashes what passes through.
pub struct FileSink<'a, W: Write> {
    writer: &'a mut PackageWriter<W>,
    path: String,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for FileSink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.writer.zip.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.zip.flush()
    }
}

impl<W: Write> FileSink<'_, W> {
    /// The file is complete.
    pub fn finish(self) {
        let sha = hex::encode(self.hash.finalize());
        self.writer.files.insert(self.path, (sha, self.size));
    }
}

fn zip_error(e: zip::result::ZipError) -> std::io::Error {
    std::io::Error::other(e)
}

impl<W: Write> PackageWriter<W> {
    /// A package of `case` from the log `origin`, written to `out`.
    pub fn new(out: W, case: &str, origin: &str) -> Self {
        PackageWriter {
            zip: zip::ZipWriter::new_stream(out),
            case: case.to_string(),
            origin: origin.to_string(),
            files: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    /// Whether `path` was already written.
    pub fn has(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// Add a line to `index.html` (escaped).
    pub fn note(&mut self, line: impl Into<String>) {
        self.notes.push(line.into());
    }

    /// Start a file. Media and documents are stored as they are (already compressed); text is
    /// deflated. `size_hint` above 4 GiB switches the member to ZIP64.
    pub fn start(&mut self, path: &str, size_hint: u64) -> std::io::Result<FileSink<'_, W>> {
        if path == MANIFEST || path == INDEX {
            return Err(std::io::Error::other(format!("{path} 由证据包自己生成")));
        }
        self.start_file(path, size_hint)
    }

    fn start_file(&mut self, path: &str, size_hint: u64) -> std::io::Result<FileSink<'_, W>> {
        if self.files.contains_key(path) {
            return Err(std::io::Error::other(format!("证据包中重复的文件 {path}")));
        }
        let method = if path.starts_with("media/") || path.starts_with("documents/") {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(method)
            .large_file(size_hint >= u64::from(u32::MAX))
            .unix_permissions(0o644);
        self.zip.start_file(path, options).map_err(zip_error)?;
        Ok(FileSink {
            writer: self,
            path: path.to_string(),
            hash: Sha256::new(),
            size: 0,
        })
    }

    /// Add a whole file.
    pub fn add(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let mut sink = self.start(path, bytes.len() as u64)?;
        sink.write_all(bytes)?;
        sink.finish();
        Ok(())
    }

    fn index_html(&self) -> String {
        let mut rows = String::new();
        for (path, (sha, size)) in &self.files {
            rows.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{size}</td><td><code>{sha}</code></td></tr>\n",
                html_escape(path),
                describe(path),
            ));
        }
        let notes: String = self
            .notes
            .iter()
            .map(|n| format!("<li>{}</li>\n", html_escape(n)))
            .collect();
        format!(
            "<!doctype html>\n<html lang=\"zh-CN\">\n<head><meta charset=\"utf-8\"><title>证据包 {case}</title></head>\n<body>\n\
             <h1>执法案件证据包</h1>\n\
             <p>案件编号：<code>{case}</code>；透明日志：<code>{origin}</code>。</p>\n\
             <p>本证据包包含该案件的全部执法记录原文及签名、证据文件和文书原件、透明日志的回执和检查点、\
             设备密钥的登记历史，以及核验所需的公钥。任何人都可以不联网、不依赖执法单位的服务器核验：\
             运行 <code>roadside verify 本文件.zip</code>，或用任何实现了 SHA-256、Ed25519、RFC 8785 和 RFC 6962 的工具自行核验。\
             manifest.json 列出了除它本身以外每个文件的 SHA-256 和大小。</p>\n\
             <ul>\n{notes}</ul>\n\
             <table border=\"1\" cellpadding=\"4\">\n<tr><th>文件</th><th>是什么</th><th>字节数</th><th>SHA-256</th></tr>\n{rows}</table>\n\
             </body>\n</html>\n",
            case = html_escape(&self.case),
            origin = html_escape(&self.origin),
        )
    }

    /// Write `index.html` and `manifest.json` and finish the zip; the output back.
    pub fn finish(mut self) -> std::io::Result<W> {
        let index = self.index_html();
        let mut sink = self.start_file(INDEX, index.len() as u64)?;
        sink.write_all(index.as_bytes())?;
        sink.finish();
        let manifest = Manifest {
            format: FORMAT.to_string(),
            case: self.case.clone(),
            origin: self.origin.clone(),
            files: self
                .files
                .iter()
                .map(|(path, (sha256, size))| ManifestFile {
                    path: path.clone(),
                    sha256: sha256.clone(),
                    size: *size,
                })
                .collect(),
        };
        let bytes = canonical::to_canonical_vec(&manifest).map_err(std::io::Error::other)?;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o644);
        self.zip.start_file(MANIFEST, options).map_err(zip_error)?;
        self.zip.write_all(&bytes)?;
        Ok(self.zip.finish().map_err(zip_error)?.into_inner())
    }
}

/// What reading one file gave.
struct Read_ {
    sha256: [u8; 32],
    size: u64,
    /// The bytes of a small file (not media or documents).
    bytes: Option<Vec<u8>>,
    /// The chunk manifest of a media file.
    chunked: Option<Chunked>,
}

fn is_streamed(path: &str) -> bool {
    path.starts_with("media/") || path.starts_with("documents/")
}

/// Read one member: hash it (and chunk it, for media), keeping small files' bytes.
fn read_member<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, path: &str) -> Result<Read_, String> {
    let mut file = zip.by_name(path).map_err(|e| format!("无法读取：{e}"))?;
    let streamed = is_streamed(path);
    if !streamed && file.size() > SMALL_MAX {
        return Err(format!(
            "文件过大（{} 字节），不是本格式的文件",
            file.size()
        ));
    }
    let mut whole = Sha256::new();
    let mut chunker = path.starts_with("media/").then(ChunkHasher::new);
    let mut kept = (!streamed).then(Vec::new);
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("读取失败（压缩数据损坏或校验和不符）：{e}"))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        match (&mut chunker, &mut kept) {
            (Some(c), _) => c.update(&buf[..n]),
            (None, Some(k)) => {
                if size > SMALL_MAX {
                    return Err("文件过大，不是本格式的文件".into());
                }
                whole.update(&buf[..n]);
                k.extend_from_slice(&buf[..n]);
            }
            (None, None) => whole.update(&buf[..n]),
        }
    }
    let chunked = chunker.map(ChunkHasher::finish);
    let sha256 = match &chunked {
        Some(c) => c.sha256,
        None => whole.finalize().into(),
    };
    Ok(Read_ {
        sha256,
        size,
        bytes: kept,
        chunked,
    })
}

/// An authentic logged item (an entry or a key history statement) and where it sits in the log.
struct Logged {
    leaf_index: Option<u64>,
}

/// Verify a package read from `source` (a file, or bytes in memory through `std::io::Cursor`).
/// Every check runs (a failure does not hide the others); `trusted_log_key`, when given, is the
/// log verifier key the caller obtained independently, and the package's own must be it.
pub fn verify<R: Read + Seek>(source: R, trusted_log_key: Option<&str>) -> Report {
    let mut report = Report::default();
    let Ok(mut zip) = zip::ZipArchive::new(source).map_err(|e| {
        report.fail(
            "(package)",
            "package.read",
            format!("不是可读取的 zip 证据包：{e}"),
        )
    }) else {
        report.ok = false;
        return report;
    };
    report.pass(
        "(package)",
        "package.read",
        format!("zip 文件，共 {} 个文件", zip.len()),
    );
    verify_zip(&mut zip, trusted_log_key, &mut report);
    report.ok = !report.checks.is_empty() && report.checks.iter().all(|c| c.ok);
    report
}

fn verify_zip<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    trusted_log_key: Option<&str>,
    report: &mut Report,
) {
    // The manifest.
    let manifest = read_member(zip, MANIFEST).and_then(|r| {
        let bytes = r.bytes.unwrap_or_default();
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| format!("清单格式错误：{e}"))?;
        if !canonical::is_canonical(&bytes) {
            return Err("清单不是 RFC 8785 规范 JSON 编码，已被改动".into());
        }
        if m.format != FORMAT {
            return Err(format!("无法识别的证据包格式 {}", m.format));
        }
        let sorted = m.files.windows(2).all(|w| w[0].path < w[1].path);
        if !sorted {
            return Err("清单中的文件未按路径排序或有重复".into());
        }
        Ok(m)
    });
    let manifest = match manifest {
        Ok(m) => {
            report.pass(
                MANIFEST,
                "manifest.format",
                format!("格式 {FORMAT}，列出 {} 个文件", m.files.len()),
            );
            m
        }
        Err(e) => {
            report.fail(MANIFEST, "manifest.format", e);
            return;
        }
    };
    report.summary = Summary {
        case: Some(manifest.case.clone()),
        origin: Some(manifest.origin.clone()),
        ..Summary::default()
    };

    // Every member listed, every listed file present with its hash and size.
    let listed: BTreeMap<&str, &ManifestFile> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    let mut names: Vec<String> = Vec::new();
    for name in zip.file_names() {
        match name {
            Ok(n) => names.push(n.into_owned()),
            Err(e) => report.fail("(package)", "file.listed", format!("无法读取的文件名：{e}")),
        }
    }
    for name in &names {
        if name != MANIFEST && !listed.contains_key(name.as_str()) {
            report.fail(
                name,
                "file.listed",
                "清单中没有这个文件：它不是证据包原有的文件",
            );
        }
    }
    let present: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut files: HashMap<String, Read_> = HashMap::new();
    for f in &manifest.files {
        if !present.contains(f.path.as_str()) {
            report.fail(&f.path, "file.present", "清单列出的文件在证据包中缺失");
            continue;
        }
        match read_member(zip, &f.path) {
            Ok(r) => {
                let got = hex::encode(r.sha256);
                if got == f.sha256 && r.size == f.size {
                    report.pass(
                        &f.path,
                        "file.sha256",
                        format!("SHA-256 {got}，{} 字节，与清单一致", r.size),
                    );
                } else {
                    report.fail(
                        &f.path,
                        "file.sha256",
                        format!(
                            "文件已被改动：SHA-256 为 {got}（{} 字节），清单记载为 {}（{} 字节）",
                            r.size, f.sha256, f.size
                        ),
                    );
                }
                files.insert(f.path.clone(), r);
            }
            Err(e) => report.fail(&f.path, "file.sha256", e),
        }
    }
    let bytes_of = |path: &str| files.get(path).and_then(|r| r.bytes.as_deref());

    // Keys.
    let log_key = bytes_of(LOG_KEY)
        .ok_or_else(|| "证据包中没有透明日志的公钥".to_string())
        .and_then(|b| {
            let key = std::str::from_utf8(b)
                .map_err(|_| "日志公钥不是 UTF-8 文本".to_string())?
                .strip_suffix('\n')
                .ok_or_else(|| "日志公钥文件应以换行结束".to_string())?;
            signed_note::StandardVerifier::new(key).map_err(|e| format!("日志公钥无效：{e:?}"))?;
            let name = key.split('+').next().unwrap_or_default();
            if name != manifest.origin {
                return Err(format!(
                    "日志公钥属于 {name}，而清单记载的日志是 {}",
                    manifest.origin
                ));
            }
            if trusted_log_key.is_some_and(|t| t != key) {
                return Err("证据包中的日志公钥与指定信任的日志公钥不同".into());
            }
            Ok(key.to_string())
        });
    let log_key = match log_key {
        Ok(k) => {
            report.pass(
                LOG_KEY,
                "keys.log",
                format!("日志 {} 的公钥 {k}", manifest.origin),
            );
            report.summary.log_key = Some(k.clone());
            Some(k)
        }
        Err(e) => {
            report.fail(LOG_KEY, "keys.log", e);
            None
        }
    };
    let agency = bytes_of(AGENCY_KEY)
        .ok_or_else(|| "证据包中没有执法单位的公钥".to_string())
        .and_then(|b| {
            let a: AgencyKey =
                serde_json::from_slice(b).map_err(|e| format!("单位公钥文件格式错误：{e}"))?;
            if !canonical::is_canonical(b) {
                return Err("单位公钥文件不是 RFC 8785 规范 JSON 编码".into());
            }
            let key = entry::decode_key(&a.public_key, "字段 public_key")?;
            Ok((a, key))
        });
    let agency = match agency {
        Ok((a, key)) => {
            report.pass(
                AGENCY_KEY,
                "keys.agency",
                format!("单位 {} 的公钥 {}", a.agency, a.public_key),
            );
            report.summary.agency = Some(a.agency.clone());
            report.summary.agency_key = Some(a.public_key.clone());
            Some((a, key))
        }
        Err(e) => {
            report.fail(AGENCY_KEY, "keys.agency", e);
            None
        }
    };

    // Checkpoints.
    let mut checkpoints: HashMap<u64, Option<log::Checkpoint>> = HashMap::new();
    for f in manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("checkpoints/"))
    {
        let Some(bytes) = bytes_of(&f.path) else {
            continue;
        };
        let named = f
            .path
            .strip_prefix("checkpoints/")
            .and_then(|s| s.strip_suffix(".txt"))
            .and_then(|s| s.parse::<u64>().ok());
        let Some(named) = named else {
            report.fail(
                &f.path,
                "checkpoint.size",
                "检查点文件名应为 checkpoints/<大小>.txt",
            );
            continue;
        };
        let Some(key) = &log_key else {
            report.fail(
                &f.path,
                "checkpoint.signature",
                "没有可用的日志公钥，无法核验",
            );
            checkpoints.insert(named, None);
            continue;
        };
        let cp = match log::checkpoint(bytes, key) {
            Ok(cp) => {
                report.pass(&f.path, "checkpoint.signature", "日志签名有效");
                cp
            }
            Err(e) => {
                report.fail(&f.path, "checkpoint.signature", e.message);
                checkpoints.insert(named, None);
                continue;
            }
        };
        let origin_ok = report.record(
            &f.path,
            "checkpoint.origin",
            if cp.origin == manifest.origin {
                Ok(format!("来自日志 {}", cp.origin))
            } else {
                Err(format!(
                    "检查点来自日志 {}，而不是 {}",
                    cp.origin, manifest.origin
                ))
            },
        );
        let size_ok = report.record(
            &f.path,
            "checkpoint.size",
            if cp.size == named {
                Ok(format!("大小 {}", cp.size))
            } else {
                Err(format!(
                    "检查点的大小是 {}，与文件名 {named} 不符（另一个检查点被换入）",
                    cp.size
                ))
            },
        );
        checkpoints.insert(named, (origin_ok && size_ok).then_some(cp));
    }
    report.summary.checkpoints = checkpoints.len();
    report.summary.newest_checkpoint = checkpoints.values().flatten().map(|c| c.size).max();

    // Receipts: an item's place in the log, proven against its checkpoint.
    let prove = |report: &mut Report, hash: &[u8; 32]| -> Logged {
        let h = hex::encode(hash);
        let path = receipt_path(&h);
        let outcome = (|| {
            let bytes = bytes_of(&path).ok_or_else(|| "证据包中没有它的回执".to_string())?;
            let r: PackageReceipt =
                serde_json::from_slice(bytes).map_err(|e| format!("回执格式错误：{e}"))?;
            if !canonical::is_canonical(bytes) {
                return Err("回执不是 RFC 8785 规范 JSON 编码".into());
            }
            let proof: Vec<[u8; 32]> = r
                .inclusion_proof
                .iter()
                .map(|s| {
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                })
                .collect::<Option<_>>()
                .ok_or_else(|| "回执的包含证明中有无效的哈希".to_string())?;
            let cp = match checkpoints.get(&r.tree_size) {
                None => {
                    return Err(format!(
                        "证据包中没有回执所指的大小为 {} 的检查点",
                        r.tree_size
                    ))
                }
                Some(None) => {
                    return Err(format!(
                        "回执所指的大小为 {} 的检查点未通过核验",
                        r.tree_size
                    ))
                }
                Some(Some(cp)) => cp,
            };
            log::inclusion(&proof, cp.size, &cp.root, r.leaf_index, hash).map_err(|e| e.message)?;
            Ok(r.leaf_index)
        })();
        match outcome {
            Ok(leaf) => {
                report.pass(
                    &path,
                    "receipt.inclusion",
                    format!("位于日志第 {leaf} 号叶子，包含证明与检查点相符"),
                );
                Logged {
                    leaf_index: Some(leaf),
                }
            }
            Err(e) => {
                report.fail(&path, "receipt.inclusion", e);
                Logged { leaf_index: None }
            }
        }
    };

    // Key history.
    let mut events: Vec<(history::KeyEvent, Logged)> = Vec::new();
    for f in manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("history/") && f.path.ends_with(".json"))
    {
        let Some(bytes) = bytes_of(&f.path) else {
            continue;
        };
        let hash = crate::sha256(bytes);
        let h = hex::encode(hash);
        if f.path != history_path(&h) {
            report.fail(
                &f.path,
                "history.signature",
                "文件名不是其内容的 SHA-256 哈希值",
            );
            continue;
        }
        let sig_path = history_sig_path(&h);
        let opened = (|| {
            let (a, key) = agency.as_ref().ok_or("没有可用的单位公钥，无法核验")?;
            let sig = bytes_of(&sig_path).ok_or("证据包中没有它的签名文件")?;
            let sig = decode_sig_hex(sig)?;
            let event = history::open(bytes, &sig, key)?;
            if event.agency != a.agency {
                return Err(format!(
                    "这是单位 {} 的密钥历史，而不是 {}",
                    event.agency, a.agency
                ));
            }
            Ok(event)
        })();
        match opened {
            Ok(event) => {
                report.pass(
                    &f.path,
                    "history.signature",
                    format!(
                        "单位签名有效：{} 设备 {}（密钥 {}，执法证号 {}），时间 {}",
                        if event.kind == history::ENROL {
                            "登记"
                        } else {
                            "注销"
                        },
                        event.device_id,
                        event.device_key,
                        event.officer,
                        event.at
                    ),
                );
                let logged = prove(report, &hash);
                events.push((event, logged));
            }
            Err(e) => report.fail(&f.path, "history.signature", e),
        }
    }
    report.summary.key_history = events.len();

    // Entries.
    let mut entries: Vec<(entry::Entry, Logged, String)> = Vec::new();
    for f in manifest
        .files
        .iter()
        .filter(|f| f.path.starts_with("entries/") && f.path.ends_with(".json"))
    {
        let Some(bytes) = bytes_of(&f.path) else {
            continue;
        };
        let named = f
            .path
            .strip_prefix("entries/")
            .and_then(|s| s.strip_suffix(".json"))
            .and_then(|s| {
                let mut h = [0u8; 32];
                (crate::is_lower_hex(s, 64) && hex::decode_to_slice(s, &mut h).is_ok()).then_some(h)
            });
        let Some(named) = named else {
            report.fail(
                &f.path,
                "entry.signature",
                "文件名应为记录的 SHA-256 哈希值",
            );
            continue;
        };
        let h = hex::encode(named);
        let opened = bytes_of(&entry_sig_path(&h))
            .ok_or_else(|| "证据包中没有它的签名文件".to_string())
            .and_then(decode_sig_hex)
            .and_then(|sig| {
                entry::open(bytes, &sig, Some(&named))
                    .map_err(|e| format!("{}（{}）", e.message, e.code))
            });
        let e = match opened {
            Ok(e) => e,
            Err(m) => {
                report.fail(&f.path, "entry.signature", m);
                continue;
            }
        };
        report.pass(
            &f.path,
            "entry.signature",
            format!(
                "设备 {} 第 {} 条记录（{}，{}）签名有效",
                e.device, e.seq, e.kind, e.at
            ),
        );
        report.record(
            &f.path,
            "entry.case",
            match &e.case {
                Some(c) if *c != manifest.case => {
                    Err(format!("这是案件 {c} 的记录，而不是 {}", manifest.case))
                }
                _ => Ok("属于本案件".into()),
            },
        );
        let logged = prove(report, &e.hash);
        entries.push((e, logged, f.path.clone()));
    }
    report.summary.entries = entries.len();

    // Chain links between consecutive entries of each device.
    let mut by_device: BTreeMap<&str, Vec<&(entry::Entry, Logged, String)>> = BTreeMap::new();
    for item in &entries {
        by_device
            .entry(item.0.device.as_str())
            .or_default()
            .push(item);
    }
    for list in by_device.values_mut() {
        list.sort_by_key(|(e, _, _)| e.seq);
        for (i, (e, _, path)) in list.iter().enumerate() {
            let before = i.checked_sub(1).map(|j| &list[j].0);
            let outcome = match before {
                Some(b) if b.seq == e.seq => Err(format!(
                    "同一设备有两条不同的第 {} 条记录（签名链分叉）",
                    e.seq
                )),
                Some(b) if b.seq + 1 == e.seq => {
                    if e.prev.as_deref() == Some(hex::encode(b.hash).as_str()) {
                        Ok(format!("prev 是第 {} 条记录的哈希", b.seq))
                    } else {
                        Err(format!("prev 不是同一设备第 {} 条记录的哈希", b.seq))
                    }
                }
                _ if e.seq == 1 => {
                    if e.prev.is_none() {
                        Ok("设备的第一条记录".into())
                    } else {
                        Err("设备的第一条记录不应有 prev".into())
                    }
                }
                _ => Ok(format!(
                    "前一条（第 {} 条）不属于本案件，未包含在证据包中；其位置由透明日志证明",
                    e.seq - 1
                )),
            };
            report.record(path, "chain.link", outcome);
        }
    }

    // The signing keys' enrolment.
    for (e, logged, path) in &entries {
        let enrolments: Vec<&(history::KeyEvent, Logged)> = events
            .iter()
            .filter(|(k, _)| k.device_key == e.device && k.kind == history::ENROL)
            .collect();
        let revoked_before = events.iter().find(|(k, l)| {
            k.device_key == e.device
                && k.kind == history::REVOKE
                && matches!((l.leaf_index, logged.leaf_index), (Some(r), Some(x)) if r < x)
        });
        let enrolled = enrolments.iter().find(|(k, l)| {
            l.leaf_index.is_some()
                && (k.at <= e.at
                    || matches!((l.leaf_index, logged.leaf_index), (Some(k), Some(x)) if k < x))
        });
        let outcome = match (enrolled, revoked_before) {
            (_, Some((r, _))) => Err(format!(
                "签名密钥在这条记录写入日志之前已于 {} 被注销",
                r.at
            )),
            (Some((k, _)), None) => Ok(format!(
                "签名密钥于 {} 由单位 {} 登记给设备 {}（执法证号 {}）",
                k.at, k.agency, k.device_id, k.officer
            )),
            (None, None) if events.is_empty() => {
                report.warn(
                    path,
                    "key.enrolment",
                    format!(
                        "证据包不含密钥历史：签名密钥 {} 是否由执法单位登记，无法仅凭本证据包证明，请向执法单位核实",
                        e.device
                    ),
                );
                continue;
            }
            (None, None) if enrolments.is_empty() => {
                Err("证据包中没有这个签名密钥的登记记录".into())
            }
            (None, None) => Err("签名密钥的登记晚于这条记录，或登记未写入日志".into()),
        };
        report.record(path, "key.enrolment", outcome);
    }

    // Media and documents against the entries that name them.
    let mut named_media: BTreeSet<String> = BTreeSet::new();
    for (e, _, entry_file) in &entries {
        let sha = e
            .body
            .get("sha256")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let size = e.body.get("size").and_then(Value::as_u64);
        if !crate::is_lower_hex(sha, 64) {
            continue;
        }
        match e.kind.as_str() {
            "evidence.add" => {
                let prefix = format!("media/{sha}");
                let found = manifest
                    .files
                    .iter()
                    .find(|f| f.path == prefix || f.path.starts_with(&format!("{prefix}.")));
                let Some(f) = found else {
                    report.pass(
                        entry_file,
                        "media.sha256",
                        format!("证据文件 {sha} 未包含在证据包中（尚未上传或未导出）"),
                    );
                    continue;
                };
                named_media.insert(f.path.clone());
                let Some(r) = files.get(&f.path) else {
                    continue;
                };
                report.record(
                    &f.path,
                    "media.sha256",
                    if hex::encode(r.sha256) == sha && Some(r.size) == size {
                        Ok(format!(
                            "与设备 {} 第 {} 条记录签署的哈希和大小一致",
                            e.device, e.seq
                        ))
                    } else {
                        Err(format!(
                            "文件的哈希或大小与记录签署的不同（记录：{sha}，{size:?} 字节）"
                        ))
                    },
                );
                if let Some(c) = &r.chunked {
                    let want_digest = e.body.get("chunks_sha256").and_then(Value::as_str);
                    let want_count = e.body.get("chunk_count").and_then(Value::as_u64);
                    let want_size = e.body.get("chunk_size").and_then(Value::as_u64);
                    report.record(
                        &f.path,
                        "media.chunks",
                        if want_digest == Some(hex::encode(c.chunks_sha256).as_str())
                            && want_count == Some(c.chunks.len() as u64)
                            && want_size == Some(u64::from(c.chunk_size))
                        {
                            Ok(format!("{} 个分块，分块清单与记录一致", c.chunks.len()))
                        } else {
                            Err("分块清单与记录签署的不同".into())
                        },
                    );
                }
            }
            "document.issue" => {
                let path = document_path(sha);
                let Some(r) = files.get(&path) else {
                    report.pass(
                        entry_file,
                        "document.sha256",
                        format!("文书 {sha} 未包含在证据包中"),
                    );
                    continue;
                };
                named_media.insert(path.clone());
                report.record(
                    &path,
                    "document.sha256",
                    if hex::encode(r.sha256) == sha && Some(r.size) == size {
                        Ok(format!(
                            "与设备 {} 第 {} 条记录签署的哈希和大小一致",
                            e.device, e.seq
                        ))
                    } else {
                        Err(format!(
                            "文书的哈希或大小与记录签署的不同（记录：{sha}，{size:?} 字节）"
                        ))
                    },
                );
            }
            _ => {}
        }
    }
    for f in &manifest.files {
        let is_media = f.path.starts_with("media/") || f.path.starts_with("documents/");
        if is_media && !named_media.contains(&f.path) {
            report.fail(
                &f.path,
                "media.declared",
                "没有任何已核验的记录签署过这个文件",
            );
        }
    }
    report.summary.media = named_media
        .iter()
        .filter(|p| p.starts_with("media/"))
        .count();
    report.summary.documents = named_media
        .iter()
        .filter(|p| p.starts_with("documents/"))
        .count();
}

fn decode_sig_hex(b: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(b).map_err(|_| "签名文件不是文本".to_string())?;
    if !crate::is_lower_hex(text, 128) {
        return Err("签名文件应为 128 位小写十六进制".into());
    }
    hex::decode(text).map_err(|_| "签名文件应为 128 位小写十六进制".into())
}

/// The signature file's bytes for a signature.
pub fn sig_bytes(sig: &[u8]) -> Vec<u8> {
    hex::encode(sig).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_package_reads_back() {
        let mut w = PackageWriter::new(Vec::new(), "c", "o");
        w.add(LOG_KEY, b"o+00000000+AAAA\n").expect("add");
        let mut sink = w.start("media/ab.mp4", 3).expect("start");
        sink.write_all(b"abc").expect("write");
        sink.finish();
        let bytes = w.finish().expect("finish");
        let report = verify(std::io::Cursor::new(bytes), None);
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.check == "manifest.format" && c.ok),
            "{report:?}"
        );
    }
}
