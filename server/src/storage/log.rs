//! The transparency log: batches appended under the log's lock, tiles, checkpoints, leaves, and
//! the entries brought back after a rollover.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use serde::Serialize;

use super::Device;
use crate::error::Result;
use crate::tlog::{TileKey, TileSet};

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

/// The answer for one entry (what each status means: `crate::ingest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Accepted,
    Duplicate,
    Refused,
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Duplicate => "duplicate",
            Status::Refused => "refused",
            Status::Rejected => "rejected",
        }
    }
}

/// Receipt: the entry's inclusion proof and the signed checkpoint it verifies against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// RFC 6962 audit path, base64 hashes, leaf to root.
    pub inclusion_proof: Vec<String>,
    /// C2SP signed note.
    pub checkpoint: String,
}

/// One entry's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Lowercase hex SHA-256 of the entry's bytes.
    pub hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// (leaf index, checkpoint size) of a logged entry; size 0 until the batch's size is known.
    #[serde(skip)]
    pub position: Option<(u64, u64)>,
}

/// Why an authentic entry in its place was refused (stored with it, answered again on a repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

/// Told of every batch a storage commits, once its transaction has committed: what the tile cache
/// keeps (write-through, `crate::tile_cache`). Runs on the committing task, so it must not block.
pub trait CommitObserver: Send + Sync + 'static {
    fn committed(&self, plan: &BatchPlan);
}

/// The observers of one storage's commits (each backend holds one).
#[derive(Default)]
pub(crate) struct CommitObservers(RwLock<Vec<Arc<dyn CommitObserver>>>);

impl CommitObservers {
    pub(crate) fn add(&self, observer: Arc<dyn CommitObserver>) {
        // An observer that panicked cannot have left the list half-changed: go on with it.
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(observer);
    }

    pub(crate) fn committed(&self, plan: &BatchPlan) {
        for o in self.0.read().unwrap_or_else(PoisonError::into_inner).iter() {
            o.committed(plan);
        }
    }
}

/// The log.
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Append a batch under the log's lock (see the module documentation); once committed, the
    /// plan is handed to every [`CommitObserver`].
    async fn commit_batch(
        &self,
        device_id: &str,
        seqs: Vec<u64>,
        plan: Planner,
    ) -> Result<BatchPlan>;
    /// Hand every batch committed from now on to `observer`.
    fn observe_commits(&self, observer: Arc<dyn CommitObserver>);

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
    /// Entries brought back after a log rollover, by their leaf in the current log: at most
    /// `limit`, after leaf `after` when given.
    async fn recovered_entries(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RecoveredEntry>>;
}
