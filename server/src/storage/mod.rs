//! Storage: one trait, two backends (SQLite embedded by default, PostgreSQL for several replicas).
//!
//! The trait speaks the server's domain (agencies, officers, accounts, devices, ledger batches, log
//! tiles), not SQL. Both backends run the same test suite (`server/tests/storage.rs`).
//!
//! Appending a batch to the log is the one operation where two server processes could race. It runs
//! as [`Storage::commit_batch`]: the backend opens a transaction that holds the log's lock (SQLite:
//! the single writer, `BEGIN IMMEDIATE`; PostgreSQL: `SELECT … FOR UPDATE` on the log's row), reads a
//! [`BatchSnapshot`], hands it to a pure planner (`ingest::plan`) and writes the [`BatchPlan`] it
//! returns before committing. Whatever the number of processes, each leaf index is given once.

pub mod postgres;
pub mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use roadside_core::model::{OfficerCertificate, OfficerRole};
use serde::Serialize;

use crate::error::Result;
use crate::ingest::{Outcome, Refusal};
use crate::tlog::{TileKey, TileSet};

/// An agency (执法机构), e.g. 632500 海南州交通运输综合行政执法局.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agency {
    pub code: String,
    pub name: String,
    /// The agency above it, if any (county bureau → prefecture bureau).
    pub parent: Option<String>,
}

/// A sign-in account (an officer's or an administrator's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    pub agency: String,
    pub role: OfficerRole,
    /// The officer this account belongs to, if it is an officer's.
    pub certificate_no: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub disabled: bool,
}

/// A signed-in account's bearer token (stored as its SHA-256 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub login: String,
    pub agency: String,
    pub role: OfficerRole,
    /// RFC 3339.
    pub expires_at: String,
}

/// A one-time enrolment code (stored as its SHA-256 only) binding a device to an officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentCode {
    pub code_hash: [u8; 32],
    pub agency: String,
    pub certificate_no: String,
    pub created_by: String,
    pub expires_at: String,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub id: String,
    /// Lowercase hex Ed25519 public key: the `device` of its ledger entries.
    pub public_key: String,
    pub agency: String,
    pub certificate_no: String,
    pub name: String,
    pub enrolled_at: String,
    pub revoked_at: Option<String>,
    /// Seq of the newest accepted entry (0: none yet).
    pub head_seq: u64,
    /// Hash of the newest accepted entry.
    #[serde(skip)]
    pub head_hash: Option<[u8; 32]>,
}

/// What happened to an enrolment attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolOutcome {
    Enrolled(Box<Device>),
    CodeUnknown,
    CodeUsed,
    CodeExpired,
    /// The public key is already enrolled.
    KeyTaken,
}

/// An entry already in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEntry {
    pub hash: [u8; 32],
    pub leaf_index: u64,
    /// Size of the checkpoint first published with it (its receipt's checkpoint).
    pub checkpoint_size: u64,
}

/// What the planner sees, read inside the batch's transaction.
#[derive(Debug, Clone)]
pub struct BatchSnapshot {
    pub device: Device,
    pub tree_size: u64,
    /// Stored entries of this device with the seqs the batch asked about.
    pub existing: HashMap<u64, StoredEntry>,
    /// Of those, the refused ones (seq → why), to answer them again as they were answered.
    pub refusals: HashMap<u64, Refusal>,
    /// The log's edge tiles.
    pub tiles: TileSet,
}

/// An entry to log: accepted (materialised too) or refused (logged only).
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub hash: [u8; 32],
    pub seq: u64,
    pub leaf_index: u64,
    pub agency: String,
    pub device_id: String,
    pub kind: String,
    pub case_id: Option<String>,
    pub at: String,
    pub officers: Vec<String>,
    pub supersedes: Option<String>,
    /// The body as JSON text, for the materialised views.
    pub body: String,
    pub bytes: Vec<u8>,
    pub sig: Vec<u8>,
    /// Set when a business check refused it: logged and chained, but not materialised.
    pub refusal: Option<Refusal>,
}

