//! The device store: an SQLCipher-encrypted SQLite database holding the device key, the signed
//! ledger, the cases and records it materialises, evidence declarations and the outbox.
//!
//! Every officer action is **one transaction** (`BEGIN IMMEDIATE`) that appends a signed ledger
//! entry, writes the rows the entry materialises and queues the entry in the outbox — all or
//! nothing. Nothing is updated in place: an amendment is a new record version with a new entry that
//! names the entry it supersedes; a void is an entry naming what it voids.
//!
//! One writer connection and one reader connection, both in WAL mode, so the form can list cases
//! while a write commits.

pub mod check;
mod db;
pub mod documents;
#[cfg(feature = "sync")]
pub mod review;
pub mod rollover;
pub mod schema;
pub mod steps;
#[cfg(feature = "sync")]
pub mod sync;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use serde_json::json;

pub use check::{StoreCheckReport, StoreProblem, VerifyReport};
pub use db::{create_data_dir, Durability, KEY_CHECK_FILE};

use crate::error::{Issue, Result, RoadsideError};
use crate::evidence::{self, EvidenceDigest};
use crate::ledger::{self, ChainReport, DeviceKey, EntryKind, SignedEntry, StoredEntryRef};
use crate::model::{CaseStatus, EvidenceKind, InspectionRecord, OfficerCertificate};
use crate::validate::{self, ValidationContext};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "roadside.db";

/// What a case looks like in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct CaseSummary {
    pub id: String,
    pub case_number: Option<String>,
    pub status: CaseStatus,
    /// When the case was opened on this device (RFC 3339, UTC).
    pub opened_at: String,
    pub records: u32,
    pub evidence: u32,
    /// Sequence number of the newest ledger entry about this case.
    pub last_entry_seq: u64,
}

/// One version of a record, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct RecordVersion {
    pub record_id: String,
    pub version: u32,
    /// Hash (hex) of the ledger entry that wrote this version.
    pub entry_hash: String,
    pub record: InspectionRecord,
}

/// An evidence file declared in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct EvidenceInfo {
    pub id: String,
    pub case_id: String,
    pub kind: EvidenceKind,
    /// Where the file lives on this device.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub chunk_count: u32,
    pub entry_seq: u64,
    pub entry_hash: String,
}

/// A case with its records (newest version of each) and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct CaseDetail {
    pub summary: CaseSummary,
    pub records: Vec<RecordVersion>,
    pub evidence: Vec<EvidenceInfo>,
}

/// Capture metadata for an evidence file (GA/T 947 style clip metadata).
#[derive(Debug, Clone, PartialEq, Default, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct EvidenceMeta {
    /// Recording start (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// Recording end (RFC 3339).
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Where the capture clock came from: "gnss", "network", "device".
    #[serde(default)]
    pub clock_source: Option<String>,
    /// The "important" mark that protects a clip from loop overwrite on the recorder.
    #[serde(default)]
    pub important: bool,
}

/// One exported ledger entry: the exact signed bytes plus hash and signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ExportedEntry {
    pub seq: u64,
    pub hash: String,
    /// Signature, lowercase hex.
    pub sig: String,
    /// The canonical JSON bytes exactly as signed (UTF-8).
    pub bytes: String,
}

/// The device store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Store {
    path: PathBuf,
    // Field order is drop order: the reader closes first, so the writer is the last connection and
    // checkpoints the WAL into the database file when the store is closed.
    reader: Mutex<Connection>,
    writer: Mutex<Connection>,
    key: DeviceKey,
    clock: fn() -> DateTime<Utc>,
    /// The roster as last read; replaced by `import_roster`, read by every validation.
    roster: Mutex<Option<std::sync::Arc<Vec<OfficerCertificate>>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("device", &self.key.public_hex())
            .finish()
    }
}

fn now_rfc3339(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave a half-written transaction behind (SQLite rolls
    // back an unfinished transaction when it is dropped), so a poisoned lock is safe to reuse.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A case id: a UUIDv7 whose timestamp is the opening time, so ids sort in opening order.
fn case_id_at(t: DateTime<Utc>) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        t.timestamp().max(0) as u64,
        t.timestamp_subsec_nanos(),
    );
    uuid::Uuid::new_v7(ts).to_string()
}

