//! Witnesses' cosignatures of the log's checkpoints, and the alarms they raised: see
//! `crate::witness`.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// A cosignature a witness returned, verified with its configured key before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessCosignature {
    /// The witness's name (its key's name).
    pub witness: String,
    /// Lowercase hex SHA-256 of the cosigned checkpoint's text (the note without signatures).
    pub checkpoint_sha256: String,
    pub origin: String,
    pub size: u64,
    /// The C2SP tlog-cosignature line, without its newline.
    pub line: String,
    /// When the witness signed (its timestamp, Unix seconds).
    pub signed_at: u64,
    pub received_at: String,
}

/// A witness refused the log: what it said, about which checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessAlarm {
    pub witness: String,
    /// Stable code (`WITNESS_SPLIT_VIEW`, `WITNESS_AHEAD`).
    pub code: String,
    /// The size of the checkpoint submitted.
    pub size: u64,
    /// The size the witness said it knows, when it said one.
    pub witness_size: Option<u64>,
    pub message: String,
    /// The checkpoint submitted (signed note).
    pub checkpoint: String,
    #[serde(skip)]
    pub checkpoint_sha256: String,
    pub detected_at: String,
}

/// Witness cosignatures and alarms.
#[async_trait]
pub trait WitnessStore: Send + Sync + 'static {
    /// Store a verified cosignature (a second one of the same witness for the same checkpoint is
    /// ignored).
    async fn put_witness_cosignature(&self, c: &WitnessCosignature) -> Result<()>;
    /// The cosignatures stored for the checkpoint whose text has this SHA-256, by witness name.
    async fn witness_cosignatures(
        &self,
        checkpoint_sha256: &str,
    ) -> Result<Vec<WitnessCosignature>>;
    /// The largest checkpoint size of `origin` the witness has cosigned, if any.
    async fn witness_cosigned_size(&self, witness: &str, origin: &str) -> Result<Option<u64>>;
    /// Record an alarm (the same witness, checkpoint and code once).
    async fn put_witness_alarm(&self, a: &WitnessAlarm) -> Result<()>;
    /// Every recorded alarm, newest first.
    async fn witness_alarms(&self) -> Result<Vec<WitnessAlarm>>;
}