/// What a batch writes, and what it answers.
#[derive(Debug, Clone, Default)]
pub struct BatchPlan {
    pub entries: Vec<NewEntry>,
    /// New device head (seq, hash), if it moved.
    pub head: Option<(u64, [u8; 32])>,
    pub tiles: Vec<(TileKey, Vec<u8>)>,
    pub new_size: u64,
    /// The checkpoint for `new_size`, when the tree grew.
    pub checkpoint: Option<String>,
    pub outcomes: Vec<Outcome>,
    /// The planner's tiles after the append (the log at `new_size`), for the receipts.
    pub working: TileSet,
    /// Entries of this batch that came back with a receipt of a retired log origin (written with
    /// them, in the same transaction; see `crate::rollover`).
    pub recovered: Vec<RecoveredEntry>,
}

/// An entry the log had lost (the database was restored from an older backup) and its device
/// brought back, with the receipt the retired log origin had given it (see `crate::rollover`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveredEntry {
    /// Lowercase hex SHA-256 of the entry's bytes.
    pub entry_hash: String,
    pub device_id: String,
    pub seq: u64,
    /// Its leaf in the current log.
    pub leaf_index: u64,
    /// The retired origin whose receipt it carried, and where that log had it.
    pub old_origin: String,
    pub old_leaf_index: u64,
    pub old_tree_size: u64,
    /// The old receipt's signed checkpoint.
    pub old_checkpoint: String,
    pub recorded_at: String,
}

/// Decides a batch from its snapshot; runs inside the transaction, does no I/O.
pub type Planner = Box<dyn FnOnce(BatchSnapshot) -> Result<BatchPlan> + Send>;

/// A case as materialised from accepted entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseRow {
    pub id: String,
    pub agency: String,
    pub status: String,
    pub opened_at: Option<String>,
    pub records: u64,
    pub evidence: u64,
}

// ---- Reference bundles: see `crate::bundles`. ----

/// A signed bundle manifest as stored (`roadside_core::bundle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBundle {
    pub agency: String,
    pub version: u64,
    /// Canonical manifest bytes.
    pub manifest: Vec<u8>,
    /// Ed25519 signature, 64 bytes.
    pub signature: Vec<u8>,
    pub created_at: String,
}

// ---- Media uploads (tus) and stored media objects: see `crate::media`. ----

/// An unfinished resumable upload of one evidence file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUpload {
    /// UUID; the upload's URL is `/api/v1/media/uploads/<id>`.
    pub id: String,
    pub agency: String,
    pub device_id: String,
    /// The declared SHA-256, lowercase hex.
    pub sha256: String,
    pub length: u64,
    pub offset: u64,
    /// [`crate::media::RunningSha256`] over bytes `0..offset`.
    pub hash_state: Vec<u8>,
    /// Part objects holding bytes `0..offset`, in order (S3-compatible stores; empty for the local
    /// directory, whose staging file is one per upload).
    pub parts: Vec<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// A media object an agency holds (content-addressed: `evidence/<sha256>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaObject {
    pub sha256: String,
    pub agency: String,
    pub size: u64,
    pub stored_at: String,
}

// ---- History (first-offence query): see `crate::routes::history`. ----

/// What a history query looks for: cases opened since `since` whose vehicle plate is `plate` or
/// whose party's identifier is `party_id` (either matches; at least one is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Normalised plate (`roadside_core::codes::check_plate`).
    pub plate: Option<String>,
    /// Normalised 统一社会信用代码 or 居民身份证号 (upper case).
    pub party_id: Option<String>,
    /// `YYYY-MM-DD`: cases opened on or after this day (compared with the RFC 3339 `opened_at`).
    pub since: String,
}

/// A prior accepted case matching a [`HistoryQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriorCase {
    pub case: String,
    pub agency: String,
    pub opened_at: Option<String>,
    pub status: String,
    /// The plate the case was opened with, if it names one.
    pub plate: Option<String>,
    /// Violation codes the opening entry names (empty when it names none).
    pub violations: Vec<String>,
}

// ---- Self-audit: see `crate::audit`. ----

