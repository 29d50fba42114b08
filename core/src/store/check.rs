//! Checking the store against itself: the ledger chain, its tail against the receipts the server
//! gave, and every row the ledger materialises against the entries it comes from.
//!
//! The append-only triggers stop mistakes and casual edits, but anyone holding the database key
//! can drop a trigger, and the device's signing key lives in the same database, so such a person can
//! also sign new entries. What such a person cannot forge is the server's signature on a checkpoint:
//! a receipt ties an entry's hash to a signed log. [`Store::verify`] therefore checks, in one read
//! transaction (one consistent snapshot):
//!
//! 1. the chain: hashes, signatures, canonical form, `seq` and `prev` continuity (as before);
//! 2. the tail: every receipt's entry must be in the ledger, with the hash its inclusion proof
//!    proves against a checkpoint signed by the log key pinned at enrolment. A receipt for an entry
//!    beyond the head means entries were cut off the end (`LEDGER_TAIL_MISSING`); the outbox and
//!    every materialised row are held to the same head;
//! 3. the outbox: each entry is either still queued or has its receipt, never neither nor both;
//! 4. the materialised rows (`ledger`'s own columns, `cases`, `record_versions`, `evidence`): the
//!    rows the entries produce are re-derived from their signed bytes and compared field by field.
//!
//! Each finding is a [`StoreProblem`] with a stable code, the table, the row, the entry (`seq`,
//! hash) and what differs. What no local check can see is a tail cut together with everything that
//! refers to it and before any receipt: that is what syncing promptly is for.
//!
//! An evidence row's `path` is where the file lives on this device; the signed entry holds only the
//! file's name, so verify checks the name, and the file's bytes are checked against the signed hash
//! when they are uploaded.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;

use super::{db, lock, Store};
use crate::error::{Result, RoadsideError};
use crate::ledger::{self, BrokenEntry, EntryKind, LedgerEntry, StoredEntryRef};

/// Stable codes of [`StoreProblem`].
pub mod code {
    /// Something refers to a ledger entry beyond the newest one: entries were cut off the end.
    pub const TAIL_MISSING: &str = "LEDGER_TAIL_MISSING";
    /// A receipt's entry is not in the ledger (and is not beyond the head).
    pub const RECEIPT_ENTRY_MISSING: &str = "RECEIPT_ENTRY_MISSING";
    /// A receipt's checkpoint does not verify with the log key pinned at enrolment.
    pub const RECEIPT_CHECKPOINT: &str = "RECEIPT_CHECKPOINT_INVALID";
    /// A receipt's inclusion proof does not prove the stored entry: the entry differs from the one
    /// the server logged.
    pub const RECEIPT_MISMATCH: &str = "RECEIPT_MISMATCH";
    /// Receipts are stored but the enrolment (the pinned log key) is not, so none can be checked.
    pub const RECEIPT_UNVERIFIABLE: &str = "RECEIPT_UNVERIFIABLE";
    /// An entry neither waits in the outbox nor has a receipt: it left the outbox unacknowledged.
    pub const OUTBOX_ENTRY_LOST: &str = "OUTBOX_ENTRY_LOST";
    /// An entry waits in the outbox although it already has a receipt.
    pub const OUTBOX_HAS_RECEIPT: &str = "OUTBOX_HAS_RECEIPT";
    /// An outbox row names an entry that is not in the ledger.
    pub const OUTBOX_ORPHAN: &str = "OUTBOX_ORPHAN";
    /// A row the ledger produces is not in its table.
    pub const ROW_MISSING: &str = "STORE_ROW_MISSING";
    /// A row no ledger entry produces.
    pub const ROW_UNBACKED: &str = "STORE_ROW_UNBACKED";
    /// A row differs from what its ledger entry says.
    pub const ROW_MISMATCH: &str = "STORE_ROW_MISMATCH";
    /// A page fails SQLCipher's HMAC, or SQLite's own integrity check fails.
    pub const FILE_CORRUPT: &str = "STORE_CORRUPT";
}

/// One thing found wrong in the store besides the chain itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct StoreProblem {
    /// One of [`code`].
    pub code: String,
    /// The table the finding is about.
    pub table: String,
    /// The row's key in that table (case id, `case/record/version`, evidence id, entry `seq`).
    pub row: Option<String>,
    /// The ledger entry concerned.
    pub entry_seq: Option<u64>,
    /// That entry's hash (lowercase hex), when the ledger holds it.
    pub entry_hash: Option<String>,
    /// The column that differs, for `STORE_ROW_MISMATCH`.
    pub field: Option<String>,
    /// What is wrong, in Chinese, with the stored and the ledger's value where there are two.
    pub message: String,
}

