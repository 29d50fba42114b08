//! Verified ingest: a device's batch of signed ledger entries, checked and appended to the log.
//! [`push`] is the whole of it, from the entries as sent to the answer; the HTTP handler only
//! extracts the request and answers.
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
//! An entry re-submitted after a log rollover may carry the receipt a retired origin gave it
//! (`old_receipt`, `crate::rollover`): checked before the batch is planned; one that does not verify
//! rejects the entry (`OLD_RECEIPT_INVALID`), one that does is recorded with the entry when this
//! batch logs it (`log_recovered`).
//!
//! Business checks (failure: `refused`, logged with a receipt):
//!
//! 4. every officer named is on the roster of the device's agency (`OFFICER_NOT_REGISTERED`,
//!    `CERTIFICATE_OTHER_AGENCY`) and may act on the entry's day in the agency's calendar — the
//!    core's one answer, `roadside_core::officer`, with its codes (`OFFICER_NOT_ENFORCER`,
//!    `OFFICER_CERTIFICATE_NOT_YET_VALID`, `OFFICER_CERTIFICATE_EXPIRED`,
//!    `OFFICER_CERTIFICATE_REVOKED`) — and the entry names one at least (`NO_ENFORCING_OFFICER`);
//! 5. the steps that end a case (`roadside_core::steps`) are checked again with the core's own
//!    functions ([`check_step`]): the body must have the shape of its kind (`STEP_BODY_INVALID`);
//!    a `decision.penalty` must name reference data the server publishes or published
//!    (`crate::bundles::Bundler::reference_books`; otherwise `DECISION_REFERENCE_UNKNOWN`) and pass `recheck_penalty_decision` with it and the agency's
//!    roster (the first issue's code, every issue in the message); a `measure.apply` and a
//!    `delivery.record` must pass `steps::measure` and `steps::delivery`. What needs the whole
//!    case (a payment against its decision, closing with measures still open, a statement against
//!    its notice) is the device's check only: the server checks each entry on its own.
//!
//! Steps 1, 2, 4 and 5 use no lock and run on every core, the signatures of each core's part verified
//! as one batch (`ed25519_dalek::verify_batch`, then one by one only if the batch fails; see
//! `check_chunk` for how a batch is kept as strict as `verify_strict`);
//! step 3 runs in the planner. Entries are taken in `seq` order whatever order the batch lists them
//! in; answers keep the batch's order.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use base64::Engine;
use chrono::NaiveDate;
use ed25519_dalek::{Signature, VerifyingKey};
use roadside_core::ledger::EntryKind;
use roadside_core::ledger::{self, KnownDevice, LedgerEntry};
use roadside_core::model::OfficerCertificate;
use roadside_core::officer::Ineligible;
use roadside_core::rules::RuleBook;
use roadside_core::steps;

use crate::error::{ApiError, Result};
use crate::metrics::Metrics;
use crate::rollover::{check_old_receipt, OldPosition, OldReceipt};
use crate::storage::{BatchPlan, BatchSnapshot, Device, DynStorage, NewEntry, RecoveredEntry};
pub use crate::storage::{Outcome, Receipt, Refusal, Status};
use crate::tlog::{self, LogSigner, TileSet, TreeHash};

