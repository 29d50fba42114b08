//! The sync client: enrolment, pushing the outbox with verified receipts, resumable media upload
//! (tus 1.0), and the status the officer sees.
//!
//! # Guarantees
//!
//! - **Nothing leaves the outbox without a receipt**, and a receipt is stored only after it has been
//!   verified: the checkpoint's signature against the log key pinned at enrolment, the inclusion
//!   proof against the checkpoint's root, and the checkpoint's consistency with every checkpoint the
//!   device has verified before (consistency proofs from `/api/v1/log/consistency`).
//! - **A log that rewrites its history is caught**: an inconsistency is `LOG_INCONSISTENT`, recorded
//!   in the store (`log_alarms`), and sync refuses to run again while it is recorded.
//! - **A log that lost its end is caught** (a server restored from an older backup): a current
//!   checkpoint smaller than one verified before, or the server denying an entry (`CHAIN_GAP`)
//!   whose predecessor holds a receipt, is `LOG_ROLLED_BACK`, recorded and stopping sync the same
//!   way. Nothing is dropped: the outbox and every receipt stay.
//! - **Recovery is declared and signed**: an alarm is answered only by a rollover statement signed
//!   with the pinned log key (`sync/rollover.rs`, protocol in `crate::rollover`); the device then
//!   re-submits what the server lost, each entry with its old receipt as proof.
//! - **Refusals are visible**: an entry the server logged but refused keeps its receipt and reason
//!   (`refused`); an entry refused without a receipt stays in the outbox with its reason and the
//!   entries after it are not pushed (the server would refuse them as a gap).
//! - **Retries are safe**: a push batch is idempotent on the server (duplicates answer the same
//!   receipt), so any cut is retried with exponential backoff and jitter, honouring `Retry-After`.
//! - **Witnesses are required when the agency says so**: a bundle may carry a witness policy (k of
//!   n named witnesses); the log's newest checkpoint must then carry k valid cosignatures before
//!   anything is pushed, or the sync stops with `CHECKPOINT_NOT_WITNESSED` (`sync/witnesses.rs`).
//! - **Reference bundles are verified** with the bundle key pinned at enrolment before use; only
//!   changed components are fetched (`sync/bundles.rs`).
//! - **Document numbers are leased**: blocks of serials from the server at enrolment and whenever
//!   the device runs low (`sync/numbers.rs`); a failed lease is reported, it does not fail a sync.
//! - **Media resumes**: the tus upload URL is kept in the store; after a cut the client asks the server
//!   for its offset (`HEAD`) and continues from there, each chunk with `Upload-Checksum: sha256`.
//!
//! The plain-Rust API here is async; [`runtime`] gives the tokio runtime the core owns, on which the
//! FFI layer (`ffi/sync.rs`) and the CLI run it.

mod bundles;
mod history;
pub mod http;
mod media;
pub mod numbers;
mod push;
pub mod reviews;
mod rollover;
pub mod verify;
mod witnesses;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, RoadsideError};
use crate::store::rollover::RetiredOrigin;
use crate::store::sync::{EntryProblem, LogAlarm, PendingUpload, SeenCheckpoint, SyncConfig};
use crate::store::Store;
pub use history::{first_offence, FirstOffence, FIRST_OFFENCE_TIMEOUT_SECS};
pub use http::RetryPolicy;

/// Clock difference to the server above which status warns (entries carry the device's time).
pub const CLOCK_WARN_SECS: i64 = 300;

/// The tokio runtime the core owns, created on first use (two worker threads).
pub fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("roadside-sync")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| RoadsideError::internal("RUNTIME_FAILED", format!("无法启动同步线程：{e}")))
}

