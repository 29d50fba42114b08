//! Self-audit: the stored database checked against the signed entries and the signed log.
//!
//! What is checked, for every entry of the log (streamed in leaf order, [`BATCH_LEAVES`] leaves at a
//! time, so memory grows with the number of devices, cases and amendments, not with the entries):
//!
//! 1. the entry's stored bytes re-hashed (SHA-256) and compared with its `hash` column;
//! 2. the bytes opened again by the core ([`ledger::open_known`]: canonical JSON, the signature
//!    with `verify_strict`, the format's shape rules), by the key enrolled for the entry's device;
//! 3. the entry's other columns (seq, kind, case, time, officers, agency) against its bytes, and
//!    its place in its device's chain (`seq` one more than the previous entry, `prev` its hash);
//! 4. every entry's hash matched to its log leaf: the whole tree recomputed from the entries'
//!    hashes (RFC 6962 leaf hashes) and every stored hash tile compared with it, a leaf without an
//!    entry named as a deleted entry; the recomputed root compared with the latest signed checkpoint,
//!    whose signature is verified with the log's key;
//! 5. the materialised rows re-derived from the accepted (not refused) entries, replayed in log
//!    order exactly as ingest writes them: `cases` (opened, status), `records`, `evidence`
//!    (every column, `superseded_by` and `voided_by` included), and any row no entry stands behind.
//!    The first-offence history is read from `cases` and the opening entries' bytes, so these checks
//!    cover it.
//!
//! Each finding names the entry (device, seq, hash, leaf index), the table and what differs, under
//! a stable code ([`code`]). Rows derived from an entry that fails checks 1–2 are not compared
//! (there is nothing trustworthy to derive them from); the entry's own finding names its case.
//!
//! The log grows while a server runs: the audit reads the entries up to the log's size, then the
//! rows that later entries could change (cases, marks, device heads, the checkpoint) between two
//! reads of the size; if the size moved, it reads the new entries and those rows again.
//!
//! Findings are kept in the database ([`record`]); the history query refuses to answer for an
//! agency with findings (`HISTORY_UNDER_AUDIT`) until an audit finds its rows right again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use roadside_core::ledger::{self, KnownDevice, LedgerEntry};
use serde::Serialize;

use crate::error::{ApiError, Result};
use crate::storage::{AuditEntry, AuditHold, Device, DynStorage};
use crate::tlog::{self, TileKey, TileSet, TreeHash, TILE_WIDTH};

/// Leaves read and checked per round trip (a multiple of the tile width, so every hash tile of
/// level 0 is completed inside one batch).
pub const BATCH_LEAVES: u64 = 16 * TILE_WIDTH;
/// Findings listed in a report and kept in the database (all are counted).
pub const MAX_LISTED: usize = 10_000;
/// Times the audit reads the log again when it grew during the comparison of the mutable rows.
const MAX_ROUNDS: usize = 8;

/// The stable codes of the findings.
pub mod code {
    /// SHA-256 of the stored bytes differs from the entry's `hash` column.
    pub const ENTRY_HASH_MISMATCH: &str = "ENTRY_HASH_MISMATCH";
    /// The stored signature does not verify over the stored bytes (`verify_strict`).
    pub const ENTRY_SIGNATURE_INVALID: &str = "ENTRY_SIGNATURE_INVALID";
    /// The stored bytes are not a well-formed canonical entry.
    pub const ENTRY_MALFORMED: &str = "ENTRY_MALFORMED";
    /// The entry's `device` key is not the key enrolled for its `device_id`, or no such device.
    pub const ENTRY_DEVICE_MISMATCH: &str = "ENTRY_DEVICE_MISMATCH";
    /// A column of the entry row (seq, kind, case, time, officers, agency) differs from its bytes.
    pub const ENTRY_COLUMN_MISMATCH: &str = "ENTRY_COLUMN_MISMATCH";
    /// A log leaf has no entry row (the entry was deleted).
    pub const ENTRY_MISSING: &str = "ENTRY_MISSING";
    /// An entry row sits at a leaf index beyond the log's size.
    pub const ENTRY_OUTSIDE_LOG: &str = "ENTRY_OUTSIDE_LOG";
    /// An entry's seq or prev does not follow the device's previous entry.
    pub const CHAIN_BROKEN: &str = "CHAIN_BROKEN";
    /// A device's stored head differs from its newest entry.
    pub const DEVICE_HEAD_MISMATCH: &str = "DEVICE_HEAD_MISMATCH";
    /// A level-0 hash tile holds another leaf than the hash of the entry at that index.
    pub const LEAF_MISMATCH: &str = "LEAF_MISMATCH";
    /// A hash tile of a higher level differs from the tree recomputed from the entries, or a tile
    /// is missing.
    pub const TILE_MISMATCH: &str = "TILE_MISMATCH";
    /// No signed checkpoint for a non-empty log, or its signature fails with the log's key.
    pub const CHECKPOINT_INVALID: &str = "CHECKPOINT_INVALID";
    /// The latest checkpoint's size differs from the log's size.
    pub const LOG_SIZE_MISMATCH: &str = "LOG_SIZE_MISMATCH";
    /// The root recomputed from the entries differs from the latest signed checkpoint's.
    pub const LOG_ROOT_MISMATCH: &str = "LOG_ROOT_MISMATCH";
    /// An accepted `case.open` has no case row.
    pub const CASE_ROW_MISSING: &str = "CASE_ROW_MISSING";
    /// A case row no accepted `case.open` stands behind.
    pub const CASE_ROW_UNEXPECTED: &str = "CASE_ROW_UNEXPECTED";
    /// A case row's agency, status or opening time differs from its entries.
    pub const CASE_ROW_MISMATCH: &str = "CASE_ROW_MISMATCH";
    /// An accepted record entry has no `records` row.
    pub const RECORD_ROW_MISSING: &str = "RECORD_ROW_MISSING";
    /// A `records` row no accepted record entry stands behind.
    pub const RECORD_ROW_UNEXPECTED: &str = "RECORD_ROW_UNEXPECTED";
    /// A `records` row differs from its entry (or `superseded_by` from the later entries).
    pub const RECORD_ROW_MISMATCH: &str = "RECORD_ROW_MISMATCH";
    /// An accepted `evidence.add` has no `evidence` row.
    pub const EVIDENCE_ROW_MISSING: &str = "EVIDENCE_ROW_MISSING";
    /// An `evidence` row no accepted `evidence.add` stands behind.
    pub const EVIDENCE_ROW_UNEXPECTED: &str = "EVIDENCE_ROW_UNEXPECTED";
    /// An `evidence` row differs from its entry (or `voided_by` from the later entries).
    pub const EVIDENCE_ROW_MISMATCH: &str = "EVIDENCE_ROW_MISMATCH";
}

