//! The UniFFI surface the Android (Kotlin) and iOS (Swift) shells call.
//!
//! Thin wrappers only: every method forwards to the plain-Rust [`crate::store::Store`] or a pure
//! module, which are tested without FFI. Errors cross as [`RoadsideError`] (a Kotlin/Swift exception
//! with `code` and `message`); a panic in the core becomes an exception, never a crash.
//! Platform services come in as foreign traits: [`SecretProvider`] gives the database key from
//! Android Keystore / iOS Keychain, [`PlatformFonts`] the CJK font documents are set in.

mod buffer;
mod document;
mod rules;
mod steps;
#[cfg(feature = "sync")]
mod sync;

pub use document::{PlatformFontSource, PlatformFonts};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::error::{Issue, Result, RoadsideError};
use crate::evidence::{EvidenceDigest, EvidenceHasher};
use crate::ledger::ChainReport;
use crate::model::{EvidenceKind, InspectionRecord, OfficerCertificate};
use crate::store::{
    CaseDetail, CaseSummary, Durability, EvidenceInfo, EvidenceMeta, ExportedEntry, RecordVersion,
    Store, StoreCheckReport, VerifyReport,
};

/// Supplies the 32-byte key that encrypts the device database. On Android it is kept by the
/// Keystore (wrapped), on iOS in the Keychain; the core never writes it anywhere.
#[uniffi::export(foreign)]
pub trait SecretProvider: Send + Sync {
    /// The database key: exactly 32 bytes, the same on every call for the same device.
    fn database_key(&self) -> std::result::Result<Vec<u8>, PlatformError>;
}

/// What a platform service (Keystore, Keychain) throws when it cannot do its part. The core
/// passes it on as a [`RoadsideError`] with the same code and message. (A UniFFI error thrown by
/// foreign code must cross as a serialised enum, which the core's exported error object cannot.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The key cannot be had: the device is locked, the key store refused, the wrapped key is
    /// damaged (`KEYSTORE_LOCKED`, `KEYCHAIN_READ_FAILED`…). Raised as a key error.
    #[error("{message}")]
    Key { code: String, message: String },
    /// The platform service failed in a way that is nobody's input: a bug, or an exception UniFFI
    /// did not expect (`PLATFORM_CALLBACK_FAILED`). Raised as an internal error.
    #[error("{message}")]
    Failed { code: String, message: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    /// The platform callback threw something other than a `PlatformError`.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        PlatformError::Failed {
            code: "PLATFORM_CALLBACK_FAILED".to_string(),
            message: format!("平台回调失败：{}", e.reason),
        }
    }
}

impl From<PlatformError> for RoadsideError {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::Key { code, message } => RoadsideError::key(&code, message),
            PlatformError::Failed { code, message } => RoadsideError::internal(&code, message),
        }
    }
}

/// Observer of long-running work (hashing, sync): bytes/records done out of a total.
#[uniffi::export(foreign)]
pub trait ProgressObserver: Send + Sync {
    /// Called with the amount done and the total. Return `false` to cancel the work.
    fn on_progress(&self, done: u64, total: u64) -> bool;
}

/// The core, opened on a data directory. One per app process.
#[derive(uniffi::Object)]
pub struct RoadsideCore {
    store: Store,
}

fn key_from(secrets: &dyn SecretProvider) -> Result<[u8; 32]> {
    let key = secrets.database_key()?;
    let len = key.len();
    key.try_into().map_err(|_| {
        RoadsideError::key(
            "KEY_LENGTH",
            format!("平台提供的数据库密钥长度为 {len} 字节，应为 32 字节"),
        )
    })
}

#[uniffi::export]
impl RoadsideCore {
    /// Open (or create) the encrypted store in `data_dir`, asking `secrets` for the key.
    /// A wrong key fails with `STORE_WRONG_KEY` and leaves the file untouched; a damaged file that
    /// the key is known to fit (by the key check beside it) fails with `STORE_CORRUPT`.
    #[uniffi::constructor]
    pub fn open(data_dir: String, secrets: Arc<dyn SecretProvider>) -> Result<Arc<Self>> {
        let key = key_from(secrets.as_ref())?;
        let store = Store::open(&PathBuf::from(data_dir), &key, Durability::default())?;
        Ok(Arc::new(RoadsideCore { store }))
    }