/// How a sync runs.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct SyncOptions {
    /// Entries per push (1–1000; 500 by default).
    pub batch_size: u32,
    /// Bytes per media PATCH (default 8 MiB).
    pub chunk_size: u32,
    /// Upload evidence files after the entries.
    pub upload_media: bool,
    /// Pull the agency's reference bundle (when enrolment gave a bundle key).
    pub pull_bundles: bool,
    /// Attempts per exchange before giving up for this sync (default 8).
    pub retry_attempts: u32,
    /// First retry delay in milliseconds (doubled each retry, with jitter; default 250).
    pub retry_base_ms: u32,
    /// Longest retry delay in milliseconds (default 30,000).
    pub retry_max_ms: u32,
    /// Timeout of one HTTP exchange in seconds (default 120).
    pub request_timeout_secs: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            batch_size: 500,
            chunk_size: 8 * 1024 * 1024,
            upload_media: true,
            pull_bundles: true,
            retry_attempts: 8,
            retry_base_ms: 250,
            retry_max_ms: 30_000,
            request_timeout_secs: 120,
        }
    }
}

impl SyncOptions {
    fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.retry_attempts.max(1),
            base_delay: Duration::from_millis(u64::from(self.retry_base_ms.max(1))),
            max_delay: Duration::from_millis(u64::from(self.retry_max_ms.max(1))),
        }
    }
}

/// Which part of a sync is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// Checking the log's newest checkpoint.
    Checkpoint,
    /// Pushing ledger entries.
    Records,
    /// Uploading evidence files.
    Media,
    /// Finished.
    Done,
}

/// Progress of a sync, for progress bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub records_done: u64,
    pub records_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct SyncReport {
    /// Entries that got a receipt in this sync.
    pub receipts: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Logged but refused (kept with their reason).
    pub refused: u64,
    /// The entry that blocks the outbox (refused without a receipt), if any.
    pub blocked: Option<EntryProblem>,
    /// Entries still in the outbox.
    pub outbox_left: u64,
    pub files_uploaded: u64,
    pub bytes_uploaded: u64,
    /// Size of the newest verified checkpoint.
    pub tree_size: u64,
    /// Server clock minus device clock, in seconds (from the `Date` header).
    pub clock_offset_secs: Option<i64>,
    /// The reference bundle version now held, when a newer one was pulled in this sync.
    pub bundle_version: Option<u64>,
    /// Bundle components fetched (only the changed ones are).
    pub bundle_components_fetched: u64,
    /// The block of document numbers leased in this sync (the device was running low).
    pub number_block: Option<crate::steps::NumberBlock>,
    /// `CODE: message` of a number lease that failed in this sync (also among the warnings); the
    /// rest of the sync went on and the next sync asks again.
    pub number_lease_error: Option<String>,
    /// Legal-review opinions received and verified in this sync.
    pub review_opinions: u64,
    /// Things the officer should know that did not stop the sync.
    pub warnings: Vec<String>,
}

/// What enrolment stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Enrolment {
    pub server_url: String,
    pub server_device_id: String,
    pub agency: String,
    pub certificate_no: String,
    pub log_origin: String,
    pub log_verifier_key: String,
    pub bundle_key: Option<String>,
    pub enrolled_at: String,
}

impl From<SyncConfig> for Enrolment {
    fn from(c: SyncConfig) -> Self {
        Enrolment {
            server_url: c.server_url,
            server_device_id: c.server_device_id,
            agency: c.agency,
            certificate_no: c.certificate_no,
            log_origin: c.log_origin,
            log_verifier_key: c.log_verifier_key,
            bundle_key: c.bundle_key,
            enrolled_at: c.enrolled_at,
        }
    }
}

/// Where sync stands, for the status screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct SyncStatus {
    pub enrolment: Option<Enrolment>,
    pub outbox_len: u64,
    pub receipts: u64,
    /// Refused entries (with receipt) and the entry blocking the outbox (without), with reasons.
    pub problems: Vec<EntryProblem>,
    pub pending_uploads: Vec<PendingUpload>,
    pub uploads_done: u64,
    pub last_checkpoint_size: Option<u64>,
    pub last_checkpoint: Option<String>,
    pub last_sync_at: Option<String>,
    /// `CODE: message` of the last failed sync, cleared by a successful one.
    pub last_error: Option<String>,
    pub clock_offset_secs: Option<i64>,
    /// The device clock differs from the server's by more than five minutes.
    pub clock_warning: bool,
    /// Misbehaviour of the log that was detected (sync stays stopped while there is one).
    pub log_alarms: Vec<LogAlarm>,
}

