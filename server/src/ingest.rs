//! Verified ingest: a device's batch of signed ledger entries, checked and appended to the log.
//!
//! # The answer for each entry
//!
//! | `status`    | stored? | receipt | `code`/`message` | meaning |
//! |-------------|---------|---------|------------------|---------|
//! | `accepted`  | yes     | yes     | no               | logged, and materialised into cases, records, evidence |
//! | `duplicate` | already | the same as when first accepted | no | sent before and accepted then; nothing changes |
//! | `refused`   | yes     | yes     | yes              | authentic and in its place, so logged and part of the device's chain, but it fails a business check: not materialised |
//! | `rejected`  | no      | no      | yes              | not authentic or not in its place; nothing stored |
//!
//! Sending a `refused` entry again answers `refused` again, with the same code, message and receipt
//! (the answer is stored with the entry, not decided again). The device's later entries continue
//! after a refused one. After a `rejected` one they are `rejected` as a gap (`CHAIN_GAP`) until a
//! correct entry fills its place.
//!
//! # Checks, in order (the first failure is the answer)
//!
//! Authenticity and place (failure: `rejected`, nothing stored):
//!
//! 1. size (`ENTRY_TOO_LARGE`), then the core's [`ledger::open`]: canonical bytes, signature by the
//!    key in `device`, a known `kind`, the format's shape rules (`LEDGER_*` codes);
//! 2. `device` is the key enrolled for the device whose token pushed it (`ENTRY_WRONG_DEVICE`);
//! 3. inside the log's lock: its place in the device's chain. `seq` at or below the stored head is
//!    a duplicate if the bytes are the stored ones (the stored answer again) and a fork otherwise
//!    (`CHAIN_FORK`); `seq` one above the head must name the head's hash in `prev`
//!    (`CHAIN_PREV_MISMATCH`); a higher `seq` leaves a gap (`CHAIN_GAP`).
//!
//! Business checks (failure: `refused`, logged with a receipt):
//!
//! 4. every officer named holds a certificate of the device's agency (`CERTIFICATE_UNKNOWN`,
//!    `CERTIFICATE_OTHER_AGENCY`) valid on the entry's date in China Standard Time
//!    (`CERTIFICATE_NOT_VALID`), not revoked by then (`CERTIFICATE_REVOKED`), and at least one of
//!    them may enforce (`NO_ENFORCING_OFFICER`).
//!
//! Steps 1, 2 and 4 use no lock and run on every core (signature checks are the costly part);
//! step 3 runs in the planner. Entries are taken in `seq` order whatever order the batch lists them
//! in; answers keep the batch's order.

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use chrono::{FixedOffset, NaiveDate};
use roadside_core::ledger::{self, KnownDevice, LedgerEntry};
use roadside_core::model::OfficerCertificate;
use serde::Serialize;

use crate::error::{ApiError, Result};
use crate::storage::{BatchPlan, BatchSnapshot, Device, DynStorage, NewEntry};
use crate::tlog::{self, LogSigner, TileSet, TreeHash};

/// Largest entry accepted, in bytes (an entry-bundle leaf length is a u16; entries are small).
pub const MAX_ENTRY_BYTES: usize = 60 * 1024;
/// Most entries in one push.
pub const MAX_BATCH: usize = 1000;
/// Batches at least this long are checked on every core.
const PARALLEL_MIN: usize = 32;

/// The answer for one entry (see the module documentation).
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

impl Outcome {
    fn rejected(hash: &[u8; 32], seq: Option<u64>, code: &str, message: impl Into<String>) -> Self {
        Outcome {
            hash: hex::encode(hash),
            seq,
            status: Status::Rejected,
            code: Some(code.to_string()),
            message: Some(message.into()),
            receipt: None,
            position: None,
        }
    }

    /// A logged entry's answer: accepted, or refused with the business check's reason.
    fn logged(hash: &[u8; 32], seq: u64, refusal: Option<&Refusal>, position: (u64, u64)) -> Self {
        Outcome {
            hash: hex::encode(hash),
            seq: Some(seq),
            status: if refusal.is_some() {
                Status::Refused
            } else {
                Status::Accepted
            },
            code: refusal.map(|r| r.code.clone()),
            message: refusal.map(|r| r.message.clone()),
            receipt: None,
            position: Some(position),
        }
    }
}

