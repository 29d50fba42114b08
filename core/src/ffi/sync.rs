//! Sync for the shells: enrol, start a cancellable sync, read the status.
//!
//! Kotlin / Swift usage:
//!
//! ```kotlin
//! core.enrol("https://zf.example.gov.cn", code, "李明的执法终端")      // once; blocking, call off the UI thread
//! val handle = core.startSync(null, observer)                           // returns at once
//! // observer.onProgress(p) is called from a core thread: p.recordsDone / p.recordsTotal, p.bytesDone / p.bytesTotal
//! handle.cancel()                                                       // any time (also on close / drop)
//! val report = handle.join()                                            // blocking; throws RoadsideException (code) on failure
//! val status = core.syncStatus()                                        // outbox, refusals with reasons, uploads, last error
//! ```
//!
//! The work runs on the tokio runtime the core owns; cancelling stops it at the next network step.
//! Every store write of a sync is its own transaction, so a cancelled sync leaves a consistent store
//! and the next sync continues where it stopped.

use std::sync::{Arc, Mutex};

use crate::error::{Result, RoadsideError};
use crate::store::sync::StoredReceipt;
use crate::sync::{self, Enrolment, SyncOptions, SyncProgress, SyncReport, SyncStatus};

use super::RoadsideCore;

/// Receives sync progress (records pushed of total, bytes uploaded of total). Called from a core
/// thread; keep it quick (post to the UI thread).
#[uniffi::export(foreign)]
pub trait SyncObserver: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

type Task = tokio::task::JoinHandle<Result<SyncReport>>;

/// A running sync. `cancel()` stops it; dropping the handle cancels too.
#[derive(uniffi::Object)]
pub struct SyncHandle {
    task: Mutex<Option<Task>>,
    abort: tokio::task::AbortHandle,
    result: Mutex<Option<Result<SyncReport>>>,
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

fn cancelled() -> RoadsideError {
    RoadsideError::network(
        "SYNC_CANCELLED",
        "同步已取消；已上传的记录和回执已保存，下次同步会继续",
    )
}

#[uniffi::export]
impl SyncHandle {
    /// Stop the sync at its next network step. Idempotent.
    pub fn cancel(&self) {
        self.abort.abort();
    }

    /// Whether the sync has finished (successfully, with an error, or cancelled).
    pub fn is_finished(&self) -> bool {
        self.abort.is_finished()
    }

    /// Block until the sync ends; its report, or its error (`SYNC_CANCELLED` when cancelled).
    /// May be called again: answers the same result.
    pub fn join(&self) -> Result<SyncReport> {
        let mut result = self.result.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = result.as_ref() {
            return r.clone();
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        let r = match task {
            Some(t) => match sync::runtime()?.block_on(t) {
                Ok(r) => r,
                Err(e) if e.is_cancelled() => Err(cancelled()),
                Err(e) => Err(RoadsideError::internal(
                    "SYNC_PANICKED",
                    format!("同步意外中止：{e}"),
                )),
            },
            None => Err(cancelled()),
        };
        *result = Some(r.clone());
        r
    }
}

/// The default sync options (500 entries per push, 8 MiB media chunks, 8 attempts per exchange).
#[uniffi::export]
pub fn default_sync_options() -> SyncOptions {
    SyncOptions::default()
}

#[uniffi::export]
impl RoadsideCore {
    /// Enrol this device with the server at `server_url` using a one-time enrolment code: sends the
    /// device's public key, pins the log's verifier key. Blocking (network); call off the UI thread.
    /// Errors: `ENROLMENT_CODE_INVALID` / `_USED` / `_EXPIRED`, `ALREADY_ENROLLED`,
    /// `NETWORK_UNREACHABLE`, `CHECKPOINT_SIGNATURE`…
    pub fn enrol(
        &self,
        server_url: String,
        enrolment_code: String,
        device_name: String,
    ) -> Result<Enrolment> {
        sync::runtime()?.block_on(sync::enrol(
            &self.store,
            &server_url,
            &enrolment_code,
            &device_name,
        ))
    }

    /// Start a sync in the background: push the outbox (receipts verified), then upload evidence.
    /// `options`: `null` for the defaults. Progress goes to `observer`. Returns at once.
    pub fn start_sync(
        self: Arc<Self>,
        options: Option<SyncOptions>,
        observer: Option<Arc<dyn SyncObserver>>,
    ) -> Result<Arc<SyncHandle>> {
        let rt = sync::runtime()?;
        let options = options.unwrap_or_default();
        let progress: Option<sync::ProgressFn> = observer.map(|o| {
            Arc::new(move |p: &SyncProgress| o.on_progress(p.clone())) as sync::ProgressFn
        });
        let core = Arc::clone(&self);
        let task = rt.spawn(async move { sync::sync(&core.store, &options, progress).await });
        Ok(Arc::new(SyncHandle {
            abort: task.abort_handle(),
            task: Mutex::new(Some(task)),
            result: Mutex::new(None),
        }))
    }

    /// Sync and wait (blocking), for shells and tools that do not need to cancel.
    pub fn sync_now(&self, options: Option<SyncOptions>) -> Result<SyncReport> {
        sync::runtime()?.block_on(sync::sync(&self.store, &options.unwrap_or_default(), None))
    }

    /// Where sync stands: outbox length, refused entries with reasons, pending uploads with offsets,
    /// last checkpoint, last sync time, last error, clock warning, log alarms.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        sync::status(&self.store)
    }

    /// The stored receipt of ledger entry `seq`, if the server has given one.
    pub fn receipt(&self, seq: u64) -> Result<Option<StoredReceipt>> {
        self.store.receipt(seq)
    }

    /// First-offence check (初次违法核查) for the exemption list: prior cases of the vehicle `plate`
    /// (or the party `party_id`, 统一社会信用代码 / 居民身份证号) in the agency, asked online with a
    /// 5-second timeout; without the server, from this device's own cases with `needsRecheck = true`.
    /// Blocking (network); call off the UI thread. Errors only for a bad plate (`PLATE_*`).
    pub fn first_offence(
        &self,
        plate: String,
        party_id: Option<String>,
    ) -> Result<sync::FirstOffence> {
        sync::runtime()?.block_on(sync::first_offence(
            &self.store,
            &plate,
            party_id.as_deref(),
        ))
    }
}