/// The entry a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryRef {
    pub device_id: String,
    pub seq: i64,
    /// The entry's `hash` column, lowercase hex.
    pub hash: String,
    pub leaf_index: u64,
}

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code ([`code`]).
    pub code: &'static str,
    /// The table holding what is wrong.
    pub table: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryRef>,
    /// The agency whose data it is; `None` for the log as a whole.
    pub agency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// What differs, in Chinese, with the stored and the expected values.
    pub detail: String,
}

/// The result of one audit.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub backend: &'static str,
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    /// The log's size audited.
    pub tree_size: u64,
    /// Entry rows read, hashed and opened (signature verified).
    pub entries: u64,
    pub cases: u64,
    pub records: u64,
    pub evidence: u64,
    /// Size of the latest signed checkpoint.
    pub checkpoint_size: Option<u64>,
    pub clean: bool,
    pub findings_total: u64,
    /// Findings per code.
    pub codes: BTreeMap<&'static str, u64>,
    /// The first [`MAX_LISTED`] findings.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Entries checked per second.
    pub fn entries_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.entries as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// One line for an operator.
    pub fn summary(&self) -> String {
        if self.clean {
            format!(
                "自检通过：{} 条记录（日志大小 {}），{} 个案件、{} 条笔录、{} 条证据，用时 {:.1} 秒，未发现问题",
                self.entries, self.tree_size, self.cases, self.records, self.evidence, self.seconds
            )
        } else {
            let codes: Vec<String> = self
                .codes
                .iter()
                .map(|(c, n)| format!("{c} ×{n}"))
                .collect();
            format!(
                "自检发现 {} 处问题（{}）：{} 条记录（日志大小 {}），用时 {:.1} 秒",
                self.findings_total,
                codes.join("，"),
                self.entries,
                self.tree_size,
                self.seconds
            )
        }
    }
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Threads verifying signatures.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Audit the storage against the log whose checkpoints `verifier_key` signs.
pub async fn run(storage: &DynStorage, verifier_key: &str, options: Options) -> Result<Report> {
    let clock = Instant::now();
    let started_at = crate::now();
    let mut a = Auditor::new(options.threads.max(1));
    a.load_devices(storage).await?;
    for _ in 0..MAX_ROUNDS {
        let size = storage.tree_size().await?;
        while a.cursor < size {
            let to = size.min(a.cursor + BATCH_LEAVES);
            a.batch(storage, to).await?;
        }
        let window = a.window(storage, verifier_key).await?;
        if storage.tree_size().await? != size {
            // Entries were appended while the rows were read: read them, and the rows again.
            continue;
        }
        let Window {
            findings,
            checkpoint_size,
            cases,
        } = window;
        for f in findings {
            a.found(f);
        }
        let seconds = clock.elapsed().as_secs_f64();
        return Ok(Report {
            backend: storage.backend(),
            started_at,
            finished_at: crate::now(),
            seconds,
            tree_size: size,
            entries: a.entries,
            cases,
            records: a.records,
            evidence: a.evidence,
            checkpoint_size,
            clean: a.total == 0,
            findings_total: a.total,
            codes: a.codes,
            findings: a.findings,
        });
    }
    Err(ApiError::unavailable(
        "AUDIT_LOG_BUSY",
        format!("日志在自检期间持续增长（{MAX_ROUNDS} 轮），未能取得一致的比对；请稍后重试"),
    ))
}

/// Keep a report's findings for the history query (replacing the previous audit's).
pub async fn record(storage: &DynStorage, report: &Report) -> Result<()> {
    let holds: Vec<AuditHold> = report
        .findings
        .iter()
        .map(|f| AuditHold {
            code: f.code.to_string(),
            agency: f.agency.clone(),
            case_id: f.case.clone(),
            entry_hash: f.entry.as_ref().map(|e| e.hash.clone()),
            detail: f.detail.clone(),
            found_at: report.finished_at.clone(),
        })
        .collect();
    storage.put_audit_holds(&holds).await
}

// ---- The audit's state ----

/// Which materialised table a later entry marks (`superseded_by` / `voided_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marks {
    /// `record.amend`: `records.superseded_by`.
    Records,
    /// `entry.void`: `records.superseded_by` and `evidence.voided_by`.
    Both,
}

/// An entry marking an earlier one: (its hash, its agency, what it marks).
type Marker = ([u8; 32], String, Marks);

/// A case as its accepted entries make it.
#[derive(Debug, Clone)]
struct ExpectedCase {
    agency: String,
    status: &'static str,
    opened_at: String,
    /// The entry that opened it and the one that last set its status.
    opened_by: EntryRef,
    status_by: EntryRef,
}

/// A materialised row as its entry makes it.
enum ExpectedRow {
    Record {
        case_id: Option<String>,
        agency: String,
        kind: String,
        supersedes: Option<String>,
        body: String,
    },
    Evidence {
        case_id: Option<String>,
        agency: String,
        sha256: Option<String>,
        size: Option<i64>,
        body: String,
    },
}