/// Callback for progress events.
pub type ProgressFn = Arc<dyn Fn(&SyncProgress) + Send + Sync>;

fn normalise_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| {
        RoadsideError::invalid_field(
            "server_url",
            "SERVER_URL_INVALID",
            format!("服务器地址 “{url}” 无效：{e}"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(RoadsideError::invalid_field(
            "server_url",
            "SERVER_URL_INVALID",
            format!("服务器地址 “{url}” 应以 http:// 或 https:// 开头"),
        ));
    }
    Ok(trimmed.to_string())
}

#[derive(Deserialize)]
struct EnrolAnswer {
    device_id: String,
    token: String,
    agency: String,
    certificate_no: String,
    log_origin: String,
    log_verifier_key: String,
    #[serde(default)]
    bundle_key: Option<String>,
    #[serde(default)]
    bundle_verifier_key: Option<String>,
}

/// Enrol this device with an enrolment code: sends the device's public key, then pins the log's key
/// (and the bundle key, when given) with the server URL and the device token in the store, and
/// leases the device its first block of document numbers. The enrolment stands even when that
/// lease fails: the first sync asks again and reports a failure.
pub async fn enrol(
    store: &Store,
    server_url: &str,
    code: &str,
    device_name: &str,
) -> Result<Enrolment> {
    if store.sync_config()?.is_some() {
        return Err(RoadsideError::conflict(
            "ALREADY_ENROLLED",
            "本设备已登记，不能重复登记",
        ));
    }
    let base = normalise_url(server_url)?;
    if code.trim().is_empty() {
        return Err(RoadsideError::invalid_field(
            "code",
            "ENROLMENT_CODE_REQUIRED",
            "请输入登记码",
        ));
    }
    let client = http::client(Duration::from_secs(60))?;
    let body = serde_json::json!({
        "code": code.trim(),
        "public_key": store.device_id(),
        "name": device_name,
    });
    let url = format!("{base}/api/v1/devices/enrol");
    // Enrolment uses the code once: a cut after the server used it cannot be retried blindly, so no
    // retry here (the officer asks for a new code if the answer was lost).
    let answer = http::exchange_once(client.post(&url).json(&body), "设备登记").await?;
    if !answer.status.is_success() {
        return Err(answer.error("设备登记"));
    }
    let a: EnrolAnswer = answer.json("设备登记")?;
    // The pinned key must verify the log's current checkpoint before anything is stored.
    let note_answer = http::exchange_once(
        client.get(format!("{base}/log/checkpoint")),
        "读取日志检查点",
    )
    .await?;
    if !note_answer.status.is_success() {
        return Err(note_answer.error("读取日志检查点"));
    }
    let note = String::from_utf8_lossy(&note_answer.body).into_owned();
    let cp = verify::checkpoint(&note, &a.log_verifier_key, &a.log_origin)?;
    let config = SyncConfig {
        server_url: base,
        server_device_id: a.device_id,
        token: a.token,
        agency: a.agency,
        certificate_no: a.certificate_no,
        log_origin: a.log_origin,
        log_verifier_key: a.log_verifier_key,
        bundle_key: a.bundle_key.or(a.bundle_verifier_key),
        enrolled_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    store.save_enrolment(&config)?;
    store.record_checkpoint(&cp)?;
    // One attempt: a failure here is not the enrolment's (see above).
    let once = RetryPolicy {
        attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let _ = numbers::lease(
        store,
        &client,
        &once,
        &config.server_url,
        &config.token,
        &config.agency,
    )
    .await;
    Ok(config.into())
}

/// The status screen.
pub fn status(store: &Store) -> Result<SyncStatus> {
    let latest = store.latest_checkpoint()?;
    let offset = store
        .sync_value("clock_offset_secs")?
        .and_then(|v| v.parse::<i64>().ok());
    Ok(SyncStatus {
        enrolment: store.sync_config()?.map(Enrolment::from),
        outbox_len: store.outbox_len()?,
        receipts: store.receipt_count()?,
        problems: store.entry_problems()?,
        pending_uploads: store.pending_uploads()?,
        uploads_done: store.uploads_done()?,
        last_checkpoint_size: latest.as_ref().map(|c| c.size),
        last_checkpoint: latest.map(|c| c.note),
        last_sync_at: store.sync_value("last_sync_at")?,
        last_error: store.sync_value("last_error")?,
        clock_offset_secs: offset,
        clock_warning: offset.is_some_and(|o| o.abs() > CLOCK_WARN_SECS),
        log_alarms: store.log_alarms()?,
    })
}

/// One sync session against the enrolled server.
pub(crate) struct Session<'a> {
    pub store: &'a Store,
    pub config: SyncConfig,
    pub client: reqwest::Client,
    pub retry: RetryPolicy,
    pub options: SyncOptions,
    pub progress: Option<ProgressFn>,
    pub state: SyncProgress,
    /// Checkpoints verified in this session: note text → checkpoint.
    verified: HashMap<String, SeenCheckpoint>,
    /// Origins the log had before the current one (after rollovers).
    retired: Vec<RetiredOrigin>,
    /// Push bodies go gzip-compressed until the server refuses the coding.
    pub gzip_requests: bool,
}

impl Session<'_> {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.server_url)
    }

    pub fn emit(&self) {
        if let Some(p) = &self.progress {
            p(&self.state);
        }
    }

    /// Verify a checkpoint note (signature, origin) and its consistency with every checkpoint this
    /// device has verified; remember it. Cached per note.
    pub async fn observe(&mut self, note: &str) -> Result<SeenCheckpoint> {
        if let Some(cp) = self.verified.get(note) {
            return Ok(cp.clone());
        }
        let cp = self.verify_note(note)?;
        if let Some(same) = self.store.checkpoint_seen(cp.size)? {
            if same.root != cp.root {
                return Err(self.alarm(&same, &cp));
            }
        } else if let Some(latest) = self.store.latest_checkpoint()? {
            let (old, new) = if latest.size < cp.size {
                (latest, cp.clone())
            } else {
                (cp.clone(), latest)
            };
            if old.size > 0 {
                let proof = self.consistency_proof(&old, &new).await?;
                if verify::consistency(&proof, &old, &new).is_err() {
                    return Err(self.alarm(&old, &new));
                }
            }
        }
        self.store.record_checkpoint(&cp)?;
        self.verified.insert(note.to_string(), cp.clone());
        Ok(cp)
    }

    async fn consistency_proof(
        &self,
        old: &SeenCheckpoint,
        new: &SeenCheckpoint,
    ) -> Result<Vec<[u8; 32]>> {
        #[derive(Deserialize)]
        struct Answer {
            from: u64,
            to: u64,
            consistency_proof: Vec<String>,
            checkpoint: String,
        }
        let url = self.url(&format!(
            "/api/v1/log/consistency?from={}&to={}",
            old.size, new.size
        ));
        let (a, _) = http::exchange(
            &self.retry,
            "读取一致性证明",
            || self.client.get(&url),
            |a| a.json::<Answer>("读取一致性证明"),
        )
        .await?;
        if a.from != old.size || a.to != new.size {
            return Err(RoadsideError::network(
                "SERVER_ANSWER_INVALID",
                "服务器给出的一致性证明范围与请求不符",
            ));
        }
        // The server's checkpoint of that size must be the one the device holds.
        let theirs = self.verify_note(&a.checkpoint)?;
        if theirs.size != new.size || theirs.root != new.root {
            return Err(self.alarm(new, &theirs));
        }
        verify::proof_hashes(&a.consistency_proof, "一致性证明")
    }

    fn alarm(&self, old: &SeenCheckpoint, new: &SeenCheckpoint) -> RoadsideError {
        self.raise(
            verify::log_inconsistent(old, new),
            Some(&old.note),
            Some(&new.note),
        )
    }

    /// Record a log alarm; the error to return.
    fn raise(&self, err: RoadsideError, old: Option<&str>, new: Option<&str>) -> RoadsideError {
        if let Err(e) = self
            .store
            .record_log_alarm(err.code(), err.message(), old, new)
        {
            return e;
        }
        err
    }

    /// Verify a checkpoint of the log this device follows: signed under the current origin, or
    /// under an origin a rollover ended, for a tree no larger than the part of it still held
    /// (the current log begins with it).
    pub fn verify_note(&self, note: &str) -> Result<SeenCheckpoint> {
        let origin = verify::origin_line(note);
        if origin != self.config.log_origin {
            if let Some(r) = self.retired.iter().rev().find(|r| r.origin == origin) {
                let cp = verify::checkpoint(note, &r.verifier_key, &r.origin)?;
                if cp.size > r.max_size {
                    return Err(RoadsideError::ledger(
                        "CHECKPOINT_ORIGIN",
                        format!(
                            "检查点来自已结束的日志 {origin}，其大小 {} 超过该日志切换时保留的 {} 个叶子",
                            cp.size, r.max_size
                        ),
                    ));
                }
                return Ok(cp);
            }
        }
        verify::checkpoint(note, &self.config.log_verifier_key, &self.config.log_origin)
    }

    /// The log's current checkpoint must not be smaller than one verified before: if it is, the
    /// server lost the end of its log; `LOG_ROLLED_BACK` is recorded and returned as an alarm.
    /// A checkpoint of another origin is left to the rollover check.
    fn check_not_rolled_back(&self, note: &str) -> Result<Option<LogAlarm>> {
        if verify::origin_line(note) != self.config.log_origin {
            return Ok(None);
        }
        let cp = self.verify_note(note)?;
        let Some(latest) = self.store.latest_checkpoint()? else {
            return Ok(None);
        };
        if cp.size >= latest.size {
            return Ok(None);
        }
        let err = self.raise(
            verify::log_rolled_back(&latest, &cp),
            Some(&latest.note),
            Some(note),
        );
        if err.code() != "LOG_ROLLED_BACK" {
            return Err(err);
        }
        self.store.open_log_alarm()
    }
}