/// Largest entry accepted, in bytes (an entry-bundle leaf length is a u16; entries are small).
pub const MAX_ENTRY_BYTES: usize = 60 * 1024;
/// Most entries in one push.
pub const MAX_BATCH: usize = 1000;
/// Batches at least this long are checked on every core.
const PARALLEL_MIN: usize = 32;

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
/// are split across every core; each part's signatures are batch-verified (see `check_chunk`).
pub fn pre_check(
    device: &Device,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    roster: &HashMap<String, OfficerCertificate>,
    books: &ReferenceBooks,
) -> Vec<PreChecked> {
    // The enrolled key, decoded once for the whole batch.
    let known = KnownDevice::decode(&device.public_key).ok();
    let batch_key = known.as_ref().and_then(batchable_key);
    let check = |chunk: Vec<(Vec<u8>, Vec<u8>)>| {
        check_chunk(
            device,
            known.as_ref(),
            batch_key.as_ref(),
            roster,
            books,
            chunk,
        )
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if entries.len() < PARALLEL_MIN || cores < 2 {
        return check(entries);
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
    let first = chunks.remove(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || check(chunk)))
            .collect();
        let mut out: Vec<PreChecked> = check(first);
        for h in handles {
            // A check that panicked is a bug: fail the request (the caller answers TASK_FAILED).
            out.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

/// The enrolled key, if its entries may be batch-verified: not of small order (`verify_strict`
/// refuses every signature by such a key) and free of any torsion component (so that a batch can
/// only pass when each entry's equation holds exactly; see [`check_chunk`]). One scalar
/// multiplication per push. Any other key is checked one entry at a time, with `verify_strict`.
fn batchable_key(known: &KnownDevice) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(known.hex()).ok()?.try_into().ok()?;
    let key = VerifyingKey::from_bytes(&bytes).ok()?;
    (!key.is_weak() && key.to_edwards().is_torsion_free()).then_some(key)
}

/// Steps 1, 2 and 4 for part of a batch, in order, with one batch verification of its signatures.
///
/// Entries that are well-formed, signed by the enrolled key (`device` is that key) and whose
/// signature passes the cheap checks below are *candidates*; every other entry is checked on its
/// own by the core's [`ledger::open_known`] (its exact answer, `verify_strict` included). The
/// candidates' signatures are verified together with `ed25519_dalek::verify_batch`; if the batch
/// fails, each candidate is checked again on its own by [`ledger::open_known`], so the answer names
/// exactly the entries whose signature is bad.
///
/// Batch verification (ed25519-dalek 2.2 `verify_batch`) is not `verify_strict`. What it shares and
/// what is added here, so that a batch passes only where `verify_strict` would accept every entry:
/// - `S < ℓ` (no malleable `S`): both parse the signature with the same `InternalSignature::try_from`,
///   which refuses a non-canonical `S` (`Scalar::from_canonical_bytes`; the `legacy_compatibility`
///   feature that would relax this is not enabled). `Signature::from_bytes`/`from_slice` (crate
///   `ed25519` 2.x) only split the bytes and check nothing; the check happens when verifying.
/// - small-order public key: `verify_strict` refuses; the batch does not. The key is checked once
///   per push ([`batchable_key`]: not weak, and torsion-free).
/// - small-order `R`: `verify_strict` refuses; the batch does not. Checked per entry here (`R`
///   decompressed, `is_weak`), as is a non-canonical encoding of `R` (`y ≥ p`), which
///   `verify_strict` refuses by comparing `R`'s bytes with the canonical encoding it recomputes
///   while the batch compares points.
/// - the equation: `verify_strict` checks `R = [S]B − [k]A` exactly; the batch checks a random
///   (128-bit, per call) linear combination of the entries' equations without the cofactor. With a
///   torsion-free key a wrong signature passes only if the error in its `R` is a pure torsion
///   component (an `R` of mixed order, which only the key's holder can make and `verify_strict`
///   always refuses), with probability up to 1/2 per attempt; an error with any prime-order part
///   passes with probability about 2⁻¹²⁸. Ruling out a mixed-order `R` costs a scalar
///   multiplication per entry (about one verification), so it is not done: the remaining gap is a
///   device deliberately logging a signature of its own that `verify_strict` refuses.
fn check_chunk(
    device: &Device,
    known: Option<&KnownDevice>,
    batch_key: Option<&VerifyingKey>,
    roster: &HashMap<String, OfficerCertificate>,
    books: &ReferenceBooks,
    chunk: Vec<(Vec<u8>, Vec<u8>)>,
) -> Vec<PreChecked> {
    let (Some(known), Some(key)) = (known, batch_key) else {
        return chunk
            .into_iter()
            .map(|(bytes, sig)| check_one(device, known, roster, books, bytes, sig))
            .collect();
    };
    // Per entry: the opened entry of a candidate, or None (checked on its own).
    let opened: Vec<Option<(Signature, LedgerEntry)>> = chunk
        .iter()
        .map(|(bytes, sig)| {
            (bytes.len() <= MAX_ENTRY_BYTES)
                .then(|| open_unverified(bytes, sig, known))
                .flatten()
                .filter(|(sig, _)| strict_r(sig))
        })
        .collect();
    let candidates: Vec<usize> = (0..chunk.len()).filter(|&i| opened[i].is_some()).collect();
    let batch_ok = !candidates.is_empty() && {
        let messages: Vec<&[u8]> = candidates.iter().map(|&i| chunk[i].0.as_slice()).collect();
        let sigs: Vec<Signature> = candidates
            .iter()
            .filter_map(|&i| opened[i].as_ref().map(|(s, _)| *s))
            .collect();
        let keys = vec![*key; sigs.len()];
        ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok()
    };
    chunk
        .into_iter()
        .zip(opened)
        .map(|((bytes, sig), opened)| match opened {
            Some((_, entry)) if batch_ok => {
                let hash = ledger::sha256(&bytes);
                finish(device, roster, books, hash, entry, bytes, sig)
            }
            _ => check_one(device, Some(known), roster, books, bytes, sig),
        })
        .collect()
}

/// The core's [`ledger::open_known`] for an entry of the enrolled key, without its signature
/// check: `Some` only where `open_known` would go on to verify the signature with `known`'s key
/// and, if it is good, return this entry (same checks, in any order, the shape check included).
/// `None` for anything else; such an entry gets `open_known`'s own answer.
fn open_unverified(
    bytes: &[u8],
    sig: &[u8],
    known: &KnownDevice,
) -> Option<(Signature, LedgerEntry)> {
    // Another device's key is answered by `open_known` (the exact rejection), never batched.
    match ledger::open_known_unverified(bytes, sig, known) {
        Ok((entry, sig, _)) if entry.device == known.hex() => Some((sig, entry)),
        _ => None,
    }
}

/// `R` of a signature passes `verify_strict`'s checks that a batch does not make: its encoding is
/// canonical (`y < p`, p = 2²⁵⁵ − 19) and it is not a point of small order.
///
/// No point is decompressed: with `y < p`, the encodings of the eight small-order points are
/// exactly those in [`small_order_encodings`]. An `R` that is not a point at all passes here and
/// fails the batch, so its chunk is then checked entry by entry (the exact answer).
fn strict_r(sig: &Signature) -> bool {
    let r = sig.r_bytes();
    // y ≥ p (little-endian, sign bit masked): 0x7fff…ffed and above.
    let y_high = r[31] & 0x7f == 0x7f && r[1..31].iter().all(|&b| b == 0xff) && r[0] >= 0xed;
    !y_high && !small_order_encodings().contains(r)
}

/// Every encoding with `y < p` that decompresses to one of the eight points of small order: each
/// point's canonical encoding, and the same with the sign bit flipped (the negated point, itself of
/// small order, or for the two points with x = 0 a non-canonical encoding of the same point, which
/// decompression accepts).
fn small_order_encodings() -> &'static [[u8; 32]] {
    static TABLE: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .flat_map(|p| {
                let canonical = p.compress().to_bytes();
                let mut flipped = canonical;
                flipped[31] ^= 0x80;
                [canonical, flipped]
            })
            .collect();
        table.sort_unstable();
        table.dedup();
        table
    })
}