/// The text every UUIDv7 made at or after `millis` (and before the next millisecond's prefix)
/// starts with: the 48-bit timestamp as `xxxxxxxx-xxxx`.
fn uuid7_prefix(millis: i64) -> String {
    let ms = millis.max(0) as u64 & 0xFFFF_FFFF_FFFF;
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xFFFF)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Store {
    /// Open (or create) the store in `dir` with the platform-supplied 32-byte key. Creates the
    /// device's Ed25519 key on first start and keeps it inside the encrypted database.
    ///
    /// On Unix a new data directory is made 0700 and the database 0600 (see `db.rs` for this and for
    /// how a damaged first page is told from a wrong key: `STORE_CORRUPT` vs `STORE_WRONG_KEY`).
    pub fn open(dir: &Path, key: &[u8; 32], durability: Durability) -> Result<Store> {
        db::create_data_dir(dir)?;
        let path = dir.join(DB_FILE);
        let had_content = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        if !had_content && dir.join(db::KEY_CHECK_FILE).exists() {
            // SQLite would silently start a new, empty database (and a new device identity) in an
            // empty file; a key check beside it says a database was here.
            return Err(RoadsideError::store(
                "STORE_CORRUPT",
                format!(
                    "数据库文件 {} 缺失或为空，但密钥校验文件 {} 表明此处曾有数据库：文件可能被截断或删除。\
                     请从备份恢复；确需重新开始时，先移走密钥校验文件",
                    path.display(),
                    db::KEY_CHECK_FILE
                ),
            ));
        }
        db::prepare_db_file(&path)?;
        let mut writer = db::open_connection(&path, key, durability, false)?;
        schema::migrate(&mut writer)?;
        let device_key = load_or_create_device_key(&mut writer)?;
        db::ensure_key_check(&path, key)?;
        let reader = db::open_connection(&path, key, durability, true)?;
        Ok(Store {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            key: device_key,
            clock: Utc::now,
            roster: Mutex::new(None),
        })
    }

    /// Use another clock (tests, benchmarks, replaying a day). The ledger's `at` and the case's
    /// opening day come from it.
    pub fn with_clock(mut self, clock: fn() -> DateTime<Utc>) -> Store {
        self.clock = clock;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This device's public key (lowercase hex), which is also its id in the ledger.
    pub fn device_id(&self) -> String {
        self.key.public_hex()
    }

    /// Replace the officer roster used for offline validation (reference data, not a ledger action).
    pub fn import_roster(&self, roster: &[OfficerCertificate]) -> Result<u32> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db::store_err)?;
        tx.execute("DELETE FROM roster", [])
            .map_err(db::store_err)?;
        {
            let mut ins = tx
                .prepare("INSERT INTO roster (certificate_no, body) VALUES (?1, ?2)")
                .map_err(db::store_err)?;
            for (i, cert) in roster.iter().enumerate() {
                let body = serde_json::to_string(cert)
                    .map_err(|e| RoadsideError::internal("ROSTER_ENCODE", e.to_string()))?;
                ins.execute(params![cert.certificate_no, body])
                    .map_err(|e| match e.sqlite_error_code() {
                        Some(rusqlite::ErrorCode::ConstraintViolation) => {
                            RoadsideError::invalid_field(
                                &format!("roster[{i}].certificate_no"),
                                "ROSTER_DUPLICATE",
                                format!("执法证号 {} 重复", cert.certificate_no),
                            )
                        }
                        _ => db::store_err(e),
                    })?;
            }
        }
        tx.commit().map_err(db::store_err)?;
        *self.roster.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(std::sync::Arc::new(roster.to_vec()));
        Ok(roster.len() as u32)
    }

    /// The roster as stored.
    pub fn roster(&self) -> Result<Vec<OfficerCertificate>> {
        Ok(self.cached_roster()?.as_ref().clone())
    }

    pub(super) fn cached_roster(&self) -> Result<std::sync::Arc<Vec<OfficerCertificate>>> {
        let mut cache = self.roster.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = cache.as_ref() {
            return Ok(r.clone());
        }
        let fresh = std::sync::Arc::new(read_roster(&lock(&self.reader))?);
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// Validate a draft record against the stored roster (live validation for the form).
    pub fn validate(&self, record: &InspectionRecord) -> Result<Vec<Issue>> {
        let roster = self.cached_roster()?;
        let ctx = ValidationContext {
            roster: &roster,
            now: (self.clock)(),
        };
        Ok(validate::validate_record(record, &ctx))
    }

    /// Open a case with its first record. One transaction: the `case.open` entry (which carries the
    /// record), the case row, record version 1 and the outbox row.
    pub fn create_case(&self, record: &InspectionRecord) -> Result<CaseSummary> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        check_record(&self.cached_roster()?, record, now)?;
        let case_id = case_id_at(now);
        let record_id = new_id();
        let body = json!({
            "case_number": record.case_number,
            "record_id": record_id,
            "record": record,
        });
        let (seq, _) = self.append(
            &tx,
            now,
            officers_of(record),
            EntryKind::CaseOpen,
            Some(&case_id),
            body,
        )?;
        tx.execute(
            "INSERT INTO cases (id, case_number, opened_at, status, open_seq, last_seq)
             VALUES (?1, ?2, ?3, 'draft', ?4, ?4)",
            params![case_id, record.case_number, now_rfc3339(now), seq as i64],
        )
        .map_err(db::store_err)?;
        insert_version(&tx, &record_id, 1, &case_id, seq, record)?;
        tx.commit().map_err(db::store_err)?;
        Ok(CaseSummary {
            id: case_id,
            case_number: record.case_number.clone(),
            status: CaseStatus::Draft,
            opened_at: now_rfc3339(now),
            records: 1,
            evidence: 0,
            last_entry_seq: seq,
        })
    }

    /// Add another record (e.g. a 勘验笔录) to an open case.
    pub fn add_record(&self, case_id: &str, record: &InspectionRecord) -> Result<RecordVersion> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_draft(&tx, case_id)?;
        check_record(&self.cached_roster()?, record, now)?;
        let record_id = new_id();
        let body = json!({ "record_id": record_id, "record": record });
        let (seq, hash) = self.append(
            &tx,
            now,
            officers_of(record),
            EntryKind::RecordCreate,
            Some(case_id),
            body,
        )?;
        insert_version(&tx, &record_id, 1, case_id, seq, record)?;
        touch_case(&tx, case_id, seq, None)?;
        tx.commit().map_err(db::store_err)?;
        Ok(RecordVersion {
            record_id,
            version: 1,
            entry_hash: hex::encode(hash),
            record: record.clone(),
        })
    }

    /// Amend a record: a new version, in a `record.amend` entry naming the entry it supersedes.
    pub fn amend_record(
        &self,
        case_id: &str,
        record_id: &str,
        record: &InspectionRecord,
    ) -> Result<RecordVersion> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_draft(&tx, case_id)?;
        check_record(&self.cached_roster()?, record, now)?;
        let (version, superseded): (u32, Vec<u8>) = tx
            .query_row(
                "SELECT v.version, l.hash FROM record_versions v JOIN ledger l ON l.seq = v.entry_seq
                 WHERE v.record_id = ?1 AND v.case_id = ?2 ORDER BY v.version DESC LIMIT 1",
                params![record_id, case_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db::store_err)?
            .ok_or_else(|| {
                RoadsideError::not_found(
                    "RECORD_NOT_FOUND",
                    format!("案件 {case_id} 中没有笔录 {record_id}"),
                )
            })?;
        let body = json!({
            "record_id": record_id,
            "version": version + 1,
            "supersedes": hex::encode(&superseded),
            "record": record,
        });
        let (seq, hash) = self.append(
            &tx,
            now,
            officers_of(record),
            EntryKind::RecordAmend,
            Some(case_id),
            body,
        )?;
        insert_version(&tx, record_id, version + 1, case_id, seq, record)?;
        let number_changed = record.case_number.clone();
        touch_case(&tx, case_id, seq, number_changed.as_deref())?;
        tx.commit().map_err(db::store_err)?;
        Ok(RecordVersion {
            record_id: record_id.to_string(),
            version: version + 1,
            entry_hash: hex::encode(hash),
            record: record.clone(),
        })
    }

    /// Hash an evidence file (streaming, outside any transaction) and declare it in a signed
    /// `evidence.add` entry. The file is only read, never modified.
    pub fn attach_evidence(
        &self,
        case_id: &str,
        path: &Path,
        kind: EvidenceKind,
        meta: &EvidenceMeta,
    ) -> Result<EvidenceInfo> {
        self.attach_evidence_with_progress(case_id, path, kind, meta, &mut |_, _| true)
    }

    /// [`Store::attach_evidence`] with a progress callback (bytes done, total) that may cancel.
    pub fn attach_evidence_with_progress(
        &self,
        case_id: &str,
        path: &Path,
        kind: EvidenceKind,
        meta: &EvidenceMeta,
        progress: &mut dyn FnMut(u64, u64) -> bool,
    ) -> Result<EvidenceInfo> {
        check_evidence_meta(meta)?;
        {
            let conn = lock(&self.reader);
            require_draft(&conn, case_id)?;
        }
        let digest = evidence::hash_file_with_progress(path, progress)?;
        self.declare_evidence(case_id, path, kind, meta, &digest)
    }

    /// Declare evidence whose digest was computed while recording (incremental hashing).
    pub fn declare_evidence(
        &self,
        case_id: &str,
        path: &Path,
        kind: EvidenceKind,
        meta: &EvidenceMeta,
        digest: &EvidenceDigest,
    ) -> Result<EvidenceInfo> {
        check_evidence_meta(meta)?;
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_draft(&tx, case_id)?;
        let info = self.insert_evidence(&tx, now, case_id, path, kind, meta, digest)?;
        tx.commit().map_err(db::store_err)?;
        Ok(info)
    }

    /// Declare evidence inside `tx`: the `evidence.add` entry, the evidence row, the case touched.
    #[allow(clippy::too_many_arguments)]
    fn insert_evidence(
        &self,
        tx: &Transaction,
        now: DateTime<Utc>,
        case_id: &str,
        path: &Path,
        kind: EvidenceKind,
        meta: &EvidenceMeta,
        digest: &EvidenceDigest,
    ) -> Result<EvidenceInfo> {
        let officers = case_officers(tx, case_id)?;
        let evidence_id = new_id();
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let body = json!({
            "evidence_id": evidence_id,
            "kind": kind.as_str(),
            "file_name": file_name,
            "sha256": digest.sha256,
            "size": digest.size,
            "chunk_size": digest.chunk_size,
            "chunk_count": digest.chunk_hashes.len(),
            "chunks_sha256": digest.chunks_sha256,
            "started_at": meta.started_at,
            "ended_at": meta.ended_at,
            "latitude": meta.latitude,
            "longitude": meta.longitude,
            "clock_source": meta.clock_source,
            "important": meta.important,
        });
        let (seq, hash) = self.append(
            tx,
            now,
            officers,
            EntryKind::EvidenceAdd,
            Some(case_id),
            body,
        )?;
        let mut chunks = Vec::with_capacity(digest.chunk_hashes.len() * 32);
        for (i, h) in digest.chunk_hashes.iter().enumerate() {
            let raw = hex::decode(h).map_err(|_| {
                RoadsideError::invalid_field(
                    &format!("chunk_hashes[{i}]"),
                    "EVIDENCE_CHUNK_HASH",
                    "分块哈希不是有效的十六进制",
                )
            })?;
            chunks.extend_from_slice(&raw);
        }
        let path_text = path.to_string_lossy().into_owned();
        tx.execute(
            "INSERT INTO evidence (id, case_id, entry_seq, kind, path, sha256, size, chunk_size, chunks)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                evidence_id,
                case_id,
                seq as i64,
                kind.as_str(),
                path_text,
                digest.sha256,
                digest.size as i64,
                digest.chunk_size,
                chunks
            ],
        )
        .map_err(db::store_err)?;
        touch_case(tx, case_id, seq, None)?;
        Ok(EvidenceInfo {
            id: evidence_id,
            case_id: case_id.to_string(),
            kind,
            path: path_text,
            sha256: digest.sha256.clone(),
            size: digest.size,
            chunk_count: digest.chunk_hashes.len() as u32,
            entry_seq: seq,
            entry_hash: hex::encode(hash),
        })
    }

    /// Finalize a case: every record must pass the finalize checks (two certified officers, end
    /// time, the party's confirmation, an AV record for a coercive measure…). The `case.finalize`
    /// entry names the entries of the final record versions and the evidence hashes.
    pub fn finalize_case(&self, case_id: &str) -> Result<CaseSummary> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_draft(&tx, case_id)?;
        let roster = self.cached_roster()?;
        let ctx = ValidationContext {
            roster: &roster,
            now,
        };
        let records = latest_records(&tx, case_id)?;
        let evidence = case_evidence(&tx, case_id)?;
        let kinds: Vec<EvidenceKind> = evidence.iter().map(|e| e.kind).collect();
        let mut issues = Vec::new();
        for (i, rv) in records.iter().enumerate() {
            for issue in validate::validate_for_finalize(&rv.record, &ctx, &kinds) {
                let path = if records.len() == 1 {
                    issue.path
                } else {
                    format!("records[{i}].{}", issue.path)
                };
                issues.push(Issue { path, ..issue });
            }
        }
        if !issues.is_empty() {
            return Err(RoadsideError::invalid(issues));
        }
        let officers = case_officers(&tx, case_id)?;
        let body = json!({
            "records": records.iter().map(|r| json!({"record_id": r.record_id, "version": r.version, "entry": r.entry_hash})).collect::<Vec<_>>(),
            "evidence": evidence.iter().map(|e| json!({"evidence_id": e.id, "sha256": e.sha256})).collect::<Vec<_>>(),
        });
        let (seq, _) = self.append(
            &tx,
            now,
            officers,
            EntryKind::CaseFinalize,
            Some(case_id),
            body,
        )?;
        tx.execute(
            "UPDATE cases SET status = 'finalized', last_seq = ?2 WHERE id = ?1",
            params![case_id, seq as i64],
        )
        .map_err(db::store_err)?;
        let summary = case_summary(&tx, case_id)?;
        tx.commit().map_err(db::store_err)?;
        Ok(summary)
    }

    /// Void a case (e.g. opened by mistake): an `entry.void` entry naming the `case.open` entry,
    /// with the reason. The case and everything about it stay in the ledger.
    pub fn void_case(&self, case_id: &str, reason: &str) -> Result<CaseSummary> {
        if reason.trim().is_empty() {
            return Err(RoadsideError::invalid_field(
                "reason",
                "VOID_REASON_REQUIRED",
                "作废案件必须说明理由",
            ));
        }
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        let status = case_status(&tx, case_id)?;
        if status == CaseStatus::Voided {
            return Err(RoadsideError::conflict("CASE_VOIDED", "案件已作废"));
        }
        if status == CaseStatus::Closed {
            return Err(RoadsideError::conflict(
                "CASE_CLOSED",
                "案件已结案，不能作废",
            ));
        }
        let open_hash: Vec<u8> = tx
            .query_row(
                "SELECT l.hash FROM cases c JOIN ledger l ON l.seq = c.open_seq WHERE c.id = ?1",
                [case_id],
                |r| r.get(0),
            )
            .map_err(db::store_err)?;
        let officers = case_officers(&tx, case_id)?;
        let body = json!({ "supersedes": hex::encode(open_hash), "reason": reason });
        let (seq, _) = self.append(
            &tx,
            now,
            officers,
            EntryKind::EntryVoid,
            Some(case_id),
            body,
        )?;
        tx.execute(
            "UPDATE cases SET status = 'voided', last_seq = ?2 WHERE id = ?1",
            params![case_id, seq as i64],
        )
        .map_err(db::store_err)?;
        let summary = case_summary(&tx, case_id)?;
        tx.commit().map_err(db::store_err)?;
        Ok(summary)
    }

    /// Cases opened on a given day of the agency's calendar (`YYYY-MM-DD`), newest first.
    pub fn cases_on(&self, day: &str) -> Result<Vec<CaseSummary>> {
        let day = crate::day::parse_day(day).ok_or_else(|| {
            RoadsideError::invalid_field(
                "day",
                "DAY_FORMAT",
                format!("日期 “{day}” 格式应为 YYYY-MM-DD"),
            )
        })?;
        self.cases_on_day(day)
    }

    /// Cases opened on a day of the agency's calendar, newest first.
    pub fn cases_on_day(&self, day: NaiveDate) -> Result<Vec<CaseSummary>> {
        let from = crate::day::agency_midnight(day).timestamp_millis();
        let (lo, hi) = (uuid7_prefix(from), uuid7_prefix(from + 86_400_000));
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare_cached("SELECT id FROM cases WHERE id >= ?1 AND id < ?2 ORDER BY id DESC")
            .map_err(db::store_err)?;
        let ids = stmt
            .query_map([lo, hi], |r| r.get::<_, String>(0))
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err)?;
        ids.iter().map(|id| case_summary(&conn, id)).collect()
    }

    /// Cases opened today (China Standard Time).
    pub fn cases_today(&self) -> Result<Vec<CaseSummary>> {
        self.cases_on_day(crate::day::agency_day(&(self.clock)()))
    }

    /// A case with its current records and evidence.
    pub fn case_detail(&self, case_id: &str) -> Result<CaseDetail> {
        let conn = lock(&self.reader);
        Ok(CaseDetail {
            summary: case_summary(&conn, case_id)?,
            records: latest_records(&conn, case_id)?,
            evidence: case_evidence(&conn, case_id)?,
        })
    }

    /// Verify the whole ledger: hashes, signatures, canonical form, `seq` and `prev` continuity.
    pub fn verify_ledger(&self) -> Result<ChainReport> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare("SELECT hash, bytes, sig FROM ledger ORDER BY rowid")
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err)?;
        let device = self.device_id();
        Ok(ledger::verify_chain(
            &device,
            rows.iter()
                .enumerate()
                .map(|(i, (hash, bytes, sig))| StoredEntryRef {
                    position: i as u64 + 1,
                    bytes,
                    hash,
                    sig,
                }),
        ))
    }

    /// Every ledger entry in order, with its exact signed bytes.
    pub fn export_ledger(&self) -> Result<Vec<ExportedEntry>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare("SELECT seq, hash, bytes, sig FROM ledger ORDER BY seq")
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(db::store_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, hash, bytes, sig) = row.map_err(db::store_err)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                RoadsideError::ledger(
                    "LEDGER_NOT_UTF8",
                    format!("第 {seq} 条账本记录不是有效的 UTF-8"),
                )
            })?;
            out.push(ExportedEntry {
                seq: seq as u64,
                hash: hex::encode(hash),
                sig: hex::encode(sig),
                bytes: text,
            });
        }
        Ok(out)
    }

    /// Number of entries waiting for the server.
    pub fn outbox_len(&self) -> Result<u64> {
        let conn = lock(&self.reader);
        conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db::store_err)
    }

    /// Number of ledger entries.
    pub fn ledger_len(&self) -> Result<u64> {
        let conn = lock(&self.reader);
        conn.query_row("SELECT count(*) FROM ledger", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db::store_err)
    }

    /// Append one signed entry inside `tx` and queue it in the outbox.
    fn append(
        &self,
        tx: &Transaction,
        now: DateTime<Utc>,
        officers: Vec<String>,
        kind: EntryKind,
        case: Option<&str>,
        body: serde_json::Value,
    ) -> Result<(u64, [u8; 32])> {
        let head: Option<(i64, Vec<u8>)> = tx
            .prepare_cached("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
            .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(db::store_err)?;
        let head = match head {
            None => None,
            Some((seq, hash)) => {
                let hash: [u8; 32] = hash.try_into().map_err(|_| {
                    RoadsideError::ledger("LEDGER_HASH_LENGTH", "账本最后一条记录的哈希长度错误")
                })?;
                Some(ledger::Head {
                    seq: seq as u64,
                    hash,
                })
            }
        };
        let entry = ledger::next_entry(
            &self.key,
            head,
            now,
            officers,
            kind,
            case.map(str::to_string),
            body,
        );
        let signed: SignedEntry = ledger::seal(&entry, &self.key)?;
        tx.prepare_cached(
            "INSERT INTO ledger (seq, hash, bytes, sig, kind, case_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                entry.seq as i64,
                &signed.hash[..],
                signed.bytes,
                &signed.sig[..],
                kind.as_str(),
                case,
                entry.at
            ])
        })
        .map_err(db::store_err)?;
        tx.prepare_cached("INSERT INTO outbox (entry_seq) VALUES (?1)")
            .and_then(|mut s| s.execute([entry.seq as i64]))
            .map_err(db::store_err)?;
        Ok((entry.seq, signed.hash))
    }
}