/// What the CPU-bound part answers for one entry row.
struct Opened {
    sha: [u8; 32],
    entry: std::result::Result<LedgerEntry, (String, String)>,
}

struct Auditor {
    threads: usize,
    devices: HashMap<String, Device>,
    keys: Arc<HashMap<String, KnownDevice>>,
    /// Leaves checked so far; the tiles of the tree of that size that can still change.
    cursor: u64,
    working: TileSet,
    /// Per device: (seq, hash if the entry was trustworthy) of its last entry so far.
    chains: HashMap<String, (i64, Option<[u8; 32]>)>,
    /// Per device: (seq column, hash column) of its last entry row.
    heads: HashMap<String, (i64, Vec<u8>, EntryRef)>,
    cases: HashMap<String, ExpectedCase>,
    /// Cases an untrustworthy entry names: their rows cannot be derived.
    uncertain_cases: HashSet<String>,
    /// Target hash → the entries marking it, in log order (marker hash, agency, kind of mark).
    marks: HashMap<[u8; 32], Vec<Marker>>,
    /// `hash` columns of entries that failed the hash or signature checks.
    untrusted: HashSet<Vec<u8>>,
    /// The entries (and their agencies) of the leaves in the level-0 tile still being filled, to
    /// name them when that tile is compared.
    names: HashMap<u64, (EntryRef, String)>,
    entries: u64,
    records: u64,
    evidence: u64,
    total: u64,
    codes: BTreeMap<&'static str, u64>,
    findings: Vec<Finding>,
}

/// What the comparison of the mutable rows found (kept only if the log did not grow meanwhile).
struct Window {
    findings: Vec<Finding>,
    checkpoint_size: Option<u64>,
    cases: u64,
}

fn entry_ref(e: &AuditEntry) -> EntryRef {
    EntryRef {
        device_id: e.device_id.clone(),
        seq: e.seq,
        hash: hex::encode(&e.hash),
        leaf_index: e.leaf_index,
    }
}

fn opt(v: Option<&str>) -> &str {
    v.unwrap_or("（空）")
}

/// The CPU-bound part for one row: re-hash, open (signature verified) by the enrolled key.
fn open_row(row: &AuditEntry, keys: &HashMap<String, KnownDevice>) -> Opened {
    let sha = ledger::sha256(&row.bytes);
    let opened = match keys.get(&row.device_id) {
        Some(k) => ledger::open_known(&row.bytes, &row.sig, None, k),
        None => ledger::open(&row.bytes, &row.sig, None),
    };
    Opened {
        sha,
        entry: opened.map_err(|e| (e.code().to_string(), e.message().to_string())),
    }
}

/// [`open_row`] for every row, split across `threads`.
fn open_rows(
    rows: &[AuditEntry],
    keys: &HashMap<String, KnownDevice>,
    threads: usize,
) -> Vec<Opened> {
    if threads < 2 || rows.len() < 64 {
        return rows.iter().map(|r| open_row(r, keys)).collect();
    }
    let per = rows.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|r| open_row(r, keys))
                        .collect::<Vec<Opened>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| -> Vec<Opened> {
                // A check that panicked is a bug: let it surface as the task's failure.
                h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
            .collect()
    })
}

impl Auditor {
    fn new(threads: usize) -> Self {
        Auditor {
            threads,
            devices: HashMap::new(),
            keys: Arc::new(HashMap::new()),
            cursor: 0,
            working: TileSet::default(),
            chains: HashMap::new(),
            heads: HashMap::new(),
            cases: HashMap::new(),
            uncertain_cases: HashSet::new(),
            marks: HashMap::new(),
            untrusted: HashSet::new(),
            names: HashMap::new(),
            entries: 0,
            records: 0,
            evidence: 0,
            total: 0,
            codes: BTreeMap::new(),
            findings: Vec::new(),
        }
    }

    fn found(&mut self, f: Finding) {
        self.total += 1;
        *self.codes.entry(f.code).or_default() += 1;
        if self.findings.len() < MAX_LISTED {
            self.findings.push(f);
        }
    }

    /// A finding about one entry row.
    fn entry_finding(&mut self, code: &'static str, row: &AuditEntry, detail: String) {
        let agency = self
            .devices
            .get(&row.device_id)
            .map_or_else(|| row.agency.clone(), |d| d.agency.clone());
        self.found(Finding {
            code,
            table: "entries",
            entry: Some(entry_ref(row)),
            agency: Some(agency),
            case: row.case_id.clone(),
            detail,
        });
    }

    async fn load_devices(&mut self, storage: &DynStorage) -> Result<()> {
        let devices = storage.audit_devices().await?;
        let keys = devices
            .iter()
            .filter_map(|d| Some((d.id.clone(), KnownDevice::decode(&d.public_key).ok()?)))
            .collect();
        self.keys = Arc::new(keys);
        self.devices = devices.into_iter().map(|d| (d.id.clone(), d)).collect();
        Ok(())
    }