/// What [`Store::verify`] found. The first five members are those of the chain report
/// ([`crate::ledger::ChainReport`]), with `ok` now also false when any problem was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct VerifyReport {
    /// The chain verified and no problem was found.
    pub ok: bool,
    /// Entries of the chain that verified.
    pub entries: u64,
    pub head_seq: u64,
    pub head_hash: Option<String>,
    pub first_broken: Option<BrokenEntry>,
    /// Receipts checked against the ledger (and their proofs against the pinned log key).
    pub receipts_checked: u64,
    /// Materialised rows compared with the ledger.
    pub rows_checked: u64,
    pub problems: Vec<StoreProblem>,
}

impl VerifyReport {
    /// The first failure as an error, if there was one.
    pub fn error(&self) -> Option<RoadsideError> {
        if let Some(b) = &self.first_broken {
            return Some(RoadsideError::ledger(
                &b.code,
                format!("账本第 {} 条记录校验失败：{}", b.position, b.message),
            ));
        }
        let p = self.problems.first()?;
        let more = if self.problems.len() > 1 {
            format!("（另有 {} 处问题，见报告）", self.problems.len() - 1)
        } else {
            String::new()
        };
        Some(RoadsideError::ledger(
            &p.code,
            format!("{}{more}", p.message),
        ))
    }
}

/// What [`Store::check`] found: the file's own checks and [`Store::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct StoreCheckReport {
    /// Every check passed.
    pub ok: bool,
    /// What `PRAGMA cipher_integrity_check` reported (empty: every page authenticates).
    pub cipher_integrity: Vec<String>,
    /// What `PRAGMA integrity_check` reported (empty: it said `ok`).
    pub integrity: Vec<String>,
    pub verify: VerifyReport,
}

impl StoreCheckReport {
    /// The first failure as an error, if there was one.
    pub fn error(&self) -> Option<RoadsideError> {
        if let Some(first) = self.cipher_integrity.first() {
            return Some(RoadsideError::store(
                code::FILE_CORRUPT,
                format!(
                    "数据库文件有 {} 处未通过 SQLCipher 完整性校验，首个：{first}",
                    self.cipher_integrity.len()
                ),
            ));
        }
        if let Some(first) = self.integrity.first() {
            return Some(RoadsideError::store(
                code::FILE_CORRUPT,
                format!(
                    "数据库文件有 {} 处未通过 SQLite 完整性检查，首个：{first}",
                    self.integrity.len()
                ),
            ));
        }
        self.verify.error()
    }
}

/// One stored ledger row.
struct LedgerRow {
    seq: i64,
    hash: Vec<u8>,
    bytes: Vec<u8>,
    sig: Vec<u8>,
    kind: String,
    case_id: Option<String>,
    at: String,
}

/// A case as its entries describe it.
#[derive(Debug, Clone, PartialEq)]
struct CaseRow {
    case_number: Option<String>,
    opened_at: String,
    status: String,
    /// The closing reason (`case.close`), `None` while the case is open.
    closed: Option<String>,
    open_seq: i64,
    last_seq: i64,
}

/// A record version as its entry describes it.
#[derive(Debug, Clone, PartialEq)]
struct VersionRow {
    entry_seq: i64,
    kind: String,
}

/// An evidence row as its entry describes it (the chunk manifest by its count and hash).
#[derive(Debug, Clone, PartialEq)]
struct EvidenceRow {
    case_id: String,
    entry_seq: i64,
    kind: String,
    file_name: String,
    sha256: String,
    size: i64,
    chunk_size: i64,
    chunk_count: i64,
    chunks_sha256: String,
}

/// Everything the ledger materialises, re-derived from the signed bytes.
#[derive(Default)]
struct Derived {
    cases: BTreeMap<String, CaseRow>,
    versions: BTreeMap<(String, String, i64), VersionRow>,
    evidence: BTreeMap<String, EvidenceRow>,
}

/// Collects findings.
struct Findings {
    problems: Vec<StoreProblem>,
    /// seq → hash (hex) of every stored entry.
    hashes: BTreeMap<i64, String>,
    head: i64,
}