    /// This device's id: its Ed25519 public key in hex.
    pub fn device_id(&self) -> String {
        self.store.device_id()
    }

    /// The officer roster as last imported (for the draft check).
    pub fn roster(&self) -> Result<Vec<OfficerCertificate>> {
        self.store.roster()
    }

    /// Replace the officer roster used to check certificates offline.
    pub fn import_roster(&self, roster: Vec<OfficerCertificate>) -> Result<u32> {
        self.store.import_roster(&roster)
    }

    /// Live validation of a draft: every problem, each with its field path, code and message.
    pub fn validate_record(&self, record: InspectionRecord) -> Result<Vec<Issue>> {
        self.store.validate(&record)
    }

    /// Open a case with its first record (one signed ledger entry, one transaction).
    pub fn create_case(&self, record: InspectionRecord) -> Result<CaseSummary> {
        self.store.create_case(&record)
    }

    /// Add another record (e.g. a 勘验笔录) to an open case.
    pub fn add_record(&self, case_id: String, record: InspectionRecord) -> Result<RecordVersion> {
        self.store.add_record(&case_id, &record)
    }

    /// Amend a record: a new version whose ledger entry names the one it supersedes.
    pub fn amend_record(
        &self,
        case_id: String,
        record_id: String,
        record: InspectionRecord,
    ) -> Result<RecordVersion> {
        self.store.amend_record(&case_id, &record_id, &record)
    }

    /// Hash an evidence file (streaming) and declare it in a signed entry. `observer` sees the
    /// bytes hashed and may cancel (`EVIDENCE_CANCELLED`); nothing is stored then.
    pub fn attach_evidence(
        &self,
        case_id: String,
        path: String,
        kind: EvidenceKind,
        meta: EvidenceMeta,
        observer: Option<Arc<dyn ProgressObserver>>,
    ) -> Result<EvidenceInfo> {
        let mut progress = |done: u64, total: u64| match &observer {
            Some(o) => o.on_progress(done, total),
            None => true,
        };
        self.store.attach_evidence_with_progress(
            &case_id,
            &PathBuf::from(path),
            kind,
            &meta,
            &mut progress,
        )
    }

    /// Declare evidence hashed while it was being recorded (see [`EvidenceRecorder`]).
    pub fn declare_evidence(
        &self,
        case_id: String,
        path: String,
        kind: EvidenceKind,
        meta: EvidenceMeta,
        digest: EvidenceDigest,
    ) -> Result<EvidenceInfo> {
        self.store
            .declare_evidence(&case_id, &PathBuf::from(path), kind, &meta, &digest)
    }

    /// Finalize a case after the finalize checks (two certified officers, end time, the party's
    /// confirmation, an AV record for a coercive measure).
    pub fn finalize_case(&self, case_id: String) -> Result<CaseSummary> {
        self.store.finalize_case(&case_id)
    }

    /// Void a case, with the reason; it stays in the ledger.
    pub fn void_case(&self, case_id: String, reason: String) -> Result<CaseSummary> {
        self.store.void_case(&case_id, &reason)
    }

    /// Cases opened on a day (`YYYY-MM-DD`, China Standard Time).
    pub fn cases_on(&self, day: String) -> Result<Vec<CaseSummary>> {
        self.store.cases_on(&day)
    }

    /// Cases opened today.
    pub fn cases_today(&self) -> Result<Vec<CaseSummary>> {
        self.store.cases_today()
    }

    /// A case with its current records and evidence.
    pub fn case_detail(&self, case_id: String) -> Result<CaseDetail> {
        self.store.case_detail(&case_id)
    }

    /// Verify the device ledger; the report names the first broken entry.
    pub fn verify_ledger(&self) -> Result<ChainReport> {
        self.store.verify_ledger()
    }

    /// Verify the whole store: the chain, its tail against the server's receipts, the outbox, and
    /// every case, record-version and evidence row against its ledger entry. Each problem is named
    /// (code, table, row, entry); `ok` is false if there is any.
    pub fn verify_store(&self) -> Result<VerifyReport> {
        self.store.verify()
    }