    /// Check leaves `cursor..to`.
    async fn batch(&mut self, storage: &DynStorage, to: u64) -> Result<()> {
        let from = self.cursor;
        let rows = storage.audit_entries(from, to).await?;
        if rows
            .iter()
            .any(|r| !self.devices.contains_key(&r.device_id))
        {
            self.load_devices(storage).await?;
        }
        let (keys, threads) = (self.keys.clone(), self.threads);
        let (rows, opened) = tokio::task::spawn_blocking(move || {
            let opened = open_rows(&rows, &keys, threads);
            (rows, opened)
        })
        .await
        .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?;

        // Leaves without an entry row: their stored leaf keeps the tree recomputable.
        let present: HashSet<u64> = rows.iter().map(|r| r.leaf_index).collect();
        let missing: Vec<u64> = (from..to).filter(|i| !present.contains(i)).collect();
        let stored_leaves = if missing.is_empty() {
            TileSet::default()
        } else {
            let keys: BTreeSet<TileKey> = missing.iter().map(|i| (0, i / TILE_WIDTH)).collect();
            storage
                .read_tiles(&keys.into_iter().collect::<Vec<_>>())
                .await?
        };
        let mut leaves: BTreeMap<u64, TreeHash> = BTreeMap::new();
        for &i in &missing {
            let stored = stored_leaves
                .tiles
                .get(&(0, i / TILE_WIDTH))
                .and_then(|t| tlog::hash_at(t, i % TILE_WIDTH));
            leaves.insert(i, stored.unwrap_or_default());
            self.found(Finding {
                code: code::ENTRY_MISSING,
                table: "entries",
                entry: None,
                agency: None,
                case: None,
                detail: format!(
                    "日志第 {i} 个叶子（{}）没有对应的记录行：记录已被删除",
                    stored.map_or_else(|| "瓦片中也没有".to_string(), |h| hex::encode(h.0))
                ),
            });
        }

        let mut expected_rows: Vec<([u8; 32], ExpectedRow, EntryRef)> = Vec::new();
        for (row, opened) in rows.iter().zip(opened) {
            self.entries += 1;
            let eref = entry_ref(row);
            let leaf_source = self.check_entry(row, opened, &mut expected_rows);
            leaves.insert(row.leaf_index, tlog::record_hash(&leaf_source));
            let agency = self
                .devices
                .get(&row.device_id)
                .map_or_else(|| row.agency.clone(), |d| d.agency.clone());
            self.names.insert(row.leaf_index, (eref, agency));
        }
        self.compare_rows(storage, expected_rows).await?;

        // The tree: append, then compare every tile this batch completed.
        let leaf_hashes: Vec<TreeHash> = leaves.into_values().collect();
        let mut touched = BTreeSet::new();
        let size = tlog::append(&mut self.working, from, &leaf_hashes, &mut touched)?;
        let edges: HashSet<TileKey> = tlog::edge_tiles(size).into_iter().collect();
        let done: Vec<TileKey> = self
            .working
            .tiles
            .keys()
            .filter(|k| !edges.contains(k))
            .copied()
            .collect();
        if !done.is_empty() {
            let stored = storage.read_tiles(&done).await?;
            let mut findings = Vec::new();
            for key in &done {
                if let Some(expected) = self.working.tiles.get(key) {
                    compare_tile(
                        *key,
                        expected,
                        stored.tiles.get(key),
                        &self.names,
                        &mut findings,
                    );
                }
            }
            for f in findings {
                self.found(f);
            }
        }
        // Keep only the edge tiles (all a later append reads), so memory stays bounded.
        let mut fresh = TileSet::default();
        for key in edges {
            if let Some(t) = self.working.tiles.remove(&key) {
                fresh.tiles.insert(key, t);
            }
        }
        self.working = fresh;
        self.cursor = size;
        let edge = size.saturating_sub(1) / TILE_WIDTH;
        self.names.retain(|leaf, _| leaf / TILE_WIDTH == edge);
        Ok(())
    }

    /// Checks 1–3 for one entry row and its derivation; the hash its leaf must hold.
    fn check_entry(
        &mut self,
        row: &AuditEntry,
        opened: Opened,
        expected_rows: &mut Vec<([u8; 32], ExpectedRow, EntryRef)>,
    ) -> [u8; 32] {
        let eref = entry_ref(row);
        let mut trusted = true;
        let column: Option<[u8; 32]> = row.hash.as_slice().try_into().ok();
        if column != Some(opened.sha) {
            trusted = false;
            self.entry_finding(
                code::ENTRY_HASH_MISMATCH,
                row,
                format!(
                    "记录内容的 SHA-256 为 {}，与 hash 列 {} 不符：记录内容已被改动",
                    hex::encode(opened.sha),
                    hex::encode(&row.hash)
                ),
            );
        }
        let leaf_source = column.unwrap_or(opened.sha);
        let entry = match opened.entry {
            Ok(entry) => Some(entry),
            Err((ledger_code, message)) => {
                trusted = false;
                let code = if ledger_code == ledger::code::BAD_SIGNATURE {
                    code::ENTRY_SIGNATURE_INVALID
                } else {
                    code::ENTRY_MALFORMED
                };
                self.entry_finding(
                    code,
                    row,
                    format!("保存的记录重新验证未通过（{ledger_code}）：{message}"),
                );
                None
            }
        };
        let device = self.devices.get(&row.device_id).cloned();
        if let Some(entry) = &entry {
            match &device {
                None => {
                    trusted = false;
                    self.entry_finding(
                        code::ENTRY_DEVICE_MISMATCH,
                        row,
                        format!("记录所属设备 {} 不存在", row.device_id),
                    );
                }
                Some(d) if d.public_key != entry.device => {
                    trusted = false;
                    self.entry_finding(
                        code::ENTRY_DEVICE_MISMATCH,
                        row,
                        format!(
                            "记录由密钥 {} 签署，设备 {} 登记的密钥为 {}",
                            entry.device, d.id, d.public_key
                        ),
                    );
                }
                Some(d) => {
                    let officers = entry.officers.join(",");
                    let columns = [
                        ("seq", row.seq.to_string(), entry.seq.to_string()),
                        ("kind", row.kind.clone(), entry.kind.as_str().to_string()),
                        (
                            "case_id",
                            opt(row.case_id.as_deref()).to_string(),
                            opt(entry.case.as_deref()).to_string(),
                        ),
                        ("at", row.at.clone(), entry.at.clone()),
                        ("officers", row.officers.clone(), officers),
                        ("agency", row.agency.clone(), d.agency.clone()),
                    ];
                    let differ: Vec<String> = columns
                        .iter()
                        .filter(|(_, stored, real)| stored != real)
                        .map(|(name, stored, real)| {
                            format!("{name}：保存为“{stored}”，记录内容为“{real}”")
                        })
                        .collect();
                    if !differ.is_empty() {
                        self.entry_finding(
                            code::ENTRY_COLUMN_MISMATCH,
                            row,
                            format!("记录行的列与记录内容不符：{}", differ.join("；")),
                        );
                    }
                }
            }
        }

        // The device's chain.
        let (last_seq, last_hash) = self
            .chains
            .get(&row.device_id)
            .copied()
            .unwrap_or((0, None));
        if let Some(entry) = &entry {
            let seq = i64::try_from(entry.seq).unwrap_or(i64::MAX);
            if seq != last_seq + 1 {
                self.entry_finding(
                    code::CHAIN_BROKEN,
                    row,
                    format!(
                        "设备 {} 的记录序号不连续：上一条为第 {last_seq} 条，这一条为第 {seq} 条",
                        row.device_id
                    ),
                );
            } else if let Some(prev) = last_hash {
                if entry.prev.as_deref() != Some(hex::encode(prev).as_str()) {
                    self.entry_finding(
                        code::CHAIN_BROKEN,
                        row,
                        format!(
                            "记录的 prev（{}）不是设备上一条记录的哈希 {}",
                            opt(entry.prev.as_deref()),
                            hex::encode(prev)
                        ),
                    );
                }
            }
        }
        let seq = entry
            .as_ref()
            .and_then(|e| i64::try_from(e.seq).ok())
            .unwrap_or(row.seq);
        self.chains
            .insert(row.device_id.clone(), (seq, column.filter(|_| trusted)));
        self.heads.insert(
            row.device_id.clone(),
            (row.seq, row.hash.clone(), eref.clone()),
        );

        let Some(entry) = entry.filter(|_| trusted) else {
            self.untrusted.insert(row.hash.clone());
            if let Some(case) = &row.case_id {
                self.uncertain_cases.insert(case.clone());
            }
            return leaf_source;
        };
        if row.refused {
            return leaf_source;
        }
        let (Some(hash), Some(device)) = (column, device) else {
            return leaf_source;
        };
        self.derive(hash, &entry, &device.agency, eref, expected_rows);
        leaf_source
    }