/// An entry row as stored, every column, for the audit (nothing trusted: the audit compares).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// The `hash` column (32 bytes unless the row was edited).
    pub hash: Vec<u8>,
    pub device_id: String,
    pub seq: i64,
    pub leaf_index: u64,
    pub agency: String,
    pub kind: String,
    pub case_id: Option<String>,
    pub at: String,
    /// Certificate numbers joined with `,`.
    pub officers: String,
    pub bytes: Vec<u8>,
    pub sig: Vec<u8>,
    /// The entry has a row in `entry_refusals` (logged, not materialised).
    pub refused: bool,
}

/// A case row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCase {
    pub id: String,
    pub agency: String,
    pub status: String,
    pub opened_at: Option<String>,
}

/// A `records` row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub entry_hash: Vec<u8>,
    pub case_id: Option<String>,
    pub agency: String,
    pub kind: String,
    pub supersedes: Option<String>,
    pub superseded_by: Option<Vec<u8>>,
    pub body: String,
}

/// An `evidence` row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvidence {
    pub entry_hash: Vec<u8>,
    pub case_id: Option<String>,
    pub agency: String,
    pub sha256: Option<String>,
    pub size: Option<i64>,
    pub voided_by: Option<Vec<u8>>,
    pub body: String,
}

/// A `records` or `evidence` row that no accepted entry of its kind stands behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOrphan {
    /// `records` or `evidence`.
    pub table: String,
    pub entry_hash: Vec<u8>,
    pub agency: String,
    pub case_id: Option<String>,
}

/// A set `superseded_by` (table `records`) or `voided_by` (table `evidence`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditMark {
    pub table: String,
    pub entry_hash: Vec<u8>,
    pub by: Vec<u8>,
}

/// A finding of the last completed audit, kept so the history query refuses to answer from the
/// rows it names. `agency` is `None` for a finding about the whole log (a tile, the checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHold {
    pub code: String,
    pub agency: Option<String>,
    pub case_id: Option<String>,
    /// Lowercase hex hash of the entry concerned, if one is.
    pub entry_hash: Option<String>,
    pub detail: String,
    pub found_at: String,
}

/// The audit's query for `records` and `evidence` rows with no accepted entry of their kind behind
/// them (same SQL on both backends).
pub(crate) const AUDIT_ORPHANS_SQL: &str = "\
    SELECT 'records', r.entry_hash, r.agency, r.case_id FROM records r \
    WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.hash = r.entry_hash \
        AND e.kind IN ('record.create', 'record.amend')) \
    OR EXISTS (SELECT 1 FROM entry_refusals f WHERE f.entry_hash = r.entry_hash) \
    UNION ALL \
    SELECT 'evidence', v.entry_hash, v.agency, v.case_id FROM evidence v \
    WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.hash = v.entry_hash \
        AND e.kind = 'evidence.add') \
    OR EXISTS (SELECT 1 FROM entry_refusals f WHERE f.entry_hash = v.entry_hash)";

/// The audit's query for every set `superseded_by` / `voided_by` (same SQL on both backends).
pub(crate) const AUDIT_MARKS_SQL: &str = "\
    SELECT 'records', entry_hash, superseded_by FROM records WHERE superseded_by IS NOT NULL \
    UNION ALL \
    SELECT 'evidence', entry_hash, voided_by FROM evidence WHERE voided_by IS NOT NULL";

fn plate_key(raw: &str) -> String {
    roadside_core::codes::check_plate(raw)
        .map(|p| p.plate)
        .unwrap_or_else(|_| raw.trim().to_uppercase())
}