impl Findings {
    fn push(
        &mut self,
        code: &str,
        table: &str,
        row: Option<String>,
        seq: Option<i64>,
        field: Option<&str>,
        message: String,
    ) {
        self.problems.push(StoreProblem {
            code: code.to_string(),
            table: table.to_string(),
            row,
            entry_seq: seq.map(|s| s.max(0) as u64),
            entry_hash: seq.and_then(|s| self.hashes.get(&s).cloned()),
            field: field.map(str::to_string),
            message,
        });
    }

    /// A reference from `table` to entry `seq`, which must be in the ledger. Returns whether it is.
    fn entry_ref(&mut self, table: &str, row: &str, seq: i64, missing_code: &str) -> bool {
        if self.hashes.contains_key(&seq) {
            return true;
        }
        if seq > self.head {
            self.push(
                code::TAIL_MISSING,
                table,
                Some(row.to_string()),
                Some(seq),
                None,
                format!(
                    "{table} 表的 {row} 指向账本第 {seq} 条记录，但账本只到第 {} 条：账本末尾的记录已被删除",
                    self.head
                ),
            );
        } else {
            self.push(
                missing_code,
                table,
                Some(row.to_string()),
                Some(seq),
                None,
                format!("{table} 表的 {row} 指向账本第 {seq} 条记录，但账本中没有这条记录"),
            );
        }
        false
    }

    fn mismatch(
        &mut self,
        table: &str,
        row: &str,
        seq: i64,
        field: &str,
        stored: &str,
        ledger: &str,
    ) {
        self.push(
            code::ROW_MISMATCH,
            table,
            Some(row.to_string()),
            Some(seq),
            Some(field),
            format!(
                "{table} 表的 {row} 的 {field} 为 {stored}，而账本第 {seq} 条记录为 {ledger}：该行已被改动"
            ),
        );
    }
}

fn text(v: Option<&str>) -> String {
    match v {
        Some(s) => format!("“{s}”"),
        None => "空".to_string(),
    }
}

fn read_ledger(conn: &Connection) -> Result<Vec<LedgerRow>> {
    let mut stmt = conn
        .prepare("SELECT seq, hash, bytes, sig, kind, case_id, at FROM ledger ORDER BY rowid")
        .map_err(db::store_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(LedgerRow {
                seq: r.get(0)?,
                hash: r.get(1)?,
                bytes: r.get(2)?,
                sig: r.get(3)?,
                kind: r.get(4)?,
                case_id: r.get(5)?,
                at: r.get(6)?,
            })
        })
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db::store_err)?;
    Ok(rows)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_i64()
}

/// Re-derive the materialised rows from the entries that open (hash, signature, shape); an entry
/// that does not open is the chain's finding, not a row's.
fn derive(rows: &[LedgerRow], f: &mut Findings) -> Derived {
    let mut d = Derived::default();
    for row in rows {
        let Ok(entry) = ledger::open(&row.bytes, &row.sig, Some(&row.hash)) else {
            continue;
        };
        check_ledger_columns(row, &entry, f);
        let seq = entry.seq as i64;
        let Some(case) = entry.case.clone() else {
            continue;
        };
        let body = &entry.body;
        match entry.kind {
            EntryKind::CaseOpen => {
                d.cases.insert(
                    case.clone(),
                    CaseRow {
                        case_number: str_at(body, &["case_number"]).map(str::to_string),
                        opened_at: entry.at.clone(),
                        status: "draft".to_string(),
                        closed: None,
                        open_seq: seq,
                        last_seq: seq,
                    },
                );
                derive_version(&mut d, &case, body, 1, seq);
            }
            EntryKind::RecordCreate => {
                derive_version(&mut d, &case, body, 1, seq);
                touch(&mut d, &case, seq, None, None);
            }
            EntryKind::RecordAmend => {
                let version = int_at(body, &["version"]).unwrap_or(0);
                derive_version(&mut d, &case, body, version, seq);
                let number = str_at(body, &["record", "case_number"]);
                touch(&mut d, &case, seq, number, None);
            }
            EntryKind::EvidenceAdd => {
                if let Some(id) = str_at(body, &["evidence_id"]) {
                    d.evidence.insert(
                        id.to_string(),
                        EvidenceRow {
                            case_id: case.clone(),
                            entry_seq: seq,
                            kind: str_at(body, &["kind"]).unwrap_or_default().to_string(),
                            file_name: str_at(body, &["file_name"]).unwrap_or_default().to_string(),
                            sha256: str_at(body, &["sha256"]).unwrap_or_default().to_string(),
                            size: int_at(body, &["size"]).unwrap_or(-1),
                            chunk_size: int_at(body, &["chunk_size"]).unwrap_or(-1),
                            chunk_count: int_at(body, &["chunk_count"]).unwrap_or(-1),
                            chunks_sha256: str_at(body, &["chunks_sha256"])
                                .unwrap_or_default()
                                .to_string(),
                        },
                    );
                }
                touch(&mut d, &case, seq, None, None);
            }
            EntryKind::CaseFinalize => touch(&mut d, &case, seq, None, Some("finalized")),
            EntryKind::EntryVoid => touch(&mut d, &case, seq, None, Some("voided")),
            EntryKind::CaseClose => {
                touch(&mut d, &case, seq, None, None);
                if let Some(c) = d.cases.get_mut(&case) {
                    c.closed = str_at(body, &["reason"]).map(str::to_string);
                }
            }
            EntryKind::DecisionPenalty
            | EntryKind::DecisionNoPenalty
            | EntryKind::NoticeIssue
            | EntryKind::StatementRecord
            | EntryKind::MeasureApply
            | EntryKind::MeasureExtend
            | EntryKind::MeasureRelease
            | EntryKind::DocumentIssue
            | EntryKind::DeliveryRecord
            | EntryKind::PaymentRecord
            | EntryKind::EvidencePreserve
            | EntryKind::ReviewRequest
            | EntryKind::ReviewOpinion => touch(&mut d, &case, seq, None, None),
        }
    }
    d
}