fn begin(conn: &mut Connection) -> Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db::store_err)
}

fn officers_of(record: &InspectionRecord) -> Vec<String> {
    record
        .officers
        .iter()
        .map(|o| o.certificate_no.clone())
        .collect()
}

fn load_or_create_device_key(conn: &mut Connection) -> Result<DeviceKey> {
    let existing: Option<Vec<u8>> = conn
        .query_row("SELECT v FROM meta WHERE k = 'device_key'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(db::store_err)?;
    if let Some(bytes) = existing {
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| RoadsideError::store("STORE_DEVICE_KEY", "数据库中的设备密钥长度错误"))?;
        return Ok(DeviceKey::from_bytes(&raw));
    }
    let key = DeviceKey::generate();
    let tx = conn.transaction().map_err(db::store_err)?;
    tx.execute(
        "INSERT INTO meta (k, v) VALUES ('device_key', ?1), ('created_at', ?2)",
        params![&key.to_bytes()[..], now_rfc3339(Utc::now()).into_bytes()],
    )
    .map_err(db::store_err)?;
    tx.commit().map_err(db::store_err)?;
    Ok(key)
}

fn read_roster(conn: &Connection) -> Result<Vec<OfficerCertificate>> {
    let mut stmt = conn
        .prepare_cached("SELECT body FROM roster")
        .map_err(db::store_err)?;
    let bodies = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db::store_err)?;
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str(b)
                .map_err(|e| RoadsideError::store("STORE_ROSTER", format!("人员名册数据损坏：{e}")))
        })
        .collect()
}

