//! Witnesses: independent services that cosign the log's checkpoints once they have checked that
//! each one extends the last they saw (C2SP `tlog-witness`), so the log cannot show one history to
//! devices and another to a court without a witness noticing.
//!
//! - **Configuration**: each witness's cosignature/v1 verifier key and URL (`--witness "<vkey>
//!   <url>"`, [`crate::config::Config::witnesses`]); `--witness-quorum k` is how many of them
//!   devices require, delivered to them as the witness policy of every agency's signed bundle
//!   (`roadside_core::witness`, component `witnesses.json`).
//! - **Submission** runs in the background ([`Witnesses::spawn`]), never on a request's path: woken
//!   by every commit that publishes a checkpoint (and every [`RESCAN`] anyway, for checkpoints
//!   other replicas published), it sends the newest checkpoint to each witness that has not
//!   cosigned it: `POST <url>/add-checkpoint` with `old <size>`, the consistency proof from that
//!   size, a blank line and the signed checkpoint. `<size>` is the largest checkpoint the witness
//!   cosigned for this server (0 for none); a `409 Conflict` answers the size the witness knows, and
//!   the request is sent again with a proof from there. A failure (witness down, `403`, a bad
//!   answer) is retried with exponential backoff, from 1 s up to [`MAX_BACKOFF`].
//! - **Cosignatures** returned are verified with the configured key before they are stored
//!   (`witness_cosignatures`, both backends); only this witness's valid lines are kept. What is
//!   stored survives a restart, and a restart catches up: the first round submits the newest
//!   checkpoint to every witness that lacks it.
//! - **Serving**: `/log/checkpoint` (and the checkpoints of inclusion and consistency proofs)
//!   carry the stored cosignatures appended to the log's signature ([`Witnesses::cosigned`]).
//!   Verifiers that do not know a witness ignore its line, so every existing client still reads
//!   the note.
//! - **Alarms**: a witness that refuses the consistency proof (`422`: it holds a different tree of
//!   that size, a split view or a rewritten log) or knows a larger tree of this log than the server
//!   has (`409` with a size above the server's: the log lost its end) raises `WITNESS_SPLIT_VIEW` or
//!   `WITNESS_AHEAD`: logged at error level, kept in `witness_alarms`, shown at
//!   `GET /api/v1/log/witnesses` and counted in `roadside_witness_alarms`. That witness is not asked
//!   again by this process (sending the same history again cannot change its answer); the operator
//!   investigates, and a restart asks once more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use roadside_core::witness::{self as core_witness, WitnessKey, WitnessPolicy};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::error::{ApiError, Result};
use crate::ingest::b64;
use crate::metrics::Metrics;
use crate::storage::{BatchPlan, CommitObserver, DynStorage, WitnessAlarm, WitnessCosignature};
use crate::tile_cache::TileCache;

/// Longest wait between two attempts at a witness that failed.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// First wait after a failure (doubled after each further one).
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The newest checkpoint is looked at this often even when no commit of this process woke the
/// task (another replica published it, or a commit's wake-up was missed).
pub const RESCAN: Duration = Duration::from_secs(30);
/// Time limit of one request to a witness.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// `409` answers followed in one submission before giving up until the next round.
const MAX_CONFLICTS: usize = 3;

/// Stable codes of what a submission can end in (logged, counted, and for alarms stored).
pub mod code {
    /// The witness refused the consistency proof: it holds another tree of that size.
    pub const SPLIT_VIEW: &str = "WITNESS_SPLIT_VIEW";
    /// The witness knows a larger tree of this log than the server has.
    pub const AHEAD: &str = "WITNESS_AHEAD";
    /// The witness could not be reached, or answered with a server error.
    pub const UNREACHABLE: &str = "WITNESS_UNREACHABLE";
    /// The witness refused the request (`403`: log or key unknown to it; `400`).
    pub const REFUSED: &str = "WITNESS_REFUSED";
    /// The witness answered `200` without a valid cosignature of its configured key.
    pub const COSIGNATURE_INVALID: &str = "WITNESS_COSIGNATURE_INVALID";
}

/// One configured witness.
#[derive(Debug, Clone)]
pub struct Witness {
    pub key: WitnessKey,
    /// Base URL; requests go to `<url>/add-checkpoint`.
    pub url: String,
}