fn check_one(
    device: &Device,
    known: Option<&KnownDevice>,
    roster: &HashMap<String, OfficerCertificate>,
    books: &ReferenceBooks,
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
    finish(device, roster, books, hash, entry, bytes, sig)
}

/// Steps 2, 4 and 5 for an authentic entry.
fn finish(
    device: &Device,
    roster: &HashMap<String, OfficerCertificate>,
    books: &ReferenceBooks,
    hash: [u8; 32],
    entry: LedgerEntry,
    bytes: Vec<u8>,
    sig: Vec<u8>,
) -> PreChecked {
    if entry.device != device.public_key {
        return Err(Box::new(Outcome::rejected(
            &hash,
            Some(entry.seq),
            "ENTRY_WRONG_DEVICE",
            "记录不是由本设备的登记密钥签署的",
        )));
    }
    let refusal = match check_officers(&entry, &device.agency, roster) {
        Err((code, message)) => Some(Refusal {
            code: code.to_string(),
            message,
        }),
        Ok(()) => check_step(&entry, roster, books).err(),
    };
    Ok(Checked {
        hash,
        entry,
        bytes,
        sig,
        refusal,
    })
}

/// The entry's day in the agency's calendar (certificates are valid per calendar day).
fn entry_date(entry: &LedgerEntry) -> Option<NaiveDate> {
    Some(roadside_core::day::agency_day(&entry.at_utc()?))
}