fn json_str<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Match a `case.open` entry's canonical bytes against a query: `Some((plate, violations))` when
/// it matches. The plate is read from `body.plate`, `body.vehicle.plate` or
/// `body.record.vehicle.plate`; the party from `body.party_id` or `body.record.party`
/// (`id_number` / `uscc`). Shared by both backends.
pub(crate) fn opening_matches(
    bytes: &[u8],
    q: &HistoryQuery,
) -> Option<(Option<String>, Vec<String>)> {
    let entry: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let body = entry.get("body")?;
    let plate = json_str(body, &["plate"])
        .or_else(|| json_str(body, &["vehicle", "plate"]))
        .or_else(|| json_str(body, &["record", "vehicle", "plate"]))
        .map(plate_key);
    let party = json_str(body, &["party_id"])
        .or_else(|| json_str(body, &["record", "party", "id_number"]))
        .or_else(|| json_str(body, &["record", "party", "uscc"]))
        .map(|p| p.trim().to_uppercase());
    let hit =
        (q.plate.is_some() && plate == q.plate) || (q.party_id.is_some() && party == q.party_id);
    if !hit {
        return None;
    }
    let violations = body
        .get("violations")
        .or_else(|| body.get("record").and_then(|r| r.get("violations")))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some((plate, violations))
}

pub(crate) fn parts_text(parts: &[String]) -> String {
    parts.iter().map(|p| format!("{p}\n")).collect()
}

