//! What the self-audit reads, and the findings it keeps: see `crate::audit`.

use async_trait::async_trait;
use serde::Serialize;

use super::Device;
use crate::error::Result;

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

/// The self-audit's reads and its kept findings.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
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