fn derive_version(d: &mut Derived, case: &str, body: &Value, version: i64, seq: i64) {
    let Some(record_id) = str_at(body, &["record_id"]) else {
        return;
    };
    let kind = str_at(body, &["record", "kind"]).unwrap_or_default();
    d.versions.insert(
        (case.to_string(), record_id.to_string(), version),
        VersionRow {
            entry_seq: seq,
            kind: kind.to_string(),
        },
    );
}

fn touch(d: &mut Derived, case: &str, seq: i64, number: Option<&str>, status: Option<&str>) {
    if let Some(c) = d.cases.get_mut(case) {
        c.last_seq = seq;
        if let Some(n) = number {
            c.case_number = Some(n.to_string());
        }
        if let Some(s) = status {
            c.status = s.to_string();
        }
    }
}

/// The ledger's own columns beside the signed bytes (`seq`, `kind`, `case_id`, `at`) are what the
/// queries use: they must say what the bytes say.
fn check_ledger_columns(row: &LedgerRow, entry: &LedgerEntry, f: &mut Findings) {
    let seq = entry.seq as i64;
    let key = format!("seq {}", row.seq);
    if row.seq != seq {
        f.mismatch(
            "ledger",
            &key,
            row.seq,
            "seq",
            &row.seq.to_string(),
            &seq.to_string(),
        );
    }
    if row.kind != entry.kind.as_str() {
        f.mismatch("ledger", &key, seq, "kind", &row.kind, entry.kind.as_str());
    }
    if row.case_id != entry.case {
        f.mismatch(
            "ledger",
            &key,
            seq,
            "case_id",
            &text(row.case_id.as_deref()),
            &text(entry.case.as_deref()),
        );
    }
    if row.at != entry.at {
        f.mismatch("ledger", &key, seq, "at", &row.at, &entry.at);
    }
}