fn check_record(
    roster: &[OfficerCertificate],
    record: &InspectionRecord,
    now: DateTime<Utc>,
) -> Result<()> {
    let ctx = ValidationContext { roster, now };
    let issues = validate::validate_record(record, &ctx);
    if issues.is_empty() {
        Ok(())
    } else {
        Err(RoadsideError::invalid(issues))
    }
}

fn check_evidence_meta(meta: &EvidenceMeta) -> Result<()> {
    let mut issues = Vec::new();
    let start = match &meta.started_at {
        Some(s) => validate::parse_time("started_at", s)
            .map_err(|i| issues.push(i))
            .ok(),
        None => None,
    };
    let end = match &meta.ended_at {
        Some(s) => validate::parse_time("ended_at", s)
            .map_err(|i| issues.push(i))
            .ok(),
        None => None,
    };
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            issues.push(Issue::new(
                "ended_at",
                "TIME_END_BEFORE_START",
                "录制结束时间早于开始时间",
            ));
        }
    }
    match (meta.latitude, meta.longitude) {
        (Some(lat), _) if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() => {
            issues.push(Issue::new(
                "latitude",
                "GPS_LATITUDE_RANGE",
                format!("纬度 {lat} 超出 -90 至 90 的范围"),
            ))
        }
        (_, Some(lon)) if !(-180.0..=180.0).contains(&lon) || !lon.is_finite() => {
            issues.push(Issue::new(
                "longitude",
                "GPS_LONGITUDE_RANGE",
                format!("经度 {lon} 超出 -180 至 180 的范围"),
            ))
        }
        (Some(_), None) | (None, Some(_)) => issues.push(Issue::new(
            "latitude",
            "GPS_INCOMPLETE",
            "经纬度必须同时提供",
        )),
        _ => {}
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(RoadsideError::invalid(issues))
    }
}