    /// Replay an accepted, trustworthy entry as ingest materialises it.
    fn derive(
        &mut self,
        hash: [u8; 32],
        e: &LedgerEntry,
        agency: &str,
        eref: EntryRef,
        expected_rows: &mut Vec<([u8; 32], ExpectedRow, EntryRef)>,
    ) {
        let target = e
            .supersedes()
            .and_then(|s| hex::decode(s).ok())
            .and_then(|t| <[u8; 32]>::try_from(t).ok());
        match e.kind.as_str() {
            "case.open" => {
                if let Some(case) = &e.case {
                    self.cases
                        .entry(case.clone())
                        .or_insert_with(|| ExpectedCase {
                            agency: agency.to_string(),
                            status: "draft",
                            opened_at: e.at.clone(),
                            opened_by: eref.clone(),
                            status_by: eref,
                        });
                }
            }
            "case.finalize" => {
                if let Some(c) = e.case.as_ref().and_then(|c| self.cases.get_mut(c)) {
                    if c.agency == agency {
                        c.status = "finalized";
                        c.status_by = eref;
                    }
                }
            }
            "case.close" => {
                if let Some(c) = e.case.as_ref().and_then(|c| self.cases.get_mut(c)) {
                    if c.agency == agency {
                        c.status = "closed";
                        c.status_by = eref;
                    }
                }
            }
            "record.create" | "record.amend" => {
                self.records += 1;
                expected_rows.push((
                    hash,
                    ExpectedRow::Record {
                        case_id: e.case.clone(),
                        agency: agency.to_string(),
                        kind: e.kind.as_str().to_string(),
                        supersedes: e.supersedes().map(str::to_string),
                        body: e.body.to_string(),
                    },
                    eref,
                ));
                if let Some(t) = target {
                    self.marks.entry(t).or_default().push((
                        hash,
                        agency.to_string(),
                        Marks::Records,
                    ));
                }
            }
            "evidence.add" => {
                self.evidence += 1;
                expected_rows.push((
                    hash,
                    ExpectedRow::Evidence {
                        case_id: e.case.clone(),
                        agency: agency.to_string(),
                        sha256: e
                            .body
                            .get("sha256")
                            .and_then(|v| v.as_str())
                            .map(str::to_string),
                        size: e.body.get("size").and_then(|v| v.as_i64()),
                        body: e.body.to_string(),
                    },
                    eref,
                ));
            }
            "entry.void" => {
                if let Some(t) = target {
                    self.marks
                        .entry(t)
                        .or_default()
                        .push((hash, agency.to_string(), Marks::Both));
                }
            }
            _ => {}
        }
    }