/// The error of a sync stopped by a recorded log alarm (with why no rollover answered it, if a
/// request for one failed).
fn alarm_error(alarm: &LogAlarm, why: Option<&RoadsideError>) -> RoadsideError {
    let mut message = format!(
        "已于 {} 发现透明日志异常，同步保持停止，本机记录和回执都完整保留：{}",
        alarm.detected_at, alarm.message
    );
    if let Some(e) = why {
        message.push_str(&format!(
            "（未能读取服务器的日志切换声明：{}）",
            e.message()
        ));
    }
    RoadsideError::ledger(&alarm.code, message)
}

/// Server clock minus device clock, from a `Date` header.
fn clock_offset(date: Option<&str>) -> Option<i64> {
    let server = DateTime::parse_from_rfc2822(date?)
        .ok()?
        .with_timezone(&Utc);
    Some((server - Utc::now()).num_seconds())
}

/// Sync with the enrolled server: check the log, push the outbox, upload evidence.
///
/// On failure the error is also kept as `last_error` in the store (shown by [`status`]); the outbox
/// is intact and the sync can simply run again.
pub async fn sync(
    store: &Store,
    options: &SyncOptions,
    progress: Option<ProgressFn>,
) -> Result<SyncReport> {
    let result = run(store, options, progress).await;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let saved = match &result {
        Ok(_) => store.set_sync_values(&[("last_sync_at", Some(&now)), ("last_error", None)]),
        Err(e) => {
            let text = format!("{}: {}", e.code(), e.message());
            store.set_sync_values(&[("last_error", Some(&text)), ("last_error_at", Some(&now))])
        }
    };
    match (result, saved) {
        (Ok(r), Ok(())) => Ok(r),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
    }
}

