//! Storage: one trait per area, two backends (SQLite embedded by default, PostgreSQL for several
//! replicas).
//!
//! The traits speak the server's domain (agencies, officers, accounts, devices, ledger batches, log
//! tiles), not SQL: [`SettingsStore`], [`AccountStore`], [`DeviceStore`], [`LogStore`],
//! [`CaseStore`], [`MediaStore`], [`BundleStore`], [`AuditStore`], [`NumberStore`],
//! [`PublicationStore`] and [`WitnessStore`], each in the module of its area with the types it speaks. [`Storage`] is all of them together; callers hold a
//! [`DynStorage`] and call any area's methods on it. Each backend is split the same way
//! (`sqlite/<area>.rs`, `postgres/<area>.rs`), and both run the same test suite
//! (`server/tests/storage.rs`). The schema is a numbered series of `.sql` files per backend,
//! applied by [`migrate`].
//!
//! Appending a batch to the log is the one operation where two server processes could race. It runs
//! as [`LogStore::commit_batch`]: the backend opens a transaction that holds the log's lock (SQLite:
//! the single writer, `BEGIN IMMEDIATE`; PostgreSQL: `SELECT … FOR UPDATE` on the log's row), reads a
//! [`BatchSnapshot`], hands it to a pure planner (`ingest::plan`) and writes the [`BatchPlan`] it
//! returns before committing. Whatever the number of processes, each leaf index is given once.
//! Once committed, the plan goes to the storage's [`CommitObserver`]s (the tile cache).

mod accounts;
mod audit;
mod bundles;
mod case_reviews;
mod cases;
mod devices;
mod legal;
mod log;
mod media;
pub mod migrate;
mod numbers;
pub mod postgres;
mod publications;
mod settings;
pub mod sqlite;
mod witnesses;

use std::sync::Arc;

use async_trait::async_trait;
use roadside_core::model::OfficerRole;

pub use accounts::{Account, AccountStore, Agency, Session};
pub use audit::{
    AuditCase, AuditEntry, AuditEvidence, AuditHold, AuditMark, AuditOrphan, AuditRecord,
    AuditStore,
};
pub(crate) use audit::{AUDIT_MARKS_SQL, AUDIT_ORPHANS_SQL};
pub use bundles::{BundleStore, StoredBundle};
pub use case_reviews::{CaseReviewStore, ReviewRound, ReviewSample, ReviewScore};
pub(crate) use cases::opening_matches;
pub(crate) use cases::{case_entry, CASE_COLUMNS, CASE_ENTRY_COLUMNS};
pub(crate) use cases::{filter_sql, index_change, set_of, set_text, IndexChange, INDEX_COLUMNS};
pub use cases::{
    CaseDetail, CaseEntry, CaseFilter, CaseIndex, CaseOutcome, CaseRow, CaseStat, CaseStore,
    CaseSummary, EntryRefusal, HistoryQuery, IssuedDocument, PriorCase, SignedCaseEntry, COUNT_CAP,
};
pub use devices::{Device, DeviceStore, EnrolOutcome, EnrolmentCode};
pub use legal::{Filing, LegalStore, ReviewEntry};
pub(crate) use log::CommitObservers;
pub use log::{
    BatchPlan, BatchSnapshot, CommitObserver, LogStore, NewEntry, Outcome, Planner, Receipt,
    RecoveredEntry, Refusal, Status, StoredEntry,
};
pub(crate) use media::{parts_of, parts_text};
pub use media::{MediaObject, MediaStore, MediaUpload};
pub use numbers::{LeaseOutcome, NumberLease, NumberStore, MAX_SERIAL};
pub(crate) use publications::PUBLICATION_COLUMNS;
pub use publications::{
    Publication, PublicationAction, PublicationEvent, PublicationFilter, PublicationState,
    PublicationStore, MAX_REASON_CHARS,
};
pub use settings::SettingsStore;
pub use witnesses::{WitnessAlarm, WitnessCosignature, WitnessStore};

use crate::error::Result;

/// The server's storage: every area's store, and what the backend is.
#[async_trait]
pub trait Storage:
    SettingsStore
    + AccountStore
    + DeviceStore
    + LogStore
    + CaseStore
    + MediaStore
    + BundleStore
    + AuditStore
    + NumberStore
    + PublicationStore
    + CaseReviewStore
    + WitnessStore
    + LegalStore
{
    /// Which backend, for /healthz and logs.
    fn backend(&self) -> &'static str;
    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;
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

/// Index the cases stored before the case index existed (their index columns are NULL), from the
/// log. Safe to repeat: a crash before it commits leaves them unindexed, and the next start does it
/// again.
pub async fn rebuild_case_index_if_needed(storage: &DynStorage) -> Result<()> {
    if storage.cases_unindexed().await? {
        let n = storage.reindex_cases().await?;
        tracing::info!(cases = n, "case index rebuilt from the log");
    }
    Ok(())
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