pub(crate) fn parts_of(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The server's storage.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Which backend, for /healthz and logs.
    fn backend(&self) -> &'static str;
    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;

    /// A server-wide setting; stores `default` first if there is none (whichever process wins).
    async fn setting_or_insert(&self, name: &str, default: &str) -> Result<String>;
    /// A server-wide setting, if stored.
    async fn setting(&self, name: &str) -> Result<Option<String>>;
    /// The settings whose names start with `prefix`, in byte order of their names.
    async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>>;
    /// Remove the settings `(name, value)`, each only if it still holds that value, in one
    /// transaction, and leave no copy of the values in the database's files: SQLite overwrites the
    /// freed space (`secure_delete`) and truncates its WAL; PostgreSQL rewrites the table
    /// (`VACUUM FULL`). Returns how many rows were removed. (Copies in backups and archived WAL
    /// made before are out of its reach.)
    async fn erase_settings(&self, settings: &[(String, String)]) -> Result<u64>;

    async fn upsert_agency(&self, agency: &Agency) -> Result<()>;
    async fn agencies(&self) -> Result<Vec<Agency>>;

    /// Insert or replace an officer's certificate row.
    async fn put_officer(&self, officer: &OfficerCertificate) -> Result<()>;
    async fn officer(&self, certificate_no: &str) -> Result<Option<OfficerCertificate>>;
    async fn officers(&self, agencies: &[String]) -> Result<Vec<OfficerCertificate>>;
    async fn officers_by_certificate(&self, certs: &[String]) -> Result<Vec<OfficerCertificate>>;

    /// Insert an account; `false` if the login is taken.
    async fn create_account(&self, account: &Account) -> Result<bool>;
    async fn account(&self, login: &str) -> Result<Option<Account>>;

    async fn create_session(&self, token_hash: &[u8; 32], session: &Session) -> Result<()>;
    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>>;
    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()>;

    async fn create_enrolment_code(&self, code: &EnrolmentCode) -> Result<()>;
    /// Consume the code (once, atomically) and enrol `device` with the code's officer and agency.
    async fn enrol_device(
        &self,
        code_hash: &[u8; 32],
        now: &str,
        device: Device,
        token_hash: &[u8; 32],
    ) -> Result<EnrolOutcome>;
    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Device>>;
    async fn devices(&self, agencies: &[String]) -> Result<Vec<Device>>;
    /// Revoke a device of one of `agencies`; `false` if there is no such device.
    async fn revoke_device(&self, id: &str, agencies: &[String], now: &str) -> Result<bool>;

    /// Append a batch under the log's lock (see the module documentation).
    async fn commit_batch(
        &self,
        device_id: &str,
        seqs: Vec<u64>,
        plan: Planner,
    ) -> Result<BatchPlan>;

    /// The log's size.
    async fn tree_size(&self) -> Result<u64>;
    /// Stored hash tiles (as much of each as exists).
    async fn read_tiles(&self, keys: &[TileKey]) -> Result<TileSet>;
    /// The checkpoint of `size`, or the newest one.
    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<(u64, String)>>;
    /// Leaves `start..start+count` (entry hashes), fewer if the log is shorter.
    async fn leaves(&self, start: u64, count: u64) -> Result<Vec<[u8; 32]>>;
    /// Where an entry sits in the log, and its agency.
    async fn entry_position(&self, hash: &[u8; 32]) -> Result<Option<(StoredEntry, String)>>;

    async fn cases(&self, agencies: &[String]) -> Result<Vec<CaseRow>>;

    /// Entries brought back after a log rollover, by their leaf in the current log: at most
    /// `limit`, after leaf `after` when given.
    async fn recovered_entries(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RecoveredEntry>>;

    // ---- Media uploads (tus) and stored media objects ----

    /// The sizes declared for `sha256` (lowercase hex) by accepted `evidence.add` entries of
    /// `agencies`; empty when none declares it.
    async fn evidence_sizes(&self, agencies: &[String], sha256: &str) -> Result<Vec<u64>>;
    async fn create_upload(&self, upload: &MediaUpload) -> Result<()>;
    async fn upload(&self, id: &str) -> Result<Option<MediaUpload>>;
    /// The newest upload of `sha256` by `agency` not expired at `now` (or complete, which never
    /// expires), if any.
    async fn open_upload(
        &self,
        agency: &str,
        sha256: &str,
        now: &str,
    ) -> Result<Option<MediaUpload>>;
    /// Move an upload from offset `from` to `to` with the hash state over `0..to`, a new expiry and
    /// the part that holds `from..to` (if parts are kept). Only if it is still at `from`: `false`
    /// if another request moved it or it is gone.
    async fn advance_upload(
        &self,
        id: &str,
        from: u64,
        to: u64,
        hash_state: &[u8],
        expires_at: &str,
        part: Option<&str>,
    ) -> Result<bool>;
    /// Remove an upload's row; `false` if there was none.
    async fn delete_upload(&self, id: &str) -> Result<bool>;
    /// Unfinished uploads expired at `now`, oldest first. An upload whose every byte is recorded
    /// never expires: it is finished by [`crate::media::finish_complete`] instead.
    async fn expired_uploads(&self, now: &str, limit: u32) -> Result<Vec<MediaUpload>>;
    /// Uploads whose offset reached their length but whose object was never recorded (a crash
    /// between the last chunk and the commit), oldest first.
    async fn complete_uploads(&self, limit: u32) -> Result<Vec<MediaUpload>>;
    /// Send a complete upload back to offset 0 with `hash_state` (empty) and no parts, because
    /// its bytes could not be committed. Only if it is still complete: `false` otherwise.
    async fn restart_upload(&self, id: &str, hash_state: &[u8], expires_at: &str) -> Result<bool>;
    /// In one transaction: record that `object.agency` holds the object and remove the upload.
    async fn finish_upload(&self, id: &str, object: &MediaObject) -> Result<()>;
    /// The object `sha256` if one of `agencies` holds it.
    async fn media_object(&self, agencies: &[String], sha256: &str) -> Result<Option<MediaObject>>;

    // ---- Reference bundles: see `crate::bundles` ----

    /// The agency's newest bundle manifest.
    async fn latest_bundle(&self, agency: &str) -> Result<Option<StoredBundle>>;
    /// In one transaction: store the components (`(name, sha256 hex, bytes)`, kept if already
    /// there) and the manifest, only if `bundle.version` is exactly one more than the agency's
    /// newest (1 for the first); `false`, and nothing written, otherwise.
    async fn put_bundle(
        &self,
        bundle: &StoredBundle,
        components: &[(String, String, Vec<u8>)],
    ) -> Result<bool>;
    /// A component of one of the agency's bundles, by name and SHA-256 (lowercase hex).
    async fn bundle_component(
        &self,
        agency: &str,
        name: &str,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>>;

    // ---- History (first-offence query) ----

    /// Accepted (materialised, not refused) cases of `agencies` opened since `query.since` whose
    /// `case.open` entry names the plate or party, newest first. The plate and party are read from
    /// the opening entry only ([`opening_matches`]): a plate changed later by `record.amend` is not
    /// seen.
    async fn prior_cases(
        &self,
        agencies: &[String],
        query: &HistoryQuery,
    ) -> Result<Vec<PriorCase>>;

    // ---- Self-audit: see `crate::audit` ----

    /// Entry rows with `from <= leaf_index < to`, every column as stored, in leaf order.
    async fn audit_entries(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>>;
    /// Every enrolled device, of every agency.
    async fn audit_devices(&self) -> Result<Vec<Device>>;
    /// Every case row.
    async fn audit_cases(&self) -> Result<Vec<AuditCase>>;
    /// The `records` and `evidence` rows keyed by these entry hashes.
    async fn audit_rows(
        &self,
        hashes: &[[u8; 32]],
    ) -> Result<(Vec<AuditRecord>, Vec<AuditEvidence>)>;
    /// `records` and `evidence` rows with no entry of their kind behind them, or whose entry was
    /// refused (refused entries are never materialised).
    async fn audit_orphan_rows(&self) -> Result<Vec<AuditOrphan>>;
    /// Every set `records.superseded_by` and `evidence.voided_by`.
    async fn audit_marks(&self) -> Result<Vec<AuditMark>>;
    /// Replace the kept findings with `holds`, in one transaction.
    async fn put_audit_holds(&self, holds: &[AuditHold]) -> Result<()>;
    /// Kept findings about one of `agencies` or about the whole log.
    async fn audit_holds(&self, agencies: &[String]) -> Result<Vec<AuditHold>>;
}

pub type DynStorage = Arc<dyn Storage>;

/// Open the storage a database URL names: `postgres://…` / `postgresql://…` for PostgreSQL,
/// otherwise a SQLite file path (`sqlite://` prefix optional).
pub async fn open(url: &str) -> Result<DynStorage> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStorage::connect(url).await?))
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        Ok(Arc::new(sqlite::SqliteStorage::open(path)?))
    }
}