/// Every officer named on the entry is on this agency's roster and may act on the entry's day
/// (the core's one answer, [`roadside_core::officer`], with its codes); the entry names one at
/// least.
pub fn check_officers(
    entry: &LedgerEntry,
    agency: &str,
    roster: &HashMap<String, OfficerCertificate>,
) -> std::result::Result<(), (&'static str, String)> {
    let day = entry_date(entry).ok_or(("ENTRY_BAD_TIME", "记录时间无效".to_string()))?;
    for no in &entry.officers {
        let Some(officer) = roster.get(no) else {
            let why = Ineligible::NotRegistered;
            return Err((why.code(), why.message(no, "", day)));
        };
        if officer.agency != agency {
            return Err((
                "CERTIFICATE_OTHER_AGENCY",
                format!("执法证号 {no}（{}）不属于本设备登记的机构", officer.name),
            ));
        }
        if let Some(why) = roadside_core::officer::reasons(officer, day).first() {
            return Err((why.code(), why.message(no, &officer.name, day)));
        }
    }
    if entry.officers.is_empty() {
        return Err((
            "NO_ENFORCING_OFFICER",
            "记录中没有具有执法资格的执法人员".to_string(),
        ));
    }
    Ok(())
}

/// The reference data the server published, by [`RuleBook::reference_digest`]: the sets a
/// decision may name (`crate::bundles::Bundler::reference_books`).
pub type ReferenceBooks = HashMap<String, Arc<RuleBook>>;

/// Step 5: an entry of the steps that end a case, checked again on its own with the core's
/// functions (see the module documentation). Other kinds pass.
pub fn check_step(
    entry: &LedgerEntry,
    roster: &HashMap<String, OfficerCertificate>,
    books: &ReferenceBooks,
) -> std::result::Result<(), Refusal> {
    let officers = || roster.values().cloned().collect::<Vec<_>>();
    match entry.kind {
        EntryKind::DecisionPenalty => {
            let d: steps::PenaltyDecision = step_body(entry)?;
            let book = books.get(&d.reference.digest).ok_or_else(|| Refusal {
                code: "DECISION_REFERENCE_UNKNOWN".to_string(),
                message: format!(
                    "第 {} 条记录（处罚决定 {}）依据的参考数据（摘要 {}）不是服务器发布的参考数据，无法复核",
                    entry.seq, d.number, d.reference.digest
                ),
            })?;
            let issues = steps::recheck_penalty_decision(book, &officers(), &d);
            refuse_issues(entry, "处罚决定", issues)
        }
        EntryKind::DecisionNoPenalty => step_body::<steps::NoPenaltyDecision>(entry).map(drop),
        EntryKind::NoticeIssue => step_body::<steps::Notice>(entry).map(drop),
        EntryKind::StatementRecord => step_body::<steps::Statement>(entry).map(drop),
        EntryKind::MeasureApply => {
            let m: steps::Measure = step_body(entry)?;
            match steps::measure(
                &officers(),
                &m.input,
                m.measure_id.clone(),
                m.number.clone(),
            ) {
                Err(e) => refuse_issues(entry, "强制措施", e.into_issues()),
                Ok(again) if again.ends_on != m.ends_on => Err(Refusal {
                    code: "STEP_BODY_INVALID".to_string(),
                    message: format!(
                        "第 {} 条记录（强制措施 {}）的截止日期 {} 与起始日期和期限不符（应为 {}）",
                        entry.seq, m.number, m.ends_on, again.ends_on
                    ),
                }),
                Ok(_) => Ok(()),
            }
        }
        EntryKind::MeasureExtend => step_body::<steps::MeasureExtension>(entry).map(drop),
        EntryKind::MeasureRelease => step_body::<steps::MeasureRelease>(entry).map(drop),
        EntryKind::DocumentIssue => step_body::<steps::DocumentIssued>(entry).map(drop),
        EntryKind::DeliveryRecord => {
            let d: steps::DeliveryInput = step_body(entry)?;
            match steps::delivery(&d) {
                Err(e) => refuse_issues(entry, "送达记录", e.into_issues()),
                Ok(_) => Ok(()),
            }
        }
        // A payment is checked against its decision, a statement against its notice and a
        // closing against the whole case (paid, measures released) on the device, where the case
        // is; the server checks each entry on its own, so only their shape here.
        EntryKind::PaymentRecord => step_body::<steps::PaymentInput>(entry).map(drop),
        EntryKind::CaseClose => step_body::<steps::CloseInput>(entry).map(drop),
        // A preservation's officers are checked with every entry's; its decision date comes from
        // the working-day calendar of the reference data the device held.
        EntryKind::EvidencePreserve => step_body::<steps::Preservation>(entry).map(drop),
        // A request is the proposed decision: checked as a decision would be. An opinion's shape
        // here; who may sign one is checked with the case (`crate::review::check_reviews`).
        EntryKind::ReviewRequest => {
            let r: steps::ReviewRequest = step_body(entry)?;
            let book = books.get(&r.proposal.reference.digest).ok_or_else(|| Refusal {
                code: "DECISION_REFERENCE_UNKNOWN".to_string(),
                message: format!(
                    "第 {} 条记录（法制审核请求）依据的参考数据（摘要 {}）不是服务器发布的参考数据，无法复核",
                    entry.seq, r.proposal.reference.digest
                ),
            })?;
            let issues = steps::recheck_penalty_decision(book, &officers(), &r.proposal);
            refuse_issues(entry, "法制审核请求", issues)
        }
        EntryKind::ReviewOpinion => step_body::<steps::ReviewOpinion>(entry).map(drop),
        EntryKind::CaseOpen
        | EntryKind::RecordCreate
        | EntryKind::RecordAmend
        | EntryKind::EvidenceAdd
        | EntryKind::CaseFinalize
        | EntryKind::EntryVoid => Ok(()),
    }
}