fn compare_cases(conn: &Connection, d: &Derived, f: &mut Findings) -> Result<u64> {
    let mut stmt = conn
        .prepare("SELECT id, case_number, opened_at, status, open_seq, last_seq, closed FROM cases")
        .map_err(db::store_err)?;
    let stored = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                CaseRow {
                    case_number: r.get(1)?,
                    opened_at: r.get(2)?,
                    status: r.get(3)?,
                    closed: r.get(6)?,
                    open_seq: r.get(4)?,
                    last_seq: r.get(5)?,
                },
            ))
        })
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()
        .map_err(db::store_err)?;
    for (id, row) in &stored {
        let key = format!("案件 {id}");
        let Some(want) = d.cases.get(id) else {
            if f.entry_ref("cases", &key, row.open_seq, code::ROW_UNBACKED)
                && f.entry_ref("cases", &key, row.last_seq, code::ROW_UNBACKED)
            {
                f.push(
                    code::ROW_UNBACKED,
                    "cases",
                    Some(key),
                    Some(row.open_seq),
                    None,
                    format!("案件 {id} 没有对应的立案记录（case.open）：该行不是由账本产生的"),
                );
            }
            continue;
        };
        let s = want.open_seq;
        if row.case_number != want.case_number {
            f.mismatch(
                "cases",
                &key,
                s,
                "case_number",
                &text(row.case_number.as_deref()),
                &text(want.case_number.as_deref()),
            );
        }
        if row.opened_at != want.opened_at {
            f.mismatch(
                "cases",
                &key,
                s,
                "opened_at",
                &row.opened_at,
                &want.opened_at,
            );
        }
        if row.status != want.status {
            f.mismatch(
                "cases",
                &key,
                want.last_seq,
                "status",
                &row.status,
                &want.status,
            );
        }
        if row.closed != want.closed {
            f.mismatch(
                "cases",
                &key,
                want.last_seq,
                "closed",
                &text(row.closed.as_deref()),
                &text(want.closed.as_deref()),
            );
        }
        if row.open_seq != want.open_seq {
            f.mismatch(
                "cases",
                &key,
                s,
                "open_seq",
                &row.open_seq.to_string(),
                &want.open_seq.to_string(),
            );
        }
        if row.last_seq != want.last_seq
            && f.entry_ref("cases", &key, row.last_seq, code::ROW_MISMATCH)
        {
            f.mismatch(
                "cases",
                &key,
                want.last_seq,
                "last_seq",
                &row.last_seq.to_string(),
                &want.last_seq.to_string(),
            );
        }
    }
    for (id, want) in &d.cases {
        if !stored.contains_key(id) {
            f.push(
                code::ROW_MISSING,
                "cases",
                Some(format!("案件 {id}")),
                Some(want.open_seq),
                None,
                format!(
                    "账本第 {} 条记录立了案件 {id}，但 cases 表中没有这一行",
                    want.open_seq
                ),
            );
        }
    }
    Ok(stored.len() as u64)
}

fn compare_versions(conn: &Connection, d: &Derived, f: &mut Findings) -> Result<u64> {
    let mut stmt = conn
        .prepare("SELECT case_id, record_id, version, entry_seq, kind FROM record_versions")
        .map_err(db::store_err)?;
    let stored = stmt
        .query_map([], |r| {
            Ok((
                (
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ),
                VersionRow {
                    entry_seq: r.get(3)?,
                    kind: r.get(4)?,
                },
            ))
        })
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()
        .map_err(db::store_err)?;
    for ((case, record, version), row) in &stored {
        let key = format!("笔录 {case}/{record} 第 {version} 版");
        let Some(want) = d.versions.get(&(case.clone(), record.clone(), *version)) else {
            if f.entry_ref("record_versions", &key, row.entry_seq, code::ROW_UNBACKED) {
                f.push(
                    code::ROW_UNBACKED,
                    "record_versions",
                    Some(key.clone()),
                    Some(row.entry_seq),
                    None,
                    format!(
                        "{key} 指向的账本第 {} 条记录并未写入这一版本：该行不是由账本产生的",
                        row.entry_seq
                    ),
                );
            }
            continue;
        };
        if row.entry_seq != want.entry_seq {
            f.mismatch(
                "record_versions",
                &key,
                want.entry_seq,
                "entry_seq",
                &row.entry_seq.to_string(),
                &want.entry_seq.to_string(),
            );
        }
        if row.kind != want.kind {
            f.mismatch(
                "record_versions",
                &key,
                want.entry_seq,
                "kind",
                &row.kind,
                &want.kind,
            );
        }
    }
    for ((case, record, version), want) in &d.versions {
        if !stored.contains_key(&(case.clone(), record.clone(), *version)) {
            f.push(
                code::ROW_MISSING,
                "record_versions",
                Some(format!("笔录 {case}/{record} 第 {version} 版")),
                Some(want.entry_seq),
                None,
                format!(
                    "账本第 {} 条记录写入了笔录 {record} 第 {version} 版，但 record_versions 表中没有这一行",
                    want.entry_seq
                ),
            );
        }
    }
    Ok(stored.len() as u64)
}

/// A stored evidence row.
struct StoredEvidence {
    case_id: String,
    entry_seq: i64,
    kind: String,
    path: String,
    sha256: String,
    size: i64,
    chunk_size: i64,
    chunks: Vec<u8>,
}