fn insert_version(
    tx: &Transaction,
    record_id: &str,
    version: u32,
    case_id: &str,
    seq: u64,
    record: &InspectionRecord,
) -> Result<()> {
    let kind = match record.kind {
        crate::model::RecordKind::OnSite => "on_site",
        crate::model::RecordKind::Inspection => "inspection",
    };
    tx.prepare_cached(
        "INSERT INTO record_versions (case_id, record_id, version, entry_seq, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![case_id, record_id, version, seq as i64, kind]))
    .map_err(db::store_err)?;
    Ok(())
}

fn touch_case(tx: &Transaction, case_id: &str, seq: u64, case_number: Option<&str>) -> Result<()> {
    tx.execute(
        "UPDATE cases SET last_seq = ?2, case_number = coalesce(?3, case_number) WHERE id = ?1",
        params![case_id, seq as i64, case_number],
    )
    .map_err(db::store_err)?;
    Ok(())
}

fn case_status(conn: &Connection, case_id: &str) -> Result<CaseStatus> {
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT status, closed FROM cases WHERE id = ?1",
            [case_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db::store_err)?;
    let (status, closed) = row.ok_or_else(|| {
        RoadsideError::not_found("CASE_NOT_FOUND", format!("没有编号为 {case_id} 的案件"))
    })?;
    status_of(&status, closed.as_deref())
}

/// The status a `cases` row stands for: its `status` column, or closed once `closed` is set.
fn status_of(status: &str, closed: Option<&str>) -> Result<CaseStatus> {
    let status = CaseStatus::parse(status).ok_or_else(|| {
        RoadsideError::store("STORE_CASE_STATUS", format!("案件状态 {status} 无法识别"))
    })?;
    Ok(match (status, closed) {
        (CaseStatus::Finalized, Some(_)) => CaseStatus::Closed,
        (s, _) => s,
    })
}

fn require_draft(conn: &Connection, case_id: &str) -> Result<()> {
    match case_status(conn, case_id)? {
        CaseStatus::Draft => Ok(()),
        CaseStatus::Finalized => Err(RoadsideError::conflict(
            "CASE_FINALIZED",
            "案件已定稿，不能再修改；如需更正请作废后重新立案",
        )),
        CaseStatus::Voided => Err(RoadsideError::conflict(
            "CASE_VOIDED",
            "案件已作废，不能再修改",
        )),
        CaseStatus::Closed => Err(RoadsideError::conflict(
            "CASE_CLOSED",
            "案件已结案，不能再修改",
        )),
    }
}

fn case_officers(conn: &Connection, case_id: &str) -> Result<Vec<String>> {
    let records = latest_records(conn, case_id)?;
    let mut officers: Vec<String> = Vec::new();
    for r in &records {
        for o in &r.record.officers {
            if !officers.contains(&o.certificate_no) {
                officers.push(o.certificate_no.clone());
            }
        }
    }
    Ok(officers)
}

fn latest_records(conn: &Connection, case_id: &str) -> Result<Vec<RecordVersion>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT v.record_id, v.version, l.hash, l.bytes
             FROM record_versions v JOIN ledger l ON l.seq = v.entry_seq
             WHERE v.case_id = ?1 AND v.version = (
                 SELECT max(version) FROM record_versions w
                 WHERE w.case_id = v.case_id AND w.record_id = v.record_id)
             ORDER BY (SELECT min(entry_seq) FROM record_versions f
                       WHERE f.case_id = v.case_id AND f.record_id = v.record_id)",
        )
        .map_err(db::store_err)?;
    let rows = stmt
        .query_map([case_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db::store_err)?;
    rows.into_iter()
        .map(|(record_id, version, hash, bytes)| {
            // The record is stored once: inside the signed entry that wrote this version.
            let corrupt = |e: String| {
                RoadsideError::store("STORE_RECORD", format!("笔录 {record_id} 数据损坏：{e}"))
            };
            let mut entry: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
            let record = serde_json::from_value(entry["body"]["record"].take())
                .map_err(|e| corrupt(e.to_string()))?;
            Ok(RecordVersion {
                record_id,
                version,
                entry_hash: hex::encode(hash),
                record,
            })
        })
        .collect()
}