/// The body of a step entry as its core type (`deny_unknown_fields`), or `STEP_BODY_INVALID`.
fn step_body<T: serde::de::DeserializeOwned>(
    entry: &LedgerEntry,
) -> std::result::Result<T, Refusal> {
    serde_json::from_value(entry.body.clone()).map_err(|e| Refusal {
        code: "STEP_BODY_INVALID".to_string(),
        message: format!(
            "第 {} 条记录（{}）的内容不符合该类记录的格式：{e}",
            entry.seq, entry.kind
        ),
    })
}

/// Refuse with the first issue's code and every issue in the message; pass when there are none.
fn refuse_issues(
    entry: &LedgerEntry,
    what: &str,
    issues: Vec<roadside_core::error::Issue>,
) -> std::result::Result<(), Refusal> {
    let Some(first) = issues.first() else {
        return Ok(());
    };
    let listed: Vec<String> = issues
        .iter()
        .map(|i| format!("{}（{}）：{}", i.path, i.code, i.message))
        .collect();
    Err(Refusal {
        code: first.code.clone(),
        message: format!(
            "第 {} 条记录（{what}）未通过服务器复核：{}",
            entry.seq,
            listed.join("；")
        ),
    })
}

/// Step 3 and the log append: the planner run inside the batch's transaction.
///
/// `old_positions`: entries re-submitted after a log rollover with a verified receipt of a retired
/// origin (`crate::rollover`); each one this batch logs is recorded as recovered.
pub fn plan(
    snapshot: BatchSnapshot,
    checked: Vec<PreChecked>,
    signer: &LogSigner,
    old_positions: &HashMap<[u8; 32], OldPosition>,
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
    let mut recovered = Vec::new();
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
                if let Some(old) = old_positions.get(&c.hash) {
                    recovered.push(RecoveredEntry {
                        entry_hash: hex::encode(c.hash),
                        device_id: device.id.clone(),
                        seq,
                        leaf_index,
                        old_origin: old.origin.clone(),
                        old_leaf_index: old.leaf_index,
                        old_tree_size: old.tree_size,
                        old_checkpoint: old.checkpoint.clone(),
                        recorded_at: crate::now(),
                    });
                }
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
        recovered,
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
    // The planner's tiles hold every tile a proof at the batch's own size reads: only positions
    // in older trees (duplicates, refusals answered again) may need tiles from the storage.
    let fresh_size = fresh.as_ref().map(|(size, _)| *size);
    let mut keys = BTreeSet::new();
    for &(leaf, size) in wanted.iter().filter(|(_, size)| Some(*size) != fresh_size) {
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

/// One entry of a push as the device sent it.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The entry's exact canonical bytes, base64 (standard alphabet, padded).
    pub bytes: String,
    /// The Ed25519 signature over the bytes, base64 (64 bytes).
    pub sig: String,
    /// After a log rollover: the receipt a retired origin of the log gave this entry.
    pub old_receipt: Option<OldReceipt>,
}

/// What a push answers: one [`Outcome`] per entry in the order sent, the count of each status
/// (they add up to the number of entries sent), and the log right after the push.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub results: Vec<Outcome>,
    pub accepted: usize,
    pub duplicates: usize,
    pub refused: usize,
    pub rejected: usize,
    pub tree_size: u64,
    pub checkpoint: Option<String>,
}