async fn run(
    store: &Store,
    options: &SyncOptions,
    progress: Option<ProgressFn>,
) -> Result<SyncReport> {
    let config = store.sync_config()?.ok_or_else(|| {
        RoadsideError::conflict("NOT_ENROLLED", "本设备尚未登记到服务器，请先用登记码登记")
    })?;
    if !(1..=1000).contains(&options.batch_size) {
        return Err(RoadsideError::invalid_field(
            "batch_size",
            "BATCH_SIZE_RANGE",
            "每批记录数应在 1 至 1000 之间",
        ));
    }
    if options.chunk_size < 64 * 1024 {
        return Err(RoadsideError::invalid_field(
            "chunk_size",
            "CHUNK_SIZE_RANGE",
            "媒体分块至少 64 KiB",
        ));
    }
    let client = http::client(Duration::from_secs(u64::from(
        options.request_timeout_secs.max(5),
    )))?;
    let mut s = Session {
        store,
        config,
        client,
        retry: options.retry(),
        options: options.clone(),
        progress,
        state: SyncProgress {
            phase: SyncPhase::Checkpoint,
            records_done: 0,
            records_total: store.outbox_len()?,
            bytes_done: 0,
            bytes_total: 0,
        },
        verified: HashMap::new(),
        retired: store.retired_origins()?,
        gzip_requests: true,
    };
    let mut report = SyncReport::default();
    s.emit();

    // The log's newest checkpoint first: a rewritten log is caught even with an empty outbox.
    // An alarm already recorded is the answer when the server cannot be reached.
    let alarm_before = store.open_log_alarm()?;
    let url = s.url("/log/checkpoint");
    let fetched = http::exchange(
        &s.retry,
        "读取日志检查点",
        || s.client.get(&url),
        |a| {
            String::from_utf8(a.body.clone()).map_err(|_| {
                RoadsideError::network("SERVER_ANSWER_INVALID", "日志检查点不是 UTF-8 文本")
            })
        },
    )
    .await;
    let (note, answer) = match (fetched, &alarm_before) {
        (Ok(got), _) => got,
        (Err(e), Some(alarm)) => return Err(alarm_error(alarm, Some(&e))),
        (Err(e), None) => return Err(e),
    };
    report.clock_offset_secs = clock_offset(answer.header("date"));
    if let Some(off) = report.clock_offset_secs {
        store.set_sync_values(&[("clock_offset_secs", Some(&off.to_string()))])?;
        if off.abs() > CLOCK_WARN_SECS {
            report.warnings.push(format!(
                "本机时钟与服务器相差 {off} 秒，请校准时间（已签名的记录不受影响）"
            ));
        }
    }
    // A log alarm stops sync until the server declares a rollover signed with the pinned key
    // (or, for a log that shrank, as soon as it is seen).
    let mut open = alarm_before;
    if open.is_none() {
        open = s.check_not_rolled_back(&note)?;
    }
    let mut follow_error = None;
    if open.is_some() || verify::origin_line(&note) != s.config.log_origin {
        match rollover::follow(&mut s, &mut report).await {
            Ok(true) => open = store.open_log_alarm()?,
            Ok(false) => {}
            // The statement contradicts what this device verified: a new alarm, recorded.
            Err(e) if e.code() == "LOG_INCONSISTENT" => return Err(e),
            // Without an alarm the checkpoint's own check below names the problem.
            Err(e) => follow_error = Some(e),
        }
    }
    if let Some(alarm) = open {
        return Err(alarm_error(&alarm, follow_error.as_ref()));
    }
    let cp = s.observe(&note).await?;
    report.tree_size = cp.size;
    // The agency's witness policy: the log must have shown this history to its witnesses.
    witnesses::require(&mut s, note).await?;

    s.state.phase = SyncPhase::Records;
    s.emit();
    push::push_outbox(&mut s, &mut report).await?;
    numbers::top_up(&s, &mut report).await;
    reviews::pull(&s, &mut report).await;

    if options.upload_media {
        s.state.phase = SyncPhase::Media;
        media::upload_all(&mut s, &mut report).await?;
    }
    if options.pull_bundles {
        bundles::pull(&mut s, &mut report).await?;
    }
    report.outbox_left = store.outbox_len()?;
    if let Some(latest) = store.latest_checkpoint()? {
        report.tree_size = latest.size;
    }
    s.state.phase = SyncPhase::Done;
    s.emit();
    Ok(report)
}