fn case_evidence(conn: &Connection, case_id: &str) -> Result<Vec<EvidenceInfo>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT e.id, e.kind, e.path, e.sha256, e.size, length(e.chunks) / 32, e.entry_seq, l.hash
             FROM evidence e JOIN ledger l ON l.seq = e.entry_seq
             WHERE e.case_id = ?1 ORDER BY e.entry_seq",
        )
        .map_err(db::store_err)?;
    let rows = stmt
        .query_map([case_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Vec<u8>>(7)?,
            ))
        })
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db::store_err)?;
    rows.into_iter()
        .map(|(id, kind, path, sha256, size, chunks, seq, hash)| {
            let kind = EvidenceKind::parse(&kind).ok_or_else(|| {
                RoadsideError::store("STORE_EVIDENCE_KIND", format!("证据类型 {kind} 无法识别"))
            })?;
            Ok(EvidenceInfo {
                id,
                case_id: case_id.to_string(),
                kind,
                path,
                sha256,
                size: size as u64,
                chunk_count: chunks as u32,
                entry_seq: seq as u64,
                entry_hash: hex::encode(hash),
            })
        })
        .collect()
}

fn case_summary(conn: &Connection, case_id: &str) -> Result<CaseSummary> {
    type Row = (Option<String>, String, String, i64, Option<String>);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT case_number, status, opened_at, last_seq, closed FROM cases WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([case_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()
        })
        .map_err(db::store_err)?;
    let (case_number, status, opened_at, last_seq, closed) = row.ok_or_else(|| {
        RoadsideError::not_found("CASE_NOT_FOUND", format!("没有编号为 {case_id} 的案件"))
    })?;
    let status = status_of(&status, closed.as_deref())?;
    let (records, evidence): (i64, i64) = conn
        .prepare_cached(
            "SELECT (SELECT count(DISTINCT record_id) FROM record_versions WHERE case_id = ?1),
                    (SELECT count(*) FROM evidence WHERE case_id = ?1)",
        )
        .and_then(|mut s| s.query_row([case_id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(db::store_err)?;
    Ok(CaseSummary {
        id: case_id.to_string(),
        case_number,
        status,
        opened_at,
        records: records as u32,
        evidence: evidence as u32,
        last_entry_seq: last_seq as u64,
    })
}

#[cfg(test)]
mod tests;