/// A device's push, from the entries as sent to the answer: the batch's size checked, the entries
/// decoded, checked against the agency's roster (steps 1, 2 and 4, off the async threads), their
/// old receipts verified, the batch planned and committed under the log's lock (step 3; the
/// storage hands what it wrote to the tile cache), receipts attached and the outcomes counted in
/// the metrics.
pub async fn push(
    storage: &DynStorage,
    signer: &Arc<LogSigner>,
    metrics: &Metrics,
    books: Arc<ReferenceBooks>,
    device: &Device,
    entries: Vec<Submitted>,
) -> Result<Pushed> {
    if entries.is_empty() {
        return Err(ApiError::bad_request("BATCH_EMPTY", "没有要上传的记录"));
    }
    if entries.len() > MAX_BATCH {
        return Err(ApiError::payload_too_large(
            "BATCH_TOO_LARGE",
            format!("一次最多上传 {MAX_BATCH} 条记录，本次 {} 条", entries.len()),
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = Vec::with_capacity(entries.len());
    let mut old_receipts = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let bytes = b64.decode(&e.bytes).map_err(|_| {
            ApiError::bad_request(
                "ENTRY_ENCODING",
                format!("第 {} 条记录的 bytes 不是有效的 base64", i + 1),
            )
        })?;
        let sig = b64.decode(&e.sig).map_err(|_| {
            ApiError::bad_request(
                "ENTRY_ENCODING",
                format!("第 {} 条记录的 sig 不是有效的 base64", i + 1),
            )
        })?;
        if let Some(r) = &e.old_receipt {
            // The rest (the index inside the tree, the proof, the checkpoint) is verified with the
            // entry and rejects it alone (OLD_RECEIPT_INVALID).
            if r.tree_size == 0 {
                return Err(ApiError::bad_request(
                    "OLD_RECEIPT_MALFORMED",
                    format!("第 {} 条记录的 old_receipt 无效：tree_size 至少为 1", i + 1),
                ));
            }
        }
        raw.push((bytes, sig));
        old_receipts.push(e.old_receipt);
    }
    let roster: HashMap<_, _> = storage
        .officers(std::slice::from_ref(&device.agency))
        .await?
        .into_iter()
        .map(|o| (o.certificate_no.clone(), o))
        .collect();
    let pre_device = device.clone();
    let pre_books = books.clone();
    let mut checked =
        tokio::task::spawn_blocking(move || pre_check(&pre_device, raw, &roster, &pre_books))
            .await
            .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?;
    // Legal review (法制审核): opinions only from the agency's signer chain; decisions that need
    // review only after an opinion of 同意 on the same proposal.
    crate::review::check_reviews(storage, &books, device, &mut checked).await?;
    // Old receipts of re-submitted entries (after a log rollover): checked before the batch is
    // planned; one that does not verify rejects its entry.
    let mut old_positions = HashMap::new();
    for (c, old) in checked.iter_mut().zip(&old_receipts) {
        let (Ok(entry), Some(old)) = (&*c, old) else {
            continue;
        };
        let (hash, seq) = (entry.hash, entry.entry.seq);
        match check_old_receipt(signer, &hash, old) {
            Ok(position) => {
                old_positions.insert(hash, position);
            }
            Err(why) => {
                *c = Err(Box::new(Outcome {
                    hash: hex::encode(hash),
                    seq: Some(seq),
                    status: Status::Rejected,
                    code: Some("OLD_RECEIPT_INVALID".to_string()),
                    message: Some(format!("第 {seq} 条记录：{why}")),
                    receipt: None,
                    position: None,
                }));
            }
        }
    }
    let seqs: Vec<u64> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|c| c.entry.seq))
        .collect();
    let planner_signer = signer.clone();
    let plan = storage
        .commit_batch(
            &device.id,
            seqs,
            Box::new(move |snapshot| plan(snapshot, checked, &planner_signer, &old_positions)),
        )
        .await?;
    crate::crash::point("push.answer");
    let fresh = plan.checkpoint.clone().map(|note| (plan.new_size, note));
    let mut results = plan.outcomes;
    attach_receipts(storage, &mut results, plan.working, fresh.clone()).await?;
    let count = |s: Status| results.iter().filter(|o| o.status == s).count();
    let (accepted, duplicates, refused, rejected) = (
        count(Status::Accepted),
        count(Status::Duplicate),
        count(Status::Refused),
        count(Status::Rejected),
    );
    for (n, status) in [
        (accepted, Status::Accepted),
        (duplicates, Status::Duplicate),
        (refused, Status::Refused),
        (rejected, Status::Rejected),
    ] {
        for _ in 0..n {
            metrics.count_entry(status.as_str());
        }
    }
    tracing::info!(device = %device.id, accepted, duplicates, refused, rejected, "push");
    // The log right after this push: the batch's own checkpoint when it grew the log.
    let latest = match fresh {
        Some(f) => Some(f),
        None => storage.checkpoint(None).await?,
    };
    Ok(Pushed {
        results,
        accepted,
        duplicates,
        refused,
        rejected,
        tree_size: latest.as_ref().map_or(0, |(s, _)| *s),
        checkpoint: latest.map(|(_, n)| n),
    })
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use roadside_core::ledger::{DeviceKey, EntryKind, Head, SignedEntry};
    use serde_json::json;

    /// The decompression-based rule the table replaces.
    fn strict_r_by_decompression(r: &[u8; 32]) -> bool {
        let y_high = r[31] & 0x7f == 0x7f && r[1..31].iter().all(|&b| b == 0xff) && r[0] >= 0xed;
        !y_high && VerifyingKey::from_bytes(r).is_ok_and(|p| !p.is_weak())
    }

    fn sig_with_r(r: [u8; 32]) -> Signature {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r);
        Signature::from_bytes(&bytes)
    }

    #[test]
    fn small_order_r_is_refused_without_decompressing() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::Scalar;
        // Every encoding in the table is a small-order point; there are ten (the eight canonical
        // ones and the sign-flipped encodings of the two with x = 0).
        let table = small_order_encodings();
        assert_eq!(table.len(), 10);
        for r in table {
            assert!(VerifyingKey::from_bytes(r).is_ok_and(|p| p.is_weak()));
            assert!(!strict_r(&sig_with_r(*r)));
        }
        // Prime-order points, small-order points and mixed ones, with both signs: the table agrees
        // with decompression on every point (a mixed-order R is not small-order; see check_chunk).
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for i in 0..400u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let scalar = if i % 10 == 0 {
                Scalar::ZERO
            } else {
                Scalar::from(state)
            };
            let point = ED25519_BASEPOINT_POINT * scalar + EIGHT_TORSION[(i % 8) as usize];
            for flip in [0u8, 0x80] {
                let mut r = point.compress().to_bytes();
                r[31] ^= flip;
                assert_eq!(
                    strict_r(&sig_with_r(r)),
                    strict_r_by_decompression(&r) || VerifyingKey::from_bytes(&r).is_err(),
                    "{r:?}"
                );
            }
        }
        // A non-canonical y (≥ p) is refused as before.
        let mut p_plus_one = [0xff_u8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert!(!strict_r(&sig_with_r(p_plus_one)));
    }

    fn device(key: &DeviceKey) -> Device {
        Device {
            id: "d1".into(),
            public_key: key.public_hex(),
            agency: "A".into(),
            certificate_no: "C".into(),
            name: "N".into(),
            enrolled_at: "2026-11-29T00:00:00Z".into(),
            revoked_at: None,
            head_seq: 0,
            head_hash: None,
        }
    }

    fn chain(key: &DeviceKey, n: usize) -> Vec<SignedEntry> {
        let mut head: Option<Head> = None;
        (0..n)
            .map(|i| {
                let (kind, body) = if i == 0 {
                    (EntryKind::CaseOpen, json!({"reason": "超限运输"}))
                } else {
                    (
                        EntryKind::RecordCreate,
                        json!({"record": {"situation": format!("第 {i} 条")}}),
                    )
                };
                let e = ledger::next_entry(
                    key,
                    head,
                    Utc::now(),
                    vec!["X1".into()],
                    kind,
                    Some("0192f3a0-0000-7000-8000-000000000001".into()),
                    body,
                );
                let s = ledger::seal(&e, key).unwrap();
                head = Some(Head {
                    seq: e.seq,
                    hash: s.hash,
                });
                s
            })
            .collect()
    }

    /// What [`pre_check`] answers, reduced to comparable text.
    fn answers(checked: &[PreChecked]) -> Vec<String> {
        checked
            .iter()
            .map(|c| match c {
                Ok(c) => format!("ok {} {:?}", hex::encode(c.hash), c.refusal),
                Err(o) => format!("err {o:?}"),
            })
            .collect()
    }

    fn single(dev: &Device, raw: &[(Vec<u8>, Vec<u8>)]) -> Vec<PreChecked> {
        let known = KnownDevice::decode(&dev.public_key).ok();
        raw.iter()
            .map(|(b, s)| {
                check_one(
                    dev,
                    known.as_ref(),
                    &HashMap::new(),
                    &HashMap::new(),
                    b.clone(),
                    s.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn batch_verification_names_the_one_bad_signature_and_matches_single_checks() {
        let key = DeviceKey::generate();
        let dev = device(&key);
        let entries = chain(&key, 120);
        let mut raw: Vec<(Vec<u8>, Vec<u8>)> = entries
            .iter()
            .map(|e| (e.bytes.clone(), e.sig.to_vec()))
            .collect();
        // All good: every entry authentic (refused: its officer is not on the empty roster).
        let checked = pre_check(&dev, raw.clone(), &HashMap::new(), &HashMap::new());
        assert!(checked.iter().all(|c| c.is_ok()));
        assert_eq!(answers(&checked), answers(&single(&dev, &raw)));

        // Entry 70 carries entry 71's signature: well-formed, canonical, but wrong.
        raw[70].1 = entries[71].sig.to_vec();
        let checked = pre_check(&dev, raw.clone(), &HashMap::new(), &HashMap::new());
        let bad: Vec<usize> = (0..checked.len())
            .filter(|&i| checked[i].is_err())
            .collect();
        assert_eq!(bad, vec![70]);
        let Err(o) = &checked[70] else { unreachable!() };
        assert_eq!(o.code.as_deref(), Some("LEDGER_BAD_SIGNATURE"));
        assert_eq!(o.hash, hex::encode(entries[70].hash));
        assert_eq!(answers(&checked), answers(&single(&dev, &raw)));
    }

    #[test]
    fn malformed_signatures_and_entries_get_the_single_check_answers() {
        let key = DeviceKey::generate();
        let dev = device(&key);
        let entries = chain(&key, 64);
        let mut raw: Vec<(Vec<u8>, Vec<u8>)> = entries
            .iter()
            .map(|e| (e.bytes.clone(), e.sig.to_vec()))
            .collect();
        raw[3].1.truncate(10); // wrong length
        raw[5].1[63] |= 0xf0; // S ≥ ℓ
        raw[7].1[..32].copy_from_slice(&[0; 32]); // R = (0, 0)-ish: small order / invalid
        raw[9].1[0] = 1; // R = identity encoding
        raw[9].1[1..32].fill(0);
        raw[40].0.push(b' '); // not canonical
        raw[50] = (entries[50].bytes.clone(), entries[50].sig.to_vec());
        let other = DeviceKey::generate();
        raw[60] = {
            let e = chain(&other, 1).remove(0);
            (e.bytes, e.sig.to_vec())
        };
        let checked = pre_check(&dev, raw.clone(), &HashMap::new(), &HashMap::new());
        let bad: Vec<usize> = (0..checked.len())
            .filter(|&i| checked[i].is_err())
            .collect();
        assert_eq!(bad, vec![3, 5, 7, 9, 40, 60]);
        assert_eq!(answers(&checked), answers(&single(&dev, &raw)));
    }
}