/// Role names as stored.
pub fn role_str(role: OfficerRole) -> &'static str {
    match role {
        OfficerRole::Officer => "officer",
        OfficerRole::Assistant => "assistant",
        OfficerRole::LegalReviewer => "legal_reviewer",
        OfficerRole::Supervisor => "supervisor",
        OfficerRole::Admin => "admin",
    }
}

/// A `YYYY-MM-DD` day read back from a text column.
pub fn day_from_db(text: &str) -> Result<chrono::NaiveDate> {
    roadside_core::day::parse_day(text).ok_or_else(|| {
        crate::error::ApiError::storage(format!("day {text:?} in database is not YYYY-MM-DD"))
    })
}

pub fn parse_role(s: &str) -> Result<OfficerRole> {
    Ok(match s {
        "officer" => OfficerRole::Officer,
        "assistant" => OfficerRole::Assistant,
        "legal_reviewer" => OfficerRole::LegalReviewer,
        "supervisor" => OfficerRole::Supervisor,
        "admin" => OfficerRole::Admin,
        other => {
            return Err(crate::error::ApiError::storage(format!(
                "unknown role {other} in database"
            )))
        }
    })
}

pub(crate) fn hash32(v: &[u8]) -> Result<[u8; 32]> {
    v.try_into()
        .map_err(|_| crate::error::ApiError::storage("stored hash is not 32 bytes"))
}

pub(crate) fn u64_of(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| crate::error::ApiError::storage("negative counter in database"))
}

pub(crate) fn i64_of(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| crate::error::ApiError::storage("counter beyond i64"))
}

/// A lookup key (a tree size, a leaf or tile index) as the database stores it, or `None` when it
/// is beyond what the database can hold, so no row can have it. Lookups with a number from a
/// request go through here: a number past `i64::MAX` finds nothing, it is not a storage failure.
pub(crate) fn lookup_i64(v: u64) -> Option<i64> {
    i64::try_from(v).ok()
}

/// The leaf indexes `start..start + count` a range read can find, as stored: the range cut at
/// `i64::MAX` (no leaf index is larger), `None` when nothing of it can be stored.
pub(crate) fn leaf_range(start: u64, count: u64) -> Option<(i64, i64)> {
    let start = lookup_i64(start)?;
    let end = i64::try_from(count)
        .ok()
        .and_then(|c| start.checked_add(c))
        .unwrap_or(i64::MAX);
    (start < end).then_some((start, end))
}