fn compare_evidence(conn: &Connection, d: &Derived, f: &mut Findings) -> Result<u64> {
    let mut stmt = conn
        .prepare("SELECT id, case_id, entry_seq, kind, path, sha256, size, chunk_size, chunks FROM evidence")
        .map_err(db::store_err)?;
    let stored = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                StoredEvidence {
                    case_id: r.get(1)?,
                    entry_seq: r.get(2)?,
                    kind: r.get(3)?,
                    path: r.get(4)?,
                    sha256: r.get(5)?,
                    size: r.get(6)?,
                    chunk_size: r.get(7)?,
                    chunks: r.get(8)?,
                },
            ))
        })
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()
        .map_err(db::store_err)?;
    for (id, row) in &stored {
        let key = format!("证据 {id}");
        let Some(want) = d.evidence.get(id) else {
            if f.entry_ref("evidence", &key, row.entry_seq, code::ROW_UNBACKED) {
                f.push(
                    code::ROW_UNBACKED,
                    "evidence",
                    Some(key.clone()),
                    Some(row.entry_seq),
                    None,
                    format!("{key} 没有对应的证据登记记录（evidence.add）：该行不是由账本产生的"),
                );
            }
            continue;
        };
        let s = want.entry_seq;
        let t = "evidence";
        if row.case_id != want.case_id {
            f.mismatch(t, &key, s, "case_id", &row.case_id, &want.case_id);
        }
        if row.entry_seq != want.entry_seq {
            f.mismatch(
                t,
                &key,
                s,
                "entry_seq",
                &row.entry_seq.to_string(),
                &s.to_string(),
            );
        }
        if row.kind != want.kind {
            f.mismatch(t, &key, s, "kind", &row.kind, &want.kind);
        }
        let name = std::path::Path::new(&row.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name != want.file_name {
            f.mismatch(
                t,
                &key,
                s,
                "path",
                &row.path,
                &format!("文件名 {}", want.file_name),
            );
        }
        if row.sha256 != want.sha256 {
            f.mismatch(t, &key, s, "sha256", &row.sha256, &want.sha256);
        }
        if row.size != want.size {
            f.mismatch(
                t,
                &key,
                s,
                "size",
                &row.size.to_string(),
                &want.size.to_string(),
            );
        }
        if row.chunk_size != want.chunk_size {
            f.mismatch(
                t,
                &key,
                s,
                "chunk_size",
                &row.chunk_size.to_string(),
                &want.chunk_size.to_string(),
            );
        }
        let count = (row.chunks.len() / 32) as i64;
        let manifest = hex::encode(ledger::sha256(&row.chunks));
        if !row.chunks.len().is_multiple_of(32)
            || count != want.chunk_count
            || manifest != want.chunks_sha256
        {
            f.mismatch(
                t,
                &key,
                s,
                "chunks",
                &format!("{count} 块，清单哈希 {manifest}"),
                &format!("{} 块，清单哈希 {}", want.chunk_count, want.chunks_sha256),
            );
        }
    }
    for (id, want) in &d.evidence {
        if !stored.contains_key(id) {
            f.push(
                code::ROW_MISSING,
                "evidence",
                Some(format!("证据 {id}")),
                Some(want.entry_seq),
                None,
                format!(
                    "账本第 {} 条记录登记了证据 {id}，但 evidence 表中没有这一行",
                    want.entry_seq
                ),
            );
        }
    }
    Ok(stored.len() as u64)
}

/// A stored receipt.
struct ReceiptRow {
    seq: i64,
    leaf_index: i64,
    proof: Vec<u8>,
    checkpoint: String,
}