impl Witness {
    /// Parse one `--witness` setting: the verifier key and the URL, separated by whitespace.
    pub fn parse(setting: &str) -> Result<Witness> {
        let invalid = |why: &str| {
            ApiError::internal(
                "CONFIG_INVALID",
                format!(
                    "见证者设置 “{setting}” 无效：{why}（应写作 “<见证者公钥> <URL>”，例如 \
                     “witness.example+1234abcd+BAxx… https://witness.example”）"
                ),
            )
        };
        let mut parts = setting.split_whitespace();
        let (Some(vkey), Some(url), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("应为公钥和 URL 两段"));
        };
        let key = WitnessKey::parse(vkey).map_err(|e| invalid(e.message()))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid("URL 应以 http:// 或 https:// 开头"));
        }
        Ok(Witness {
            key,
            url: url.trim_end_matches('/').to_string(),
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabels {
    witness: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    witness: String,
    code: String,
}

/// What this process knows of one witness right now.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// The code of the last failure, until a submission succeeds.
    last_error: Option<(String, String)>,
    /// Not before then (backoff after a failure).
    retry_at: Option<Instant>,
    backoff: Option<Duration>,
    /// An alarm stopped submissions to it for this process's life.
    halted: bool,
}

/// The configured witnesses, their submission task's state and metrics.
pub struct Witnesses {
    list: Vec<Witness>,
    quorum: u32,
    wake: Notify,
    progress: Mutex<HashMap<String, Progress>>,
    cosignatures: Family<WitnessLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    alarms: Gauge,
    cosigned_size: Family<WitnessLabels, Gauge>,
    client: Option<reqwest::Client>,
}

impl std::fmt::Debug for Witnesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witnesses")
            .field("list", &self.list)
            .field("quorum", &self.quorum)
            .finish_non_exhaustive()
    }
}

/// A submission's end when it did not succeed.
enum Failure {
    /// Try again later.
    Retry(String, String),
    /// Report loudly and stop asking this witness.
    Alarm(WitnessAlarm),
}

/// A witness as `GET /api/v1/log/witnesses` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WitnessStatus {
    pub name: String,
    /// Its cosignature/v1 verifier key.
    pub key: String,
    pub url: String,
    /// The largest checkpoint of the current origin it has cosigned.
    pub cosigned_size: Option<u64>,
    /// `CODE: message` of the last failed submission, until one succeeds.
    pub last_error: Option<String>,
    /// An alarm stopped submissions to it until the server restarts.
    pub halted: bool,
}