/// Why an authentic entry in its place was refused (stored with it, answered again on a repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

/// An authentic entry (steps 1, 2) with the verdict of the business checks (step 4).
#[derive(Debug, Clone)]
pub struct Checked {
    pub hash: [u8; 32],
    pub entry: LedgerEntry,
    pub bytes: Vec<u8>,
    pub sig: Vec<u8>,
    pub refusal: Option<Refusal>,
}

/// The result of steps 1, 2 and 4 for one entry, in batch order.
pub type PreChecked = std::result::Result<Checked, Box<Outcome>>;

/// Steps 1, 2 and 4 for every entry of a batch (CPU-bound; run off the async threads). Long batches
/// are split across every core.
pub fn pre_check(
    device: &Device,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    roster: &HashMap<String, OfficerCertificate>,
) -> Vec<PreChecked> {
    // The enrolled key, decoded once for the whole batch.
    let known = KnownDevice::decode(&device.public_key).ok();
    let check =
        |(bytes, sig): (Vec<u8>, Vec<u8>)| check_one(device, known.as_ref(), roster, bytes, sig);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if entries.len() < PARALLEL_MIN || cores < 2 {
        return entries.into_iter().map(check).collect();
    }
    let per = entries.len().div_ceil(cores);
    let mut chunks = Vec::with_capacity(cores);
    let mut rest = entries;
    while rest.len() > per {
        let tail = rest.split_off(per);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    let mut first = chunks.remove(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(check).collect::<Vec<_>>()))
            .collect();
        let mut out: Vec<PreChecked> = first.drain(..).map(check).collect();
        for h in handles {
            // A check that panicked is a bug: fail the request (the caller answers TASK_FAILED).
            out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

fn check_one(
    device: &Device,
    known: Option<&KnownDevice>,
    roster: &HashMap<String, OfficerCertificate>,
    bytes: Vec<u8>,
    sig: Vec<u8>,
) -> PreChecked {
    let hash = ledger::sha256(&bytes);
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(Box::new(Outcome::rejected(
            &hash,
            None,
            "ENTRY_TOO_LARGE",
            format!(
                "记录过大（{} 字节，上限 {MAX_ENTRY_BYTES} 字节）",
                bytes.len()
            ),
        )));
    }
    let opened = match known {
        Some(k) => ledger::open_known(&bytes, &sig, None, k),
        None => ledger::open(&bytes, &sig, None),
    };
    let entry =
        opened.map_err(|e| Box::new(Outcome::rejected(&hash, None, e.code(), e.message())))?;
    if entry.device != device.public_key {
        return Err(Box::new(Outcome::rejected(
            &hash,
            Some(entry.seq),
            "ENTRY_WRONG_DEVICE",
            "记录不是由本设备的登记密钥签署的",
        )));
    }
    let refusal = check_officers(&entry, &device.agency, roster)
        .err()
        .map(|(code, message)| Refusal {
            code: code.to_string(),
            message,
        });
    Ok(Checked {
        hash,
        entry,
        bytes,
        sig,
        refusal,
    })
}

/// The entry's date in China Standard Time (certificates are valid per calendar day).
fn entry_date(entry: &LedgerEntry) -> Option<NaiveDate> {
    let cst = FixedOffset::east_opt(8 * 3600)?;
    Some(entry.at_utc()?.with_timezone(&cst).date_naive())
}

fn check_officers(
    entry: &LedgerEntry,
    agency: &str,
    roster: &HashMap<String, OfficerCertificate>,
) -> std::result::Result<(), (&'static str, String)> {
    let day = entry_date(entry).ok_or(("ENTRY_BAD_TIME", "记录时间无效".to_string()))?;
    let parse = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let mut may_enforce = false;
    for no in &entry.officers {
        let Some(officer) = roster.get(no) else {
            return Err((
                "CERTIFICATE_UNKNOWN",
                format!("执法证号 {no} 不在本机构的执法人员名册中"),
            ));
        };
        if officer.agency != agency {
            return Err((
                "CERTIFICATE_OTHER_AGENCY",
                format!("执法证号 {no}（{}）不属于本设备登记的机构", officer.name),
            ));
        }
        if let Some(revoked) = officer.revoked_on.as_deref().and_then(parse) {
            if day >= revoked {
                return Err((
                    "CERTIFICATE_REVOKED",
                    format!(
                        "{}（{no}）的执法证已于 {revoked} 注销，不能用于 {day} 的记录",
                        officer.name
                    ),
                ));
            }
        }
        let from = parse(&officer.valid_from);
        let to = parse(&officer.valid_to);
        if from.is_none_or(|f| day < f) || to.is_none_or(|t| day > t) {
            return Err((
                "CERTIFICATE_NOT_VALID",
                format!(
                    "{}（{no}）的执法证有效期为 {} 至 {}，记录日期 {day} 不在有效期内",
                    officer.name, officer.valid_from, officer.valid_to
                ),
            ));
        }
        may_enforce |= officer.role.may_enforce();
    }
    if !may_enforce {
        return Err((
            "NO_ENFORCING_OFFICER",
            "记录中没有具有执法资格的执法人员（辅助人员不能单独执法）".to_string(),
        ));
    }
    Ok(())
}

/// Step 3 and the log append: the planner run inside the batch's transaction.
pub fn plan(
    snapshot: BatchSnapshot,
    checked: Vec<PreChecked>,
    signer: &LogSigner,
) -> Result<BatchPlan> {
    let BatchSnapshot {
        device,
        tree_size,
        existing,
        refusals,
        mut tiles,
    } = snapshot;
    if device.revoked_at.is_some() {
        return Err(device_revoked());
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; checked.len()];
    let mut order: Vec<(u64, usize, Checked)> = Vec::new();
    for (i, c) in checked.into_iter().enumerate() {
        match c {
            Ok(c) => order.push((c.entry.seq, i, c)),
            Err(o) => outcomes[i] = Some(*o),
        }
    }
    order.sort_by_key(|(seq, i, _)| (*seq, *i));

    let mut head_seq = device.head_seq;
    let mut head_hash = device.head_hash;
    // seq → (hash, leaf index, refusal) of the entries logged by this batch.
    let mut logged_here: HashMap<u64, ([u8; 32], u64, Option<Refusal>)> = HashMap::new();
    let mut new_entries = Vec::new();
    let mut leaf_hashes = Vec::new();
    for (seq, i, c) in order {
        let outcome = if seq <= head_seq {
            let stored = existing
                .get(&seq)
                .map(|s| {
                    let refusal = refusals.get(&seq);
                    (s.hash, s.leaf_index, s.checkpoint_size, refusal)
                })
                .or_else(|| {
                    logged_here
                        .get(&seq)
                        .map(|(h, l, r)| (*h, *l, 0, r.as_ref()))
                });
            match stored {
                Some((hash, leaf, size, refusal)) if hash == c.hash => {
                    let mut o = Outcome::logged(&c.hash, seq, refusal, (leaf, size));
                    if refusal.is_none() {
                        o.status = Status::Duplicate;
                    }
                    o
                }
                Some(_) => Outcome::rejected(
                    &c.hash,
                    Some(seq),
                    "CHAIN_FORK",
                    format!(
                        "服务器已收到本设备第 {seq} 条记录，内容与这条不同（账本分叉），拒绝接收"
                    ),
                ),
                None => {
                    return Err(ApiError::internal(
                        "CHAIN_STATE_INCONSISTENT",
                        format!("设备 {} 第 {seq} 条记录在头部之下却未找到", device.id),
                    ))
                }
            }
        } else if seq == head_seq + 1 {
            let prev_ok = match (&c.entry.prev, head_hash) {
                (None, None) => seq == 1,
                (Some(prev), Some(h)) => *prev == hex::encode(h),
                _ => false,
            };
            if prev_ok {
                let leaf_index = tree_size + leaf_hashes.len() as u64;
                leaf_hashes.push(tlog::record_hash(&c.hash));
                logged_here.insert(seq, (c.hash, leaf_index, c.refusal.clone()));
                head_seq = seq;
                head_hash = Some(c.hash);
                let outcome = Outcome::logged(&c.hash, seq, c.refusal.as_ref(), (leaf_index, 0));
                let e = c.entry;
                new_entries.push(NewEntry {
                    hash: c.hash,
                    seq,
                    leaf_index,
                    agency: device.agency.clone(),
                    device_id: device.id.clone(),
                    kind: e.kind.as_str().to_string(),
                    supersedes: e.supersedes().map(str::to_string),
                    case_id: e.case,
                    at: e.at,
                    officers: e.officers,
                    body: e.body.to_string(),
                    bytes: c.bytes,
                    sig: c.sig,
                    refusal: c.refusal,
                });
                outcome
            } else {
                Outcome::rejected(
                    &c.hash,
                    Some(seq),
                    "CHAIN_PREV_MISMATCH",
                    format!(
                        "第 {seq} 条记录的 prev 与服务器保存的第 {} 条记录的哈希不符（账本分叉）",
                        seq - 1
                    ),
                )
            }
        } else {
            Outcome::rejected(
                &c.hash,
                Some(seq),
                "CHAIN_GAP",
                format!(
                    "缺少本设备第 {} 至 {} 条记录，请先上传它们（或解决其被拒绝的原因）",
                    head_seq + 1,
                    seq - 1
                ),
            )
        };
        outcomes[i] = Some(outcome);
    }

    let mut touched = BTreeSet::new();
    let new_size = tlog::append(&mut tiles, tree_size, &leaf_hashes, &mut touched)?;
    let checkpoint = if new_size > tree_size {
        let root: TreeHash = tlog::root(&tiles, new_size)?;
        Some(signer.sign(new_size, root)?)
    } else {
        None
    };
    let mut outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();
    for o in &mut outcomes {
        // Checkpoint size 0 marks "first logged in this batch".
        if let Some((leaf, 0)) = o.position {
            o.position = Some((leaf, new_size));
        }
    }
    let tile_data = touched
        .into_iter()
        .filter_map(|k| tiles.tiles.get(&k).map(|d| (k, d.clone())))
        .collect();
    Ok(BatchPlan {
        entries: new_entries,
        head: (head_seq > device.head_seq)
            .then_some(head_seq)
            .zip(head_hash),
        tiles: tile_data,
        new_size,
        checkpoint,
        outcomes,
        working: tiles,
    })
}

pub fn device_revoked() -> ApiError {
    ApiError::forbidden(
        "DEVICE_REVOKED",
        "本设备已被注销，不能再上传记录；请联系本单位系统管理员",
    )
}

/// Attach receipts (inclusion proof + checkpoint) to every logged outcome (accepted, duplicate,
/// refused). `tiles` are the tiles the batch's planner held (the log at its new size, edges and all
/// it wrote) and `fresh` that size's checkpoint: proofs of the batch's own entries need nothing
/// else, so only older entries' proofs read the storage.
pub async fn attach_receipts(
    storage: &DynStorage,
    outcomes: &mut [Outcome],
    mut tiles: TileSet,
    fresh: Option<(u64, String)>,
) -> Result<()> {
    let mut wanted: Vec<(u64, u64)> = outcomes.iter().filter_map(|o| o.position).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut keys = BTreeSet::new();
    for &(leaf, size) in &wanted {
        keys.extend(tlog::tiles_for_inclusion(size, leaf));
    }
    let missing: Vec<_> = keys
        .into_iter()
        .filter(|k| !tiles.tiles.contains_key(k))
        .collect();
    if !missing.is_empty() {
        let more = storage.read_tiles(&missing).await?;
        tiles.tiles.extend(more.tiles);
    }
    let mut notes: HashMap<u64, String> = fresh.into_iter().collect();
    for &(_, size) in &wanted {
        if let std::collections::hash_map::Entry::Vacant(slot) = notes.entry(size) {
            let (_, note) = storage.checkpoint(Some(size)).await?.ok_or_else(|| {
                ApiError::internal("CHECKPOINT_MISSING", format!("缺少大小为 {size} 的检查点"))
            })?;
            slot.insert(note);
        }
    }
    for o in outcomes.iter_mut() {
        let Some((leaf, size)) = o.position else {
            continue;
        };
        let proof = tlog::inclusion_proof(&tiles, size, leaf)?;
        o.receipt = Some(Receipt {
            leaf_index: leaf,
            tree_size: size,
            inclusion_proof: proof.iter().map(|h| b64(&h.0)).collect(),
            checkpoint: notes.get(&size).cloned().unwrap_or_default(),
        });
    }
    Ok(())
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