/// Receipts against the ledger (and their proofs against the pinned log key), then the outbox.
/// Returns the receipts checked.
fn check_receipts_and_outbox(
    conn: &Connection,
    rows: &[LedgerRow],
    f: &mut Findings,
) -> Result<u64> {
    let mut stmt = conn
        // First receipts, and the receipts a later log origin gave entries re-submitted after a
        // rollover (`renewed_receipts`): each is checked against the key of its own origin.
        .prepare(
            "SELECT entry_seq, leaf_index, inclusion_proof, checkpoint FROM receipts
             UNION ALL
             SELECT entry_seq, leaf_index, inclusion_proof, checkpoint FROM renewed_receipts
             ORDER BY 1",
        )
        .map_err(db::store_err)?;
    let receipts = stmt
        .query_map([], |r| {
            Ok(ReceiptRow {
                seq: r.get(0)?,
                leaf_index: r.get(1)?,
                proof: r.get(2)?,
                checkpoint: r.get(3)?,
            })
        })
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db::store_err)?;
    let pinned: Option<(String, String)> = {
        use rusqlite::OptionalExtension;
        conn.query_row(
            "SELECT log_verifier_key, log_origin FROM sync_config WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db::store_err)?
    };
    if pinned.is_none() && !receipts.is_empty() {
        f.push(
            code::RECEIPT_UNVERIFIABLE,
            "receipts",
            None,
            None,
            None,
            format!(
                "保存了 {} 张服务器回执，但没有登记信息（固定的日志公钥），回执无法核对：登记信息可能已被删除",
                receipts.len()
            ),
        );
    }
    // The verifier key of every origin the device has followed: the pinned one, and each origin a
    // rollover ended (same key, another name).
    let mut origins: BTreeMap<String, String> = BTreeMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT old_origin, old_verifier_key FROM log_rollovers")
            .map_err(db::store_err)?;
        let ended = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db::store_err)?;
        for row in ended {
            let (origin, key) = row.map_err(db::store_err)?;
            origins.insert(origin, key);
        }
    }
    if let Some((key, origin)) = &pinned {
        origins.insert(origin.clone(), key.clone());
    }
    let by_seq: BTreeMap<i64, &LedgerRow> = rows.iter().map(|r| (r.seq, r)).collect();
    for r in &receipts {
        let key = format!("第 {} 条记录的回执", r.seq);
        if !f.entry_ref("receipts", &key, r.seq, code::RECEIPT_ENTRY_MISSING) {
            continue;
        }
        let Some((pinned_key, pinned_origin)) = &pinned else {
            continue;
        };
        let Some(entry) = by_seq.get(&r.seq) else {
            continue;
        };
        // The checkpoint's first line is its origin; an origin never followed is checked against
        // the pinned one, and fails.
        let (origin, log_key) = r
            .checkpoint
            .lines()
            .next()
            .and_then(|o| origins.get_key_value(o))
            .unwrap_or((pinned_origin, pinned_key));
        if let Err(e) = prove_receipt(r, &entry.hash, log_key, origin) {
            let code = if e.code() == "RECEIPT_INVALID" {
                code::RECEIPT_MISMATCH
            } else {
                code::RECEIPT_CHECKPOINT
            };
            f.push(
                code,
                "receipts",
                Some(key.clone()),
                Some(r.seq),
                None,
                format!("{key} 与账本中的记录不符：{}", e.message()),
            );
        }
    }
    let receipted: BTreeSet<i64> = receipts.iter().map(|r| r.seq).collect();
    // Entries a rollover put back into the outbox: receipted by an ended origin, queued again
    // until the current one receipts them.
    let awaiting_renewal: BTreeSet<i64> = {
        let mut stmt = conn
            .prepare(
                "SELECT s.entry_seq FROM resubmissions s WHERE NOT EXISTS
                   (SELECT 1 FROM renewed_receipts n
                    WHERE n.rollover_id = s.rollover_id AND n.entry_seq = s.entry_seq)",
            )
            .map_err(db::store_err)?;
        let seqs = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<BTreeSet<_>>>()
            .map_err(db::store_err)?;
        seqs
    };
    let mut stmt = conn
        .prepare("SELECT entry_seq FROM outbox ORDER BY entry_seq")
        .map_err(db::store_err)?;
    let queued = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<BTreeSet<_>>>()
        .map_err(db::store_err)?;
    for seq in &queued {
        let key = format!("待上传的第 {seq} 条记录");
        if !f.entry_ref("outbox", &key, *seq, code::OUTBOX_ORPHAN) {
            continue;
        }
        if receipted.contains(seq) && !awaiting_renewal.contains(seq) {
            f.push(
                code::OUTBOX_HAS_RECEIPT,
                "outbox",
                Some(key),
                Some(*seq),
                None,
                format!("账本第 {seq} 条记录已有服务器回执，却仍在待上传队列中"),
            );
        }
    }
    for row in rows {
        if !queued.contains(&row.seq) && !receipted.contains(&row.seq) {
            f.push(
                code::OUTBOX_ENTRY_LOST,
                "outbox",
                Some(format!("第 {} 条记录", row.seq)),
                Some(row.seq),
                None,
                format!(
                    "账本第 {} 条记录既不在待上传队列中，也没有服务器回执：它被移出了队列却从未被服务器确认",
                    row.seq
                ),
            );
        }
    }
    Ok(receipts.len() as u64)
}

#[cfg(feature = "sync")]
fn prove_receipt(r: &ReceiptRow, entry_hash: &[u8], log_key: &str, origin: &str) -> Result<()> {
    use crate::sync::verify;
    let cp = verify::checkpoint(&r.checkpoint, log_key, origin)?;
    if !r.proof.len().is_multiple_of(32) {
        return Err(RoadsideError::ledger(
            "RECEIPT_INVALID",
            "包含证明的长度不是 32 字节的整数倍",
        ));
    }
    let proof: Vec<[u8; 32]> = r
        .proof
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    let hash: [u8; 32] = entry_hash
        .try_into()
        .map_err(|_| RoadsideError::ledger("RECEIPT_INVALID", "账本中这条记录的哈希长度错误"))?;
    verify::inclusion(&proof, &cp, r.leaf_index.max(0) as u64, &hash)
}