impl Witnesses {
    /// The witnesses of the configuration (none: nothing is submitted and nothing appended).
    pub fn new(list: Vec<Witness>, quorum: u32) -> Result<Witnesses> {
        let keys: Vec<WitnessKey> = list.iter().map(|w| w.key.clone()).collect();
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.name == k.name) {
                return Err(ApiError::internal(
                    "CONFIG_INVALID",
                    format!("见证者 {} 配置了不止一次", k.name),
                ));
            }
        }
        // The policy's own rules (quorum ≤ witnesses, at most 64).
        WitnessPolicy::new(quorum, &keys).map_err(|e| {
            ApiError::internal(
                "CONFIG_INVALID",
                format!(
                    "见证设置无效（ROADSIDE_WITNESSES / ROADSIDE_WITNESS_QUORUM）：{}",
                    e.message()
                ),
            )
        })?;
        let client = if list.is_empty() {
            None
        } else {
            Some(
                reqwest::Client::builder()
                    .timeout(REQUEST_TIMEOUT)
                    .build()
                    .map_err(|e| {
                        ApiError::internal(
                            "CONFIG_INVALID",
                            format!("无法建立见证者 HTTP 客户端：{e}"),
                        )
                    })?,
            )
        };
        Ok(Witnesses {
            list,
            quorum,
            wake: Notify::new(),
            progress: Mutex::new(HashMap::new()),
            cosignatures: Family::default(),
            failures: Family::default(),
            alarms: Gauge::default(),
            cosigned_size: Family::default(),
            client,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The policy devices are given in their bundle, when witnesses are configured.
    pub fn policy(&self) -> Option<WitnessPolicy> {
        if self.list.is_empty() {
            return None;
        }
        let keys: Vec<WitnessKey> = self.list.iter().map(|w| w.key.clone()).collect();
        WitnessPolicy::new(self.quorum, &keys).ok()
    }

    /// Publish the metrics on `/metrics`.
    pub fn register(&self, metrics: &Metrics) {
        metrics.register(
            "witness_cosignatures",
            "Witness cosignatures received, verified and stored, per witness",
            self.cosignatures.clone(),
        );
        metrics.register(
            "witness_failures",
            "Failed checkpoint submissions to a witness, per witness and code",
            self.failures.clone(),
        );
        metrics.register(
            "witness_alarms",
            "Witness alarms recorded (a witness refused the log as inconsistent or knows a larger tree); alert when above 0",
            self.alarms.clone(),
        );
        metrics.register(
            "witness_cosigned_size",
            "Largest checkpoint size each witness has cosigned",
            self.cosigned_size.clone(),
        );
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, HashMap<String, Progress>> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The checkpoint note with the stored cosignatures of its text appended (the note itself when
    /// no witness is configured).
    pub async fn cosigned(&self, storage: &DynStorage, note: String) -> Result<String> {
        if self.list.is_empty() {
            return Ok(note);
        }
        let Some((text, _)) = core_witness::split_note(&note) else {
            return Ok(note);
        };
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let lines: Vec<String> = storage
            .witness_cosignatures(&digest)
            .await?
            .into_iter()
            .filter(|c| self.list.iter().any(|w| w.key.name == c.witness))
            .map(|c| c.line)
            .collect();
        Ok(core_witness::append_signatures(&note, &lines))
    }

    /// Each witness's state, for `GET /api/v1/log/witnesses`.
    pub async fn status(&self, storage: &DynStorage, origin: &str) -> Result<Vec<WitnessStatus>> {
        let mut out = Vec::with_capacity(self.list.len());
        for w in &self.list {
            let cosigned_size = storage.witness_cosigned_size(&w.key.name, origin).await?;
            let p = self
                .progress()
                .get(&w.key.name)
                .cloned()
                .unwrap_or_default();
            out.push(WitnessStatus {
                name: w.key.name.clone(),
                key: w.key.vkey.clone(),
                url: w.url.clone(),
                cosigned_size,
                last_error: p.last_error.map(|(c, m)| format!("{c}: {m}")),
                halted: p.halted,
            });
        }
        Ok(out)
    }

    /// Start the background submission task (nothing when no witness is configured).
    pub fn spawn(
        self: &Arc<Self>,
        storage: DynStorage,
        tile_cache: Arc<TileCache>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.list.is_empty() {
            return None;
        }
        let me = self.clone();
        Some(tokio::spawn(async move {
            if let Ok(alarms) = storage.witness_alarms().await {
                me.alarms
                    .set(i64::try_from(alarms.len()).unwrap_or(i64::MAX));
            }
            loop {
                me.round(&storage, &tile_cache).await;
                let wait = me.next_wait();
                tokio::select! {
                    () = me.wake.notified() => {},
                    () = tokio::time::sleep(wait) => {},
                }
            }
        }))
    }

    /// Until the earliest retry due, at most [`RESCAN`].
    fn next_wait(&self) -> Duration {
        let now = Instant::now();
        self.progress()
            .values()
            .filter(|p| !p.halted)
            .filter_map(|p| p.retry_at)
            .map(|t| t.saturating_duration_since(now))
            .min()
            .map_or(RESCAN, |d| d.min(RESCAN))
    }

    /// One pass: the newest checkpoint to every witness that is due and lacks it.
    async fn round(&self, storage: &DynStorage, tile_cache: &Arc<TileCache>) {
        let newest = match storage.checkpoint(None).await {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(code = %e.code, "witness submission: newest checkpoint not read: {}", e.message);
                return;
            }
        };
        for w in &self.list {
            let due = {
                let p = self.progress();
                p.get(&w.key.name)
                    .is_none_or(|p| !p.halted && p.retry_at.is_none_or(|t| t <= Instant::now()))
            };
            if !due {
                continue;
            }
            let outcome = self.submit(w, storage, tile_cache, &newest).await;
            self.settle(w, storage, outcome).await;
        }
    }

    /// Record what a submission ended in.
    async fn settle(
        &self,
        w: &Witness,
        storage: &DynStorage,
        outcome: std::result::Result<(), Failure>,
    ) {
        let name = w.key.name.clone();
        match outcome {
            Ok(()) => {
                let mut p = self.progress();
                let e = p.entry(name).or_default();
                e.last_error = None;
                e.retry_at = None;
                e.backoff = None;
            }
            Err(Failure::Retry(code, message)) => {
                tracing::warn!(witness = %name, code = %code, "witness submission failed, will retry: {message}");
                self.failures
                    .get_or_create(&FailureLabels {
                        witness: name.clone(),
                        code: code.clone(),
                    })
                    .inc();
                let mut p = self.progress();
                let e = p.entry(name).or_default();
                let backoff = e
                    .backoff
                    .map_or(FIRST_BACKOFF, |b| b.saturating_mul(2))
                    .min(MAX_BACKOFF);
                e.backoff = Some(backoff);
                e.retry_at = Some(Instant::now() + backoff);
                e.last_error = Some((code, message));
            }
            Err(Failure::Alarm(alarm)) => {
                tracing::error!(
                    witness = %name,
                    code = %alarm.code,
                    size = alarm.size,
                    witness_size = alarm.witness_size,
                    "witness alarm: {}",
                    alarm.message
                );
                self.failures
                    .get_or_create(&FailureLabels {
                        witness: name.clone(),
                        code: alarm.code.clone(),
                    })
                    .inc();
                if let Err(e) = storage.put_witness_alarm(&alarm).await {
                    tracing::error!(code = %e.code, "witness alarm not kept: {}", e.message);
                }
                match storage.witness_alarms().await {
                    Ok(all) => self
                        .alarms
                        .set(i64::try_from(all.len()).unwrap_or(i64::MAX)),
                    Err(_) => self.alarms.inc(),
                };
                let mut p = self.progress();
                let e = p.entry(name).or_default();
                e.halted = true;
                e.last_error = Some((alarm.code, alarm.message));
            }
        }
    }

    /// Submit the checkpoint `(size, note)` to one witness, following C2SP tlog-witness.
    async fn submit(
        &self,
        w: &Witness,
        storage: &DynStorage,
        tile_cache: &Arc<TileCache>,
        (size, note): &(u64, String),
    ) -> std::result::Result<(), Failure> {
        let retry = |code: &str, message: String| Failure::Retry(code.to_string(), message);
        let storage_failed = |e: ApiError| retry(&e.code, e.message);
        let (text, _) = core_witness::split_note(note)
            .ok_or_else(|| retry("LOG_CHECKPOINT_FAILED", "存储的检查点不是签名文本".into()))?;
        let origin = text.split('\n').next().unwrap_or_default().to_string();
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        let held = storage
            .witness_cosignatures(&digest)
            .await
            .map_err(storage_failed)?;
        if held.iter().any(|c| c.witness == w.key.name) {
            self.cosigned_size
                .get_or_create(&WitnessLabels {
                    witness: w.key.name.clone(),
                })
                .set(i64::try_from(*size).unwrap_or(i64::MAX));
            return Ok(());
        }
        let mut old = storage
            .witness_cosigned_size(&w.key.name, &origin)
            .await
            .map_err(storage_failed)?
            .filter(|s| s <= size)
            .unwrap_or(0);
        let Some(client) = &self.client else {
            return Ok(());
        };
        let alarm = |code: &str, witness_size: Option<u64>, message: String| {
            Failure::Alarm(WitnessAlarm {
                witness: w.key.name.clone(),
                code: code.to_string(),
                size: *size,
                witness_size,
                message,
                checkpoint: note.clone(),
                checkpoint_sha256: digest.clone(),
                detected_at: crate::now(),
            })
        };
        for _ in 0..=MAX_CONFLICTS {
            let proof = if old == 0 || old == *size {
                Vec::new()
            } else {
                tile_cache
                    .consistency_proof(storage, *size, old)
                    .await
                    .map_err(storage_failed)?
            };
            let mut body = format!("old {old}\n");
            for h in &proof {
                body.push_str(&b64(&h.0));
                body.push('\n');
            }
            body.push('\n');
            body.push_str(note);
            let url = format!("{}/add-checkpoint", w.url);
            let answer = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(body)
                .send()
                .await
                .map_err(|e| retry(code::UNREACHABLE, format!("无法连接见证者 {url}：{e}")))?;
            let status = answer.status().as_u16();
            let reply = answer.text().await.map_err(|e| {
                retry(
                    code::UNREACHABLE,
                    format!("读取见证者 {url} 的回答失败：{e}"),
                )
            })?;
            match status {
                200 => return self.keep(w, storage, text, &origin, *size, &digest, &reply).await,
                409 => {
                    let known: u64 = reply.trim().parse().map_err(|_| {
                        retry(
                            code::REFUSED,
                            format!("见证者 {} 回答 409 却未给出它已知的日志大小：{}", w.key.name, reply.trim()),
                        )
                    })?;
                    if known > *size {
                        return Err(alarm(
                            code::AHEAD,
                            Some(known),
                            format!(
                                "见证者 {} 已见过本日志（{origin}）大小为 {known} 的检查点，大于本服务器当前的 {size}：\
                                 日志可能丢失了末尾（从旧备份恢复）或曾向见证者展示过另一份历史。请立即核查",
                                w.key.name
                            ),
                        ));
                    }
                    if known == old {
                        return Err(retry(
                            code::REFUSED,
                            format!("见证者 {} 回答 409，但它已知的大小 {known} 正是所提交的", w.key.name),
                        ));
                    }
                    old = known;
                }
                422 => {
                    return Err(alarm(
                        code::SPLIT_VIEW,
                        Some(old),
                        format!(
                            "见证者 {} 拒绝了本日志（{origin}）大小为 {size} 的检查点：它此前联署的大小为 {old} 的树\
                             与本服务器的日志不一致（{}）。这说明有人向见证者展示过另一份日志历史（分叉视图），\
                             或本服务器的日志被改写。请立即核查，切勿自行重试",
                            w.key.name,
                            reply.trim()
                        ),
                    ));
                }
                403 | 400 | 404 => {
                    return Err(retry(
                        code::REFUSED,
                        format!(
                            "见证者 {} 拒绝了提交（HTTP {status}：{}）；请确认见证者已登记本日志（{origin}）及其公钥",
                            w.key.name,
                            reply.trim()
                        ),
                    ))
                }
                _ => {
                    return Err(retry(
                        code::UNREACHABLE,
                        format!("见证者 {} 回答 HTTP {status}：{}", w.key.name, reply.trim()),
                    ))
                }
            }
        }
        Err(retry(
            code::REFUSED,
            format!("见证者 {} 连续回答 409，所知大小不断变化", w.key.name),
        ))
    }

    /// Verify the cosignature lines of a `200` answer with the witness's key and store the valid
    /// ones.
    #[allow(clippy::too_many_arguments)]
    async fn keep(
        &self,
        w: &Witness,
        storage: &DynStorage,
        text: &str,
        origin: &str,
        size: u64,
        digest: &str,
        reply: &str,
    ) -> std::result::Result<(), Failure> {
        let mut kept = 0;
        for line in reply.lines().filter(|l| !l.is_empty()) {
            let Some(signed_at) = w.key.verify_line(text.as_bytes(), line) else {
                continue;
            };
            storage
                .put_witness_cosignature(&WitnessCosignature {
                    witness: w.key.name.clone(),
                    checkpoint_sha256: digest.to_string(),
                    origin: origin.to_string(),
                    size,
                    line: line.to_string(),
                    signed_at,
                    received_at: crate::now(),
                })
                .await
                .map_err(|e| Failure::Retry(e.code, e.message))?;
            kept += 1;
        }
        if kept == 0 {
            return Err(Failure::Retry(
                code::COSIGNATURE_INVALID.to_string(),
                format!(
                    "见证者 {} 的回答中没有可用其配置公钥验证的联署签名：{}",
                    w.key.name,
                    reply.trim()
                ),
            ));
        }
        self.cosignatures
            .get_or_create(&WitnessLabels {
                witness: w.key.name.clone(),
            })
            .inc();
        self.cosigned_size
            .get_or_create(&WitnessLabels {
                witness: w.key.name.clone(),
            })
            .set(i64::try_from(size).unwrap_or(i64::MAX));
        tracing::info!(witness = %w.key.name, size, "checkpoint cosigned by witness");
        Ok(())
    }
}

/// Every commit that publishes a checkpoint wakes the submission task.
impl CommitObserver for Witnesses {
    fn committed(&self, plan: &BatchPlan) {
        if plan.checkpoint.is_some() && !self.list.is_empty() {
            self.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vkey(name: &str, seed: u8) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
        core_witness::verifier_key(name, &key)
    }

    #[test]
    fn a_setting_is_a_key_and_a_url() {
        let key = vkey("witness.example/a", 1);
        let w = Witness::parse(&format!("  {key}   https://w.example/api/ ")).expect("parse");
        assert_eq!(w.key.name, "witness.example/a");
        assert_eq!(w.url, "https://w.example/api");
        for bad in [
            key.clone(),
            format!("{key} https://a https://b"),
            format!("{key} ftp://w.example"),
            "witness.example/a+00000000+AAAA https://w.example".to_string(),
        ] {
            assert_eq!(Witness::parse(&bad).expect_err(&bad).code, "CONFIG_INVALID");
        }
    }

    #[test]
    fn witnesses_are_named_once_and_the_quorum_fits() {
        let a = Witness::parse(&format!("{} http://a", vkey("a.example", 1))).expect("a");
        let b = Witness::parse(&format!("{} http://b", vkey("b.example", 2))).expect("b");
        let both = Witnesses::new(vec![b.clone(), a.clone()], 2).expect("2 of 2");
        let policy = both.policy().expect("policy");
        assert_eq!(policy.quorum, 2);
        assert_eq!(policy.witnesses[0].name, "a.example");
        assert!(Witnesses::new(vec![a.clone(), b.clone()], 3).is_err());
        assert!(Witnesses::new(vec![a.clone(), a.clone()], 1).is_err());
        assert!(Witnesses::new(Vec::new(), 0)
            .expect("none")
            .policy()
            .is_none());
    }
}