    /// Compare this batch's records and evidence rows with what their entries make (every column
    /// but the marks, which later entries may still set).
    async fn compare_rows(
        &mut self,
        storage: &DynStorage,
        expected: Vec<([u8; 32], ExpectedRow, EntryRef)>,
    ) -> Result<()> {
        if expected.is_empty() {
            return Ok(());
        }
        let hashes: Vec<[u8; 32]> = expected.iter().map(|(h, _, _)| *h).collect();
        let (records, evidence) = storage.audit_rows(&hashes).await?;
        let records: HashMap<Vec<u8>, _> = records
            .into_iter()
            .map(|r| (r.entry_hash.clone(), r))
            .collect();
        let evidence: HashMap<Vec<u8>, _> = evidence
            .into_iter()
            .map(|r| (r.entry_hash.clone(), r))
            .collect();
        for (hash, row, eref) in expected {
            let (table, missing, mismatch, agency, case, differ) = match row {
                ExpectedRow::Record {
                    case_id,
                    agency,
                    kind,
                    supersedes,
                    body,
                } => {
                    let differ = records.get(&hash[..]).map(|s| {
                        let mut d = Vec::new();
                        diff(&mut d, "case_id", s.case_id.as_deref(), case_id.as_deref());
                        diff(&mut d, "agency", Some(&s.agency), Some(&agency));
                        diff(&mut d, "kind", Some(&s.kind), Some(&kind));
                        diff(
                            &mut d,
                            "supersedes",
                            s.supersedes.as_deref(),
                            supersedes.as_deref(),
                        );
                        diff(&mut d, "body", Some(&s.body), Some(&body));
                        d
                    });
                    (
                        "records",
                        code::RECORD_ROW_MISSING,
                        code::RECORD_ROW_MISMATCH,
                        agency,
                        case_id,
                        differ,
                    )
                }
                ExpectedRow::Evidence {
                    case_id,
                    agency,
                    sha256,
                    size,
                    body,
                } => {
                    let differ = evidence.get(&hash[..]).map(|s| {
                        let mut d = Vec::new();
                        diff(&mut d, "case_id", s.case_id.as_deref(), case_id.as_deref());
                        diff(&mut d, "agency", Some(&s.agency), Some(&agency));
                        diff(&mut d, "sha256", s.sha256.as_deref(), sha256.as_deref());
                        let (ss, es) = (s.size.map(|v| v.to_string()), size.map(|v| v.to_string()));
                        diff(&mut d, "size", ss.as_deref(), es.as_deref());
                        diff(&mut d, "body", Some(&s.body), Some(&body));
                        d
                    });
                    (
                        "evidence",
                        code::EVIDENCE_ROW_MISSING,
                        code::EVIDENCE_ROW_MISMATCH,
                        agency,
                        case_id,
                        differ,
                    )
                }
            };
            match differ {
                None => self.found(Finding {
                    code: missing,
                    table,
                    entry: Some(eref),
                    agency: Some(agency),
                    case,
                    detail: format!("已接收的记录在 {table} 表中没有对应的行"),
                }),
                Some(d) if !d.is_empty() => self.found(Finding {
                    code: mismatch,
                    table,
                    entry: Some(eref),
                    agency: Some(agency),
                    case,
                    detail: format!("{table} 表的行与记录内容不符：{}", d.join("；")),
                }),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Compare what later entries can still change (cases, marks, device heads, the edge tiles,
    /// the checkpoint) and what no entry stands behind.
    async fn window(&mut self, storage: &DynStorage, verifier_key: &str) -> Result<Window> {
        let mut out = Vec::new();
        let size = self.cursor;
        let global = |code, table, detail| Finding {
            code,
            table,
            entry: None,
            agency: None,
            case: None,
            detail,
        };

        // Entry rows beyond the log.
        for row in storage
            .audit_entries(size, size.saturating_add(BATCH_LEAVES))
            .await?
        {
            out.push(Finding {
                code: code::ENTRY_OUTSIDE_LOG,
                table: "entries",
                agency: Some(row.agency.clone()),
                case: row.case_id.clone(),
                detail: format!("记录行的 leaf_index {} 超出日志大小 {size}", row.leaf_index),
                entry: Some(entry_ref(&row)),
            });
        }

        // Device heads.
        for d in storage.audit_devices().await? {
            let last = self.heads.get(&d.id);
            let stored_hash = d.head_hash.map(hex::encode);
            let (seq, hash) = last.map_or((0, None), |(s, h, _)| (*s, Some(hex::encode(h))));
            if i64::try_from(d.head_seq).ok() != Some(seq) || stored_hash != hash {
                out.push(Finding {
                    code: code::DEVICE_HEAD_MISMATCH,
                    table: "devices",
                    entry: last.map(|(_, _, e)| e.clone()),
                    agency: Some(d.agency.clone()),
                    case: None,
                    detail: format!(
                        "设备 {} 保存的最新记录为第 {} 条（{}），日志中最后一条为第 {seq} 条（{}）",
                        d.id,
                        d.head_seq,
                        opt(stored_hash.as_deref()),
                        opt(hash.as_deref())
                    ),
                });
            }
        }

        // Cases.
        let stored_cases = storage.audit_cases().await?;
        let case_count = stored_cases.len() as u64;
        let mut seen = HashSet::new();
        for c in stored_cases {
            seen.insert(c.id.clone());
            if self.uncertain_cases.contains(&c.id) {
                continue;
            }
            match self.cases.get(&c.id) {
                None => out.push(Finding {
                    code: code::CASE_ROW_UNEXPECTED,
                    table: "cases",
                    entry: None,
                    agency: Some(c.agency.clone()),
                    case: Some(c.id.clone()),
                    detail: format!(
                        "案件 {} 没有已接收的立案记录（case.open），案件行不应存在",
                        c.id
                    ),
                }),
                Some(e) => {
                    let mut d = Vec::new();
                    diff(&mut d, "agency", Some(&c.agency), Some(&e.agency));
                    diff(
                        &mut d,
                        "opened_at",
                        c.opened_at.as_deref(),
                        Some(&e.opened_at),
                    );
                    let status_wrong = c.status != e.status;
                    diff(&mut d, "status", Some(&c.status), Some(e.status));
                    if !d.is_empty() {
                        out.push(Finding {
                            code: code::CASE_ROW_MISMATCH,
                            table: "cases",
                            entry: Some(if status_wrong {
                                e.status_by.clone()
                            } else {
                                e.opened_by.clone()
                            }),
                            agency: Some(e.agency.clone()),
                            case: Some(c.id.clone()),
                            detail: format!("案件 {} 的行与记录不符：{}", c.id, d.join("；")),
                        });
                    }
                }
            }
        }
        for (id, e) in &self.cases {
            if !seen.contains(id) && !self.uncertain_cases.contains(id) {
                out.push(Finding {
                    code: code::CASE_ROW_MISSING,
                    table: "cases",
                    entry: Some(e.opened_by.clone()),
                    agency: Some(e.agency.clone()),
                    case: Some(id.clone()),
                    detail: format!("已接收的立案记录所开的案件 {id} 在 cases 表中没有行"),
                });
            }
        }

        // Rows with no entry behind them.
        for o in storage.audit_orphan_rows().await? {
            if self.untrusted.contains(&o.entry_hash) {
                continue;
            }
            let (code, table) = if o.table == "records" {
                (code::RECORD_ROW_UNEXPECTED, "records")
            } else {
                (code::EVIDENCE_ROW_UNEXPECTED, "evidence")
            };
            out.push(Finding {
                code,
                table,
                entry: None,
                agency: Some(o.agency),
                case: o.case_id,
                detail: format!(
                    "{table} 表中键为 {} 的行没有对应的已接收记录（记录不存在、类型不符或已被拒绝）",
                    hex::encode(&o.entry_hash)
                ),
            });
        }

        // Marks: superseded_by / voided_by.
        self.compare_marks(storage, &mut out).await?;

        // The tiles a later append may still change, then the root and the signed checkpoint.
        let keys: Vec<TileKey> = self.working.tiles.keys().copied().collect();
        let stored = storage.read_tiles(&keys).await?;
        for key in &keys {
            if let Some(expected) = self.working.tiles.get(key) {
                compare_tile(*key, expected, stored.tiles.get(key), &self.names, &mut out);
            }
        }
        let mut checkpoint_size = None;
        match storage.checkpoint(None).await? {
            None if size > 0 => out.push(global(
                code::CHECKPOINT_INVALID,
                "checkpoints",
                format!("日志大小为 {size}，却没有已签名的检查点"),
            )),
            None => {}
            Some((stored_size, note)) => {
                checkpoint_size = Some(stored_size);
                match tlog::verify_checkpoint(&note, verifier_key) {
                    None => out.push(global(
                        code::CHECKPOINT_INVALID,
                        "checkpoints",
                        format!("大小为 {stored_size} 的最新检查点的签名不能用日志密钥验证"),
                    )),
                    Some(cp) if cp.size() != size || stored_size != size => out.push(global(
                        code::LOG_SIZE_MISMATCH,
                        "checkpoints",
                        format!(
                            "最新签名检查点的大小为 {}（行键 {stored_size}），日志大小为 {size}",
                            cp.size()
                        ),
                    )),
                    Some(cp) => {
                        let root = tlog::root(&self.working, size)?;
                        if *cp.hash() != root {
                            out.push(global(
                                code::LOG_ROOT_MISMATCH,
                                "log_tiles",
                                format!(
                                    "由记录重新计算的树根 {} 与最新签名检查点的树根 {} 不符",
                                    hex::encode(root.0),
                                    hex::encode(cp.hash().0)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(Window {
            findings: out,
            checkpoint_size,
            cases: case_count,
        })
    }

    async fn compare_marks(&mut self, storage: &DynStorage, out: &mut Vec<Finding>) -> Result<()> {
        let stored = storage.audit_marks().await?;
        let targets: Vec<[u8; 32]> = self.marks.keys().copied().collect();
        let mut records = HashMap::new();
        let mut evidence = HashMap::new();
        for part in targets.chunks(BATCH_LEAVES as usize) {
            let (r, e) = storage.audit_rows(part).await?;
            records.extend(r.into_iter().map(|r| (r.entry_hash.clone(), r)));
            evidence.extend(e.into_iter().map(|e| (e.entry_hash.clone(), e)));
        }
        // The last marker of the row's own agency: what ingest's UPDATE left.
        let expected = |target: &[u8], agency: &str, evidence: bool| -> Option<[u8; 32]> {
            let t: [u8; 32] = target.try_into().ok()?;
            self.marks.get(&t)?.iter().rev().find_map(|(by, a, m)| {
                (a == agency && (!evidence || *m == Marks::Both)).then_some(*by)
            })
        };
        let mut check = |table: &'static str,
                         code: &'static str,
                         column: &str,
                         hash: &[u8],
                         agency: &str,
                         case: Option<String>,
                         stored: Option<&Vec<u8>>,
                         want: Option<[u8; 32]>| {
            if stored.map(|s| s.as_slice()) == want.as_ref().map(|w| &w[..]) {
                return;
            }
            if stored.is_some_and(|s| self.untrusted.contains(s)) || self.untrusted.contains(hash) {
                return;
            }
            out.push(Finding {
                code,
                table,
                entry: None,
                agency: Some(agency.to_string()),
                case,
                detail: format!(
                    "{table} 表中键为 {} 的行的 {column} 保存为 {}，记录所示应为 {}",
                    hex::encode(hash),
                    opt(stored.map(hex::encode).as_deref()),
                    opt(want.map(hex::encode).as_deref())
                ),
            });
        };
        for (hash, r) in &records {
            let want = expected(hash, &r.agency, false);
            check(
                "records",
                code::RECORD_ROW_MISMATCH,
                "superseded_by",
                hash,
                &r.agency,
                r.case_id.clone(),
                r.superseded_by.as_ref(),
                want,
            );
        }
        for (hash, e) in &evidence {
            let want = expected(hash, &e.agency, true);
            check(
                "evidence",
                code::EVIDENCE_ROW_MISMATCH,
                "voided_by",
                hash,
                &e.agency,
                e.case_id.clone(),
                e.voided_by.as_ref(),
                want,
            );
        }
        // Marks on rows no entry marks.
        for m in stored {
            let known = <[u8; 32]>::try_from(m.entry_hash.as_slice())
                .ok()
                .is_some_and(|t| self.marks.contains_key(&t));
            if known || self.untrusted.contains(&m.by) {
                continue;
            }
            let (table, code, column) = if m.table == "records" {
                ("records", code::RECORD_ROW_MISMATCH, "superseded_by")
            } else {
                ("evidence", code::EVIDENCE_ROW_MISMATCH, "voided_by")
            };
            out.push(Finding {
                code,
                table,
                entry: None,
                agency: None,
                case: None,
                detail: format!(
                    "{table} 表中键为 {} 的行的 {column} 为 {}，但没有记录修正或作废它",
                    hex::encode(&m.entry_hash),
                    hex::encode(&m.by)
                ),
            });
        }
        Ok(())
    }
}

fn diff(out: &mut Vec<String>, column: &str, stored: Option<&str>, expected: Option<&str>) {
    if stored != expected {
        let show = |v: Option<&str>| {
            let v = opt(v);
            if v.chars().count() > 120 {
                format!("{}…", v.chars().take(120).collect::<String>())
            } else {
                v.to_string()
            }
        };
        out.push(format!(
            "{column}：保存为“{}”，应为“{}”",
            show(stored),
            show(expected)
        ));
    }
}

/// Compare a stored hash tile with the one recomputed from the entries. `names`: the entries of
/// level-0 leaves, with their agency, to name them.
fn compare_tile(
    key: TileKey,
    expected: &[u8],
    stored: Option<&Vec<u8>>,
    names: &HashMap<u64, (EntryRef, String)>,
    out: &mut Vec<Finding>,
) {
    let (level, index) = key;
    let Some(stored) = stored else {
        out.push(Finding {
            code: code::TILE_MISMATCH,
            table: "log_tiles",
            entry: None,
            agency: None,
            case: None,
            detail: format!("缺少第 {level} 层第 {index} 个哈希瓦片"),
        });
        return;
    };
    let width = expected.len() / 32;
    for i in 0..width.max(stored.len() / 32) {
        let e = tlog::hash_at(expected, i as u64);
        let s = tlog::hash_at(stored, i as u64);
        if e == s {
            continue;
        }
        let show =
            |h: Option<TreeHash>| h.map_or_else(|| "（无）".to_string(), |h| hex::encode(h.0));
        let position = index * TILE_WIDTH + i as u64;
        if level == 0 {
            let named = names.get(&position);
            out.push(Finding {
                code: code::LEAF_MISMATCH,
                table: "log_tiles",
                entry: named.map(|(e, _)| e.clone()),
                agency: named.map(|(_, a)| a.clone()),
                case: None,
                detail: format!(
                    "日志第 {position} 个叶子保存为 {}，由该位置记录的哈希算得 {}",
                    show(s),
                    show(e)
                ),
            });
        } else {
            out.push(Finding {
                code: code::TILE_MISMATCH,
                table: "log_tiles",
                entry: None,
                agency: None,
                case: None,
                detail: format!(
                    "第 {level} 层瓦片第 {index} 个的第 {i} 个哈希（树的第 {} 层第 {position} 个节点）保存为 {}，由记录重新计算为 {}",
                    u32::from(level) * 8,
                    show(s),
                    show(e)
                ),
            });
        }
    }
}

// ---- In the server: the audit in the background ----

/// The audit's metrics on `/metrics`.
#[derive(Default)]
pub struct AuditMetrics {
    pub runs: prometheus_client::metrics::counter::Counter,
    pub failures: prometheus_client::metrics::counter::Counter,
    pub findings: prometheus_client::metrics::gauge::Gauge,
    pub last_success: prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
    pub entries_per_second:
        prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl AuditMetrics {
    pub fn register(&self, metrics: &crate::metrics::Metrics) {
        metrics.register("audit_runs", "Completed self-audits", self.runs.clone());
        metrics.register(
            "audit_failures",
            "Self-audits that could not complete (storage error, log busy)",
            self.failures.clone(),
        );
        metrics.register(
            "audit_findings",
            "Findings of the last completed self-audit (0: the database matches the signed entries and log)",
            self.findings.clone(),
        );
        metrics.register(
            "audit_last_success_timestamp_seconds",
            "Unix time the last self-audit completed",
            self.last_success.clone(),
        );
        metrics.register(
            "audit_entries_per_second",
            "Entries checked per second by the last self-audit",
            self.entries_per_second.clone(),
        );
    }
}

/// Run the audit every `interval` (the first right away) until the server stops: each finding
/// logged at error level, the metrics updated, the findings kept for the history query. One
/// thread verifies signatures, so pushes keep the other cores.
pub fn spawn_background(
    storage: DynStorage,
    signer: Arc<tlog::LogSigner>,
    metrics: Arc<AuditMetrics>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run(&storage, signer.verifier_key(), Options { threads: 1 }).await {
                Ok(report) => {
                    for f in &report.findings {
                        tracing::error!(
                            code = f.code,
                            table = f.table,
                            agency = f.agency.as_deref().unwrap_or("-"),
                            case = f.case.as_deref().unwrap_or("-"),
                            device = f.entry.as_ref().map_or("-", |e| e.device_id.as_str()),
                            seq = f.entry.as_ref().map_or(0, |e| e.seq),
                            hash = f.entry.as_ref().map_or("-", |e| e.hash.as_str()),
                            leaf_index = f.entry.as_ref().map(|e| e.leaf_index),
                            "audit alarm: {}",
                            f.detail
                        );
                    }
                    if let Err(e) = record(&storage, &report).await {
                        tracing::error!(code = %e.code, "audit findings not kept: {}", e.message);
                    }
                    metrics
                        .findings
                        .set(i64::try_from(report.findings_total).unwrap_or(i64::MAX));
                    metrics
                        .last_success
                        .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
                    metrics.entries_per_second.set(report.entries_per_second());
                    // Counted last: a reader that sees the new count sees this run's gauges.
                    metrics.runs.inc();
                    if report.clean {
                        tracing::info!("{}", report.summary());
                    } else {
                        tracing::error!("audit alarm: {}", report.summary());
                    }
                }
                Err(e) => {
                    metrics.failures.inc();
                    tracing::error!(code = %e.code, "audit failed: {}", e.message);
                }
            }
            tokio::time::sleep(interval).await;
        }
    })
}