/// Without the sync client there is no log key to check a proof with; the receipt's presence and
/// its entry are still checked.
#[cfg(not(feature = "sync"))]
fn prove_receipt(_: &ReceiptRow, _: &[u8], _: &str, _: &str) -> Result<()> {
    Ok(())
}

impl Store {
    /// Verify the store: the ledger chain, its tail against the receipts, the outbox, and every
    /// materialised row against the entries it comes from (see the module documentation). One
    /// read transaction, so the answer is about one moment.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut conn = lock(&self.reader);
        let tx = conn.transaction().map_err(db::store_err)?;
        let report = verify_in(&tx, &self.device_id())?;
        tx.finish().map_err(db::store_err)?;
        Ok(report)
    }

    /// Check the whole store: SQLCipher's HMAC of every page (`PRAGMA cipher_integrity_check`),
    /// SQLite's structure (`PRAGMA integrity_check`), then [`Store::verify`].
    ///
    /// A damaged page does not stop the check: what could not be read is reported as a finding
    /// (`STORE_CORRUPT`), so the report says everything that was found.
    pub fn check(&self) -> Result<StoreCheckReport> {
        let mut conn = lock(&self.reader);
        let cipher_integrity = pragma_lines(&conn, "PRAGMA cipher_integrity_check");
        let integrity: Vec<String> = pragma_lines(&conn, "PRAGMA integrity_check")
            .into_iter()
            .filter(|l| l != "ok")
            .collect();
        let device = self.device_id();
        let verify = conn
            .transaction()
            .map_err(db::store_err)
            .and_then(|tx| {
                let report = verify_in(&tx, &device)?;
                tx.finish().map_err(db::store_err)?;
                Ok(report)
            })
            .or_else(|e| {
                if e.code() != code::FILE_CORRUPT {
                    return Err(e);
                }
                Ok(VerifyReport {
                    ok: false,
                    entries: 0,
                    head_seq: 0,
                    head_hash: None,
                    first_broken: None,
                    receipts_checked: 0,
                    rows_checked: 0,
                    problems: vec![StoreProblem {
                        code: e.code().to_string(),
                        table: String::new(),
                        row: None,
                        entry_seq: None,
                        entry_hash: None,
                        field: None,
                        message: format!("无法读完账本和各表，核对未能进行：{}", e.message()),
                    }],
                })
            })?;
        Ok(StoreCheckReport {
            ok: cipher_integrity.is_empty() && integrity.is_empty() && verify.ok,
            cipher_integrity,
            integrity,
            verify,
        })
    }
}

/// The lines a checking pragma answers; a pragma that itself fails (it could not read a page) is
/// a finding too, so its error becomes the line.
fn pragma_lines(conn: &Connection, sql: &str) -> Vec<String> {
    let run = || -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare(sql)?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(lines)
    };
    run().unwrap_or_else(|e| vec![format!("{sql}: {e}")])
}

fn verify_in(conn: &Connection, device: &str) -> Result<VerifyReport> {
    let rows = read_ledger(conn)?;
    let chain = ledger::verify_chain(
        device,
        rows.iter().enumerate().map(|(i, r)| StoredEntryRef {
            position: i as u64 + 1,
            bytes: &r.bytes,
            hash: &r.hash,
            sig: &r.sig,
        }),
    );
    let mut f = Findings {
        problems: Vec::new(),
        hashes: rows.iter().map(|r| (r.seq, hex::encode(&r.hash))).collect(),
        head: rows.iter().map(|r| r.seq).max().unwrap_or(0),
    };
    let receipts_checked = check_receipts_and_outbox(conn, &rows, &mut f)?;
    let derived = derive(&rows, &mut f);
    let rows_checked = rows.len() as u64
        + compare_cases(conn, &derived, &mut f)?
        + compare_versions(conn, &derived, &mut f)?
        + compare_evidence(conn, &derived, &mut f)?;
    Ok(VerifyReport {
        ok: chain.ok && f.problems.is_empty(),
        entries: chain.entries,
        head_seq: chain.head_seq,
        head_hash: chain.head_hash,
        first_broken: chain.first_broken,
        receipts_checked,
        rows_checked,
        problems: f.problems,
    })
}