    /// [`Self::verify_store`] plus SQLCipher's HMAC of every page and SQLite's integrity check.
    pub fn check_store(&self) -> Result<StoreCheckReport> {
        self.store.check()
    }

    /// Every ledger entry with its exact signed bytes.
    pub fn export_ledger(&self) -> Result<Vec<ExportedEntry>> {
        self.store.export_ledger()
    }

    /// Entries not yet acknowledged by the server.
    pub fn outbox_len(&self) -> Result<u64> {
        self.store.outbox_len()
    }
}

/// Hashes an audio/video stream while it is being recorded: push the bytes as they are written,
/// then `finish()` gives the same digest as hashing the finished file.
#[derive(uniffi::Object)]
pub struct EvidenceRecorder {
    hasher: Mutex<Option<EvidenceHasher>>,
}

impl Default for EvidenceRecorder {
    fn default() -> Self {
        EvidenceRecorder {
            hasher: Mutex::new(Some(EvidenceHasher::new())),
        }
    }
}

#[uniffi::export]
impl EvidenceRecorder {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Feed the next bytes of the recording.
    pub fn push(&self, bytes: Vec<u8>) -> Result<()> {
        let mut guard = self.hasher.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(h) => {
                h.update(&bytes);
                Ok(())
            }
            None => Err(finished()),
        }
    }

    /// Bytes pushed so far.
    pub fn bytes_seen(&self) -> u64 {
        let guard = self.hasher.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(EvidenceHasher::bytes_seen).unwrap_or(0)
    }

    /// The digest of everything pushed. The recorder cannot be used afterwards.
    pub fn finish(&self) -> Result<EvidenceDigest> {
        let mut guard = self.hasher.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .take()
            .map(EvidenceHasher::finish)
            .ok_or_else(finished)
    }
}

fn finished() -> RoadsideError {
    RoadsideError::conflict("RECORDER_FINISHED", "该录制的哈希已经结束，不能再追加数据")
}

/// Hash a file by path (streaming, constant memory) without declaring it.
#[uniffi::export]
pub fn hash_evidence_file(
    path: String,
    observer: Option<Arc<dyn ProgressObserver>>,
) -> Result<EvidenceDigest> {
    let mut progress = |done: u64, total: u64| match &observer {
        Some(o) => o.on_progress(done, total),
        None => true,
    };
    crate::evidence::hash_file_with_progress(&PathBuf::from(path), &mut progress)
}

/// Validate a record against a roster without a store (for tools and tests).
#[uniffi::export]
pub fn validate_record_with(
    record: InspectionRecord,
    roster: Vec<OfficerCertificate>,
) -> Vec<Issue> {
    let ctx = crate::validate::ValidationContext {
        roster: &roster,
        now: chrono::Utc::now(),
    };
    crate::validate::validate_record(&record, &ctx)
}

/// The demo roster (海南州 officers) shipped for training and tests.
#[uniffi::export]
pub fn demo_roster() -> Vec<OfficerCertificate> {
    crate::demo::roster()
}

/// A valid demo 现场笔录 started `minutes_ago` minutes ago.
#[uniffi::export]
pub fn demo_record(minutes_ago: u32) -> InspectionRecord {
    crate::demo::on_site_record(
        chrono::Utc::now() - chrono::Duration::minutes(i64::from(minutes_ago)),
    )
}

/// Parse a record from its JSON form (unknown fields refused), for shells that keep drafts as JSON.
#[uniffi::export]
pub fn record_from_json(json: String) -> Result<InspectionRecord> {
    Ok(serde_json::from_str(&json)?)
}

/// The JSON form of a record.
#[uniffi::export]
pub fn record_to_json(record: InspectionRecord) -> Result<String> {
    serde_json::to_string(&record)
        .map_err(|e| RoadsideError::internal("RECORD_ENCODE", e.to_string()))
}

/// Panics on purpose, so the shells can test that a core panic arrives as an exception.
#[uniffi::export]
pub fn debug_panic(message: String) -> Result<()> {
    panic!("{message}")
}
