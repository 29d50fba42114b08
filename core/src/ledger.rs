//! The signed, hash-chained ledger: every action that creates or changes a record leaves one entry.
//!
//! # Format (version 1)
//!
//! An entry is a JSON object with exactly these nine members, encoded as RFC 8785 canonical JSON
//! (see [`crate::jcs`]):
//!
//! | member     | JSON type        | meaning |
//! |------------|------------------|---------|
//! | `v`        | number           | format version, [`LEDGER_VERSION`] (`1`) |
//! | `device`   | string           | the device's Ed25519 public key, 64 lowercase hex digits |
//! | `seq`      | number           | 1, 2, 3… per device, no gaps, at most 2⁵³−1 |
//! | `prev`     | string or `null` | lowercase hex SHA-256 of the previous entry's bytes; `null` exactly when `seq` is 1 |
//! | `at`       | string           | when the action happened, RFC 3339 UTC with milliseconds: `2024-05-01T08:30:00.123Z` |
//! | `officers` | array of strings | certificate numbers (执法证号) of the officers acting; at least one, none blank, padded or repeated |
//! | `kind`     | string           | one of `case.open`, `record.create`, `record.amend`, `evidence.add`, `case.finalize`, `entry.void`, and the steps that end a case (`crate::steps`): `decision.penalty`, `decision.no_penalty`, `notice.issue`, `statement.record`, `measure.apply`, `measure.extend`, `measure.release`, `document.issue`, `delivery.record`, `payment.record`, `case.close`, `evidence.preserve` ([`EntryKind`]) |
//! | `case`     | string or `null` | case id as lowercase hyphenated UUID text; required for every kind but `evidence.add` and `entry.void` |
//! | `body`     | object           | what happened, kind-specific |
//!
//! Every member is always written, `null` included. `record.amend` and `entry.void` never change an
//! earlier entry: their `body.supersedes` holds the hex hash of the entry they supersede; other kinds
//! must not have `body.supersedes`. Integers in `body` must lie within ±(2⁵³−1) (JSON numbers are
//! doubles; larger values would be silently rounded, so [`seal`] refuses them; use strings).
//!
//! Given the canonical bytes `B` of an entry:
//!
//! - `hash = SHA-256(B)` (32 bytes; the entry's identity, the next entry's `prev`);
//! - `sig = Ed25519(device key, B)` (64 bytes, RFC 8032 pure Ed25519, verified with `verify_strict`).
//!
//! The triple (`B`, `hash`, `sig`) is what is stored and sent. **`B` is never re-encoded**: verifiers
//! hash and check the signature over the bytes they received, and only then read them.
//!
//! # Verification
//!
//! [`open`] checks one entry, in this order, stopping at the first failure: the hash (when an expected
//! one is given) → the bytes parse as JSON → they are canonical → `device` is a valid public key → the
//! signature over the bytes by that key → the nine members and their types → the shape rules above.
//!
//! [`verify_chain`] then checks a device's entries in stored order: each one opens, belongs to the
//! expected device, has the next `seq`, and its `prev` is the previous entry's hash. It names the first
//! entry that fails. What a hash chain alone cannot show is a cut-off *tail* (the newest entries
//! deleted): that is what the server's transparency log and the receipts devices keep are for.
//!
//! # Worked example
//!
//! Device key: 32 bytes of `0x01` (public key
//! `8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c`); a first entry:
//!
//! ```text
//! {"at":"2024-05-01T08:30:00.123Z","body":{"place":"G2京沪高速K1234+500","plate":"苏A12345","reason":"超限运输"},"case":"0190f5a2-7c3e-7b2a-9d4e-0123456789ab","device":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c","kind":"case.open","officers":["32010001","32010002"],"prev":null,"seq":1,"v":1}
//! ```
//!
//! (one line, no trailing newline, UTF-8; members sorted, so `at` comes first and `v` last)
//!
//! - `hash` = `7fd853fc6b792d7482dbe5ce69b22e617c9f11107a8aeae15f4a8624dfccffb0`
//! - `sig` = `f920568b6b2b5cc17e0f236d106a9c2bb4d0be2a78308be87857ee2b460c53d4`
//!   `f5599341265105ba8c82fa7740a8f3d6b6c1ab2719140038a99e651ef9b63a0f` (one 128-digit value)
//!
//! The next entry of this device has `"seq":2` and `"prev":"7fd853fc6b792d7482dbe5ce69b22e617c9f11107a8aeae15f4a8624dfccffb0"`.
//!
//! # Error codes
//!
//! All failures are ledger errors ([`crate::ErrorKind::Ledger`]) with one of the codes in [`code`],
//! except a body that cannot be encoded at all (`JCS_UNREPRESENTABLE`, from [`crate::jcs`]).

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Result, RoadsideError};
use crate::jcs;

/// The ledger format version written into `v`.
pub const LEDGER_VERSION: u32 = 1;

/// The largest integer a JSON number (an IEEE-754 double) holds exactly along with all smaller ones.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The stable error codes of this module.
pub mod code {
    /// The bytes are not JSON, or not an object with exactly the entry's members and types.
    pub const MALFORMED: &str = "LEDGER_MALFORMED";
    /// The bytes are JSON but not its RFC 8785 canonical encoding.
    pub const NOT_CANONICAL: &str = "LEDGER_NOT_CANONICAL";
    /// SHA-256 of the bytes is not the stored or expected hash.
    pub const HASH_MISMATCH: &str = "LEDGER_HASH_MISMATCH";
    /// The signature is malformed or does not verify with the entry's device key.
    pub const BAD_SIGNATURE: &str = "LEDGER_BAD_SIGNATURE";
    /// `device` is not a usable Ed25519 public key.
    pub const BAD_DEVICE_KEY: &str = "LEDGER_BAD_DEVICE_KEY";
    /// `v` is a format version this build does not know.
    pub const VERSION_UNSUPPORTED: &str = "LEDGER_VERSION_UNSUPPORTED";
    /// A member breaks a shape rule (seq, prev, at, officers, case, body, supersedes).
    pub const BAD_SHAPE: &str = "LEDGER_BAD_SHAPE";
    /// `body` holds an integer a JSON number cannot represent exactly (refused by `seal`).
    pub const UNSAFE_NUMBER: &str = "LEDGER_UNSAFE_NUMBER";
    /// The entry belongs to (or would be signed for) another device.
    pub const WRONG_DEVICE: &str = "LEDGER_WRONG_DEVICE";
    /// Entries are missing before this one (its `seq` jumps ahead).
    pub const SEQ_GAP: &str = "LEDGER_SEQ_GAP";
    /// Entries are out of order or repeated.
    pub const SEQ_ORDER: &str = "LEDGER_SEQ_ORDER";
    /// `prev` is not the hash of the entry before.
    pub const PREV_MISMATCH: &str = "LEDGER_PREV_MISMATCH";
}

/// One ledger entry, as signed. See the module documentation for the rules each member follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// Format version, [`LEDGER_VERSION`].
    pub v: u32,
    /// Lowercase hex of the device's Ed25519 public key (64 characters).
    pub device: String,
    /// 1, 2, 3… per device.
    pub seq: u64,
    /// Lowercase hex SHA-256 of the previous entry's bytes; `None` (JSON `null`) for seq 1.
    pub prev: Option<String>,
    /// RFC 3339 UTC, millisecond precision, `Z` suffix.
    pub at: String,
    /// Certificate numbers of the officers acting.
    pub officers: Vec<String>,
    /// What kind of action this entry records.
    pub kind: EntryKind,
    /// Case id (UUID text), `None` for entries not about one case.
    pub case: Option<String>,
    /// Kind-specific object.
    pub body: Value,
}

impl LedgerEntry {
    /// `at` as a time, if it is well formed.
    pub fn at_utc(&self) -> Option<DateTime<Utc>> {
        parse_at(&self.at)
    }

    /// The hex hash in `body.supersedes`, for the kinds that supersede an earlier entry.
    pub fn supersedes(&self) -> Option<&str> {
        if !self.kind.supersedes() {
            return None;
        }
        self.body.get("supersedes").and_then(Value::as_str)
    }
}

/// The kinds of ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum EntryKind {
    /// `case.open`: a case is opened (立案 / 现场检查开始).
    #[serde(rename = "case.open")]
    CaseOpen,
    /// `record.create`: a 笔录 is written.
    #[serde(rename = "record.create")]
    RecordCreate,
    /// `record.amend`: a 笔录 is corrected; names the entry it supersedes.
    #[serde(rename = "record.amend")]
    RecordAmend,
    /// `evidence.add`: an evidence file's manifest is recorded at capture time.
    #[serde(rename = "evidence.add")]
    EvidenceAdd,
    /// `case.finalize`: the case is closed for editing.
    #[serde(rename = "case.finalize")]
    CaseFinalize,
    /// `entry.void`: an earlier entry is declared void; names the entry it supersedes.
    #[serde(rename = "entry.void")]
    EntryVoid,
    /// `decision.penalty`: a penalty decision (行政处罚决定), with the benchmark's guidance beside the amounts decided.
    #[serde(rename = "decision.penalty")]
    DecisionPenalty,
    /// `decision.no_penalty`: a no-penalty decision (不予行政处罚决定) under the exemption list.
    #[serde(rename = "decision.no_penalty")]
    DecisionNoPenalty,
    /// `notice.issue`: a notice of intended penalty (违法行为通知书) with the party's rights and the reply period.
    #[serde(rename = "notice.issue")]
    NoticeIssue,
    /// `statement.record`: the party's statement, waiver or hearing request, and whether it was adopted.
    #[serde(rename = "statement.record")]
    StatementRecord,
    /// `measure.apply`: a coercive measure (查封、扣押…) with its list of items and duration.
    #[serde(rename = "measure.apply")]
    MeasureApply,
    /// `measure.extend`: a measure's one extension.
    #[serde(rename = "measure.extend")]
    MeasureExtend,
    /// `measure.release`: a measure's release.
    #[serde(rename = "measure.release")]
    MeasureRelease,
    /// `document.issue`: a document (文书) rendered: its number and the SHA-256 of the exact PDF bytes.
    #[serde(rename = "document.issue")]
    DocumentIssue,
    /// `delivery.record`: the service (送达) of a document.
    #[serde(rename = "delivery.record")]
    DeliveryRecord,
    /// `payment.record`: a payment (缴款) of a fine.
    #[serde(rename = "payment.record")]
    PaymentRecord,
    /// `case.close`: the case is closed (结案) with its reason.
    #[serde(rename = "case.close")]
    CaseClose,
    /// `evidence.preserve`: evidence registered and preserved in advance (先行登记保存), with its list.
    #[serde(rename = "evidence.preserve")]
    EvidencePreserve,
    /// `review.request`: a proposed general-procedure penalty decision submitted for legal review
    /// (提请法制审核, 处罚法 58).
    #[serde(rename = "review.request")]
    ReviewRequest,
    /// `review.opinion`: the legal reviewer's opinion (同意 / 补充调查 / 不同意) on a request,
    /// signed with the agency's key by the server.
    #[serde(rename = "review.opinion")]
    ReviewOpinion,
}

impl EntryKind {
    /// Every kind, in declaration order.
    pub const ALL: [EntryKind; 20] = [
        EntryKind::CaseOpen,
        EntryKind::RecordCreate,
        EntryKind::RecordAmend,
        EntryKind::EvidenceAdd,
        EntryKind::CaseFinalize,
        EntryKind::EntryVoid,
        EntryKind::DecisionPenalty,
        EntryKind::DecisionNoPenalty,
        EntryKind::NoticeIssue,
        EntryKind::StatementRecord,
        EntryKind::MeasureApply,
        EntryKind::MeasureExtend,
        EntryKind::MeasureRelease,
        EntryKind::DocumentIssue,
        EntryKind::DeliveryRecord,
        EntryKind::PaymentRecord,
        EntryKind::CaseClose,
        EntryKind::EvidencePreserve,
        EntryKind::ReviewRequest,
        EntryKind::ReviewOpinion,
    ];

    /// The wire name, e.g. `"case.open"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::CaseOpen => "case.open",
            EntryKind::RecordCreate => "record.create",
            EntryKind::RecordAmend => "record.amend",
            EntryKind::EvidenceAdd => "evidence.add",
            EntryKind::CaseFinalize => "case.finalize",
            EntryKind::EntryVoid => "entry.void",
            EntryKind::DecisionPenalty => "decision.penalty",
            EntryKind::DecisionNoPenalty => "decision.no_penalty",
            EntryKind::NoticeIssue => "notice.issue",
            EntryKind::StatementRecord => "statement.record",
            EntryKind::MeasureApply => "measure.apply",
            EntryKind::MeasureExtend => "measure.extend",
            EntryKind::MeasureRelease => "measure.release",
            EntryKind::DocumentIssue => "document.issue",
            EntryKind::DeliveryRecord => "delivery.record",
            EntryKind::PaymentRecord => "payment.record",
            EntryKind::CaseClose => "case.close",
            EntryKind::EvidencePreserve => "evidence.preserve",
            EntryKind::ReviewRequest => "review.request",
            EntryKind::ReviewOpinion => "review.opinion",
        }
    }

    /// The kind with this wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds whose body must name the entry they supersede (`body.supersedes` = hex hash):
    /// [`RecordAmend`](EntryKind::RecordAmend) and [`EntryVoid`](EntryKind::EntryVoid).
    pub fn supersedes(self) -> bool {
        matches!(self, EntryKind::RecordAmend | EntryKind::EntryVoid)
    }

    /// Kinds that only make sense inside a case, so `case` must be set.
    pub fn requires_case(self) -> bool {
        matches!(
            self,
            EntryKind::CaseOpen
                | EntryKind::RecordCreate
                | EntryKind::RecordAmend
                | EntryKind::CaseFinalize
                | EntryKind::DecisionPenalty
                | EntryKind::DecisionNoPenalty
                | EntryKind::NoticeIssue
                | EntryKind::StatementRecord
                | EntryKind::MeasureApply
                | EntryKind::MeasureExtend
                | EntryKind::MeasureRelease
                | EntryKind::DocumentIssue
                | EntryKind::DeliveryRecord
                | EntryKind::PaymentRecord
                | EntryKind::CaseClose
                | EntryKind::EvidencePreserve
                | EntryKind::ReviewRequest
                | EntryKind::ReviewOpinion
        )
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sealed entry: its canonical bytes, their SHA-256 and the device's Ed25519 signature over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEntry {
    pub bytes: Vec<u8>,
    pub hash: [u8; 32],
    pub sig: [u8; 64],
}

impl SignedEntry {
    /// The hash as lowercase hex (what the next entry's `prev` and `body.supersedes` hold).
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// The entry the bytes hold, parsed without checking hash or signature (the bytes came from
    /// [`seal`]). Use [`verify`](Self::verify) for bytes of unknown origin.
    pub fn entry(&self) -> Result<LedgerEntry> {
        serde_json::from_slice(&self.bytes).map_err(|e| {
            RoadsideError::ledger(code::MALFORMED, format!("记录字段不符合账本格式：{e}"))
        })
    }

    /// Full verification with [`open`]: hash, canonical form, signature and shape.
    pub fn verify(&self) -> Result<LedgerEntry> {
        open(&self.bytes, &self.sig, Some(&self.hash))
    }

    /// Borrow as a stored row at `position` (1-based), for [`verify_chain`].
    pub fn as_stored(&self, position: u64) -> StoredEntryRef<'_> {
        StoredEntryRef {
            position,
            bytes: &self.bytes,
            hash: &self.hash,
            sig: &self.sig,
        }
    }
}

/// The newest entry of a device's chain: what the next entry continues from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: [u8; 32],
}

/// A device's Ed25519 signing key.
///
/// `Debug` shows only the public key. The secret is zeroed when the key is dropped.
pub struct DeviceKey(SigningKey);

impl DeviceKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Self {
        DeviceKey(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// The key with this 32-byte secret seed (RFC 8032 private key).
    pub fn from_bytes(b: &[u8; 32]) -> Self {
        DeviceKey(SigningKey::from_bytes(b))
    }

    /// The 32-byte secret seed, for the platform keystore.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Lowercase hex of the public key: the `device` of every entry this key signs.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().as_bytes())
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKey")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A time as the ledger writes it: RFC 3339 UTC, milliseconds (truncated), `Z`.
pub fn format_at(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Build the entry that follows `head` (`None` for a device's first entry): fills `v`, `device`,
/// `seq`, `prev` and `at` (truncated to milliseconds). Nothing is checked until [`seal`].
pub fn next_entry(
    key: &DeviceKey,
    head: Option<Head>,
    at: DateTime<Utc>,
    officers: Vec<String>,
    kind: EntryKind,
    case: Option<String>,
    body: Value,
) -> LedgerEntry {
    LedgerEntry {
        v: LEDGER_VERSION,
        device: key.public_hex(),
        seq: head.map_or(1, |h| h.seq.saturating_add(1)),
        prev: head.map(|h| hex::encode(h.hash)),
        at: format_at(at),
        officers,
        kind,
        case,
        body,
    }
}

/// Canonicalise, hash and sign an entry.
///
/// Refuses an entry that fails [`check_entry_shape`], whose `device` is not `key`'s public key
/// ([`code::WRONG_DEVICE`]), or whose body holds an integer beyond ±(2⁵³−1)
/// ([`code::UNSAFE_NUMBER`]).
pub fn seal(entry: &LedgerEntry, key: &DeviceKey) -> Result<SignedEntry> {
    if entry.device != key.public_hex() {
        // Say precisely what is wrong: a malformed key, or another device's key.
        decode_device(&entry.device)?;
        return Err(fail(
            code::WRONG_DEVICE,
            "记录的 device 字段与签名所用的设备密钥不一致",
        )
        .into());
    }
    check_shape_with(entry, false)?;
    check_numbers(&entry.body, "body")?;
    let bytes = jcs::to_canonical_vec(entry)?;
    let hash = sha256(&bytes);
    let sig = key.0.sign(&bytes).to_bytes();
    Ok(SignedEntry { bytes, hash, sig })
}

/// Verify one entry from its exact bytes and return it: the hash (if `expected_hash` is given), the
/// canonical form, the signature by the key named in `device`, and the shape. Steps and codes are
/// listed in the module documentation. Says nothing about the entry's place in a chain.
pub fn open(bytes: &[u8], sig: &[u8], expected_hash: Option<&[u8]>) -> Result<LedgerEntry> {
    open_hashed(bytes, sig, expected_hash, None)
        .map(|(entry, _)| entry)
        .map_err(Into::into)
}

/// A device's public key decoded once (a point decompression), to [`open_known`] many entries of
/// that device without decoding it for each.
#[derive(Debug, Clone)]
pub struct KnownDevice {
    hex: String,
    key: VerifyingKey,
}

impl KnownDevice {
    /// Decode `device_hex` as [`open`] would (same checks, same [`code::BAD_DEVICE_KEY`] errors).
    pub fn decode(device_hex: &str) -> Result<Self> {
        Ok(KnownDevice {
            hex: device_hex.to_string(),
            key: decode_device(device_hex)?,
        })
    }

    /// The key as lowercase hex.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// [`open`], reusing `known`'s decoded key when the entry's `device` is that key. Same checks in the
/// same order, same answers; an entry naming another key is opened with that key, exactly as by
/// [`open`].
pub fn open_known(
    bytes: &[u8],
    sig: &[u8],
    expected_hash: Option<&[u8]>,
    known: &KnownDevice,
) -> Result<LedgerEntry> {
    open_hashed(bytes, sig, expected_hash, Some(known))
        .map(|(entry, _)| entry)
        .map_err(Into::into)
}

fn open_hashed(
    bytes: &[u8],
    sig: &[u8],
    expected_hash: Option<&[u8]>,
    known: Option<&KnownDevice>,
) -> Result<(LedgerEntry, [u8; 32]), Fail> {
    let hash = sha256(bytes);
    if let Some(expected) = expected_hash {
        if expected != hash.as_slice() {
            return Err(fail(
                code::HASH_MISMATCH,
                "记录内容的 SHA-256 哈希值与保存的哈希值不符，内容或哈希值已被改动",
            ));
        }
    }
    let (sig, key, value) = decode_signed(bytes, sig, known)?;
    roadside_verify::entry::check_signature(&key, bytes, &sig)
        .map_err(|e| fail(e.code, e.message))?;
    Ok((entry_of(value)?, hash))
}

/// Every check of [`open_known`] except the signature itself, for a caller that verifies many
/// signatures at once (the server's batch verification). Returns the entry, its parsed signature
/// and the key that must have made it. The caller MUST verify the signature; on any failure it
/// should call [`open_known`] for the exact answer.
pub fn open_known_unverified(
    bytes: &[u8],
    sig: &[u8],
    known: &KnownDevice,
) -> Result<(LedgerEntry, Signature, VerifyingKey)> {
    let (sig, key, value) = decode_signed(bytes, sig, Some(known))?;
    Ok((entry_of(value)?, sig, key))
}

/// The checks before the signature: its length, JSON, canonical bytes, the `device` key (the
/// verifier's own code, `roadside_verify::entry`).
fn decode_signed(
    bytes: &[u8],
    sig: &[u8],
    known: Option<&KnownDevice>,
) -> Result<(Signature, VerifyingKey, Value), Fail> {
    roadside_verify::entry::decode_signed(bytes, sig, known.map(|k| (k.hex.as_str(), &k.key)))
        .map_err(|e| fail(e.code, e.message))
}

/// The checks after the signature: every member written, the entry's fields and the format's rules.
fn entry_of(value: Value) -> Result<LedgerEntry, Fail> {
    // An omitted `prev` or `case` would read as null; the format requires every member written.
    // (The bytes are the canonical encoding of `value`, and every other member either reads back
    // exactly or fails to read, so these two are the only way the entry could re-encode otherwise.)
    let complete = value
        .as_object()
        .is_some_and(|m| m.contains_key("prev") && m.contains_key("case"));
    let entry: LedgerEntry = serde_json::from_value(value)
        .map_err(|e| fail(code::MALFORMED, format!("记录字段不符合账本格式：{e}")))?;
    if !complete {
        return Err(fail(
            code::MALFORMED,
            "记录缺少字段（值为 null 的字段也必须写出）",
        ));
    }
    // `device` was decoded before the signature (or is the known key, decoded when it was made).
    check_shape_with(&entry, false)?;
    Ok(entry)
}

/// Check the rules of the format (module documentation) that one entry must follow on its own.
pub fn check_entry_shape(entry: &LedgerEntry) -> Result<()> {
    check_shape(entry).map_err(Into::into)
}

fn check_shape(entry: &LedgerEntry) -> Result<(), Fail> {
    check_shape_with(entry, true)
}

/// `check_device = false` skips decoding the `device` key, for [`seal`], which has already checked
/// that it is the signing key's own public key (decoding it costs a point decompression).
fn check_shape_with(entry: &LedgerEntry, check_device: bool) -> Result<(), Fail> {
    if entry.v != LEDGER_VERSION {
        return Err(fail(
            code::VERSION_UNSUPPORTED,
            format!(
                "不支持的账本格式版本 {}（本程序支持版本 {LEDGER_VERSION}）",
                entry.v
            ),
        ));
    }
    if check_device {
        decode_device(&entry.device)?;
    }
    if entry.seq == 0 || entry.seq > MAX_SAFE_INTEGER {
        return Err(shape(format!(
            "字段 seq 必须是 1 到 {MAX_SAFE_INTEGER} 之间的整数，实际为 {}",
            entry.seq
        )));
    }
    match (entry.seq, &entry.prev) {
        (1, None) => {}
        (1, Some(_)) => return Err(shape("第 1 条记录的 prev 必须为 null")),
        (_, None) => {
            return Err(shape(
                "字段 prev 不能为 null（seq 大于 1 时必须指向上一条记录）",
            ))
        }
        (_, Some(prev)) if !is_lower_hex(prev, 64) => {
            return Err(shape("字段 prev 必须是 64 位小写十六进制的 SHA-256 哈希值"))
        }
        _ => {}
    }
    if parse_at(&entry.at).is_none() {
        return Err(shape(format!(
            "字段 at 必须是精确到毫秒的 UTC 时间（RFC 3339，例如 2024-05-01T08:30:00.000Z），实际为 “{}”",
            entry.at
        )));
    }
    if entry.officers.is_empty() {
        return Err(shape("字段 officers 至少要有一名执法人员"));
    }
    let mut seen = HashSet::new();
    for officer in &entry.officers {
        if officer.trim().is_empty() || officer.trim() != officer {
            return Err(shape(
                "字段 officers 中的执法证号不能为空，也不能带首尾空格",
            ));
        }
        if !seen.insert(officer.as_str()) {
            return Err(shape(format!("字段 officers 中的执法证号 {officer} 重复")));
        }
    }
    match &entry.case {
        None if entry.kind.requires_case() => {
            return Err(shape(format!(
                "{} 记录必须填写案件编号（case）",
                entry.kind
            )))
        }
        Some(case) if !is_canonical_uuid(case) => {
            return Err(shape(format!(
                "字段 case 必须是小写连字符格式的 UUID，实际为 “{case}”"
            )))
        }
        _ => {}
    }
    let Some(body) = entry.body.as_object() else {
        return Err(shape("字段 body 必须是 JSON 对象"));
    };
    match (entry.kind.supersedes(), body.get("supersedes")) {
        (true, Some(Value::String(target))) if is_lower_hex(target, 64) => {}
        (true, _) => {
            return Err(shape(format!(
                "{} 记录的 body.supersedes 必须是被取代记录的 SHA-256 哈希值（64 位小写十六进制）",
                entry.kind
            )))
        }
        (false, Some(_)) => {
            return Err(shape(format!(
                "{} 记录的 body 不能包含 supersedes",
                entry.kind
            )))
        }
        (false, None) => {}
    }
    Ok(())
}

/// A ledger failure with its code known statically (so chain reports can carry it).
#[derive(Debug)]
struct Fail {
    code: &'static str,
    message: String,
}

fn fail(code: &'static str, message: impl Into<String>) -> Fail {
    Fail {
        code,
        message: message.into(),
    }
}

fn shape(message: impl Into<String>) -> Fail {
    fail(code::BAD_SHAPE, message)
}

impl From<Fail> for RoadsideError {
    fn from(f: Fail) -> Self {
        RoadsideError::ledger(f.code, f.message)
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_canonical_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

fn parse_at(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    (format_at(t) == s).then_some(t)
}

fn decode_device(device: &str) -> Result<VerifyingKey, Fail> {
    roadside_verify::entry::decode_device(device).map_err(|e| fail(e.code, e.message))
}

/// Refuse integers a JSON number (a double) cannot carry exactly, so nothing is rounded silently.
fn check_numbers(value: &Value, path: &str) -> Result<(), Fail> {
    match value {
        Value::Number(n) => {
            let safe = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u <= MAX_SAFE_INTEGER,
                (None, Some(i)) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
                (None, None) => true, // a double: encoded exactly as the double it is
            };
            if safe {
                Ok(())
            } else {
                Err(fail(
                    code::UNSAFE_NUMBER,
                    format!(
                        "{path} 的整数 {n} 超出 JSON 数字能精确表示的范围（±{MAX_SAFE_INTEGER}），请改用字符串"
                    ),
                ))
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_numbers(item, &format!("{path}[{i}]"))),
        Value::Object(members) => members
            .iter()
            .try_for_each(|(k, item)| check_numbers(item, &format!("{path}.{k}"))),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// One stored row of a device's ledger, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEntryRef<'a> {
    /// Row order, 1-based (how the first broken entry is named).
    pub position: u64,
    pub bytes: &'a [u8],
    pub hash: &'a [u8],
    pub sig: &'a [u8],
}

/// The result of verifying a device's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ChainReport {
    /// Every entry verified.
    pub ok: bool,
    /// How many entries verified (all of them when `ok`; those before the broken one otherwise).
    pub entries: u64,
    /// `seq` of the last entry that verified (0 if none).
    pub head_seq: u64,
    /// Hex hash of the last entry that verified.
    pub head_hash: Option<String>,
    /// The first entry that did not verify.
    pub first_broken: Option<BrokenEntry>,
}

impl ChainReport {
    /// The failure as an error, if there was one.
    pub fn error(&self) -> Option<RoadsideError> {
        self.first_broken
            .as_ref()
            .map(|b| RoadsideError::ledger(&b.code, b.message.clone()))
    }
}

/// Which entry broke the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct BrokenEntry {
    /// The stored position given by the caller.
    pub position: u64,
    /// The `seq` the entry claims, when its bytes can be read (untrusted if the entry itself is bad).
    pub seq: Option<u64>,
    /// One of [`code`].
    pub code: String,
    /// What is wrong, in Chinese.
    pub message: String,
}

/// Verify a device's whole chain, given in stored order, starting from `seq` 1.
pub fn verify_chain<'a, I>(device_public_hex: &str, entries: I) -> ChainReport
where
    I: IntoIterator<Item = StoredEntryRef<'a>>,
{
    verify_chain_after(device_public_hex, None, entries)
}

/// Verify entries that continue a chain whose newest verified entry is `after` (`None`: from the
/// start), e.g. a batch a device uploads after the head the server already holds.
pub fn verify_chain_after<'a, I>(
    device_public_hex: &str,
    after: Option<Head>,
    entries: I,
) -> ChainReport
where
    I: IntoIterator<Item = StoredEntryRef<'a>>,
{
    let device = device_public_hex.to_ascii_lowercase();
    let mut head = after;
    let mut verified = 0u64;
    let mut first_broken = None;
    let mut rest = entries.into_iter();
    for stored in rest.by_ref() {
        match check_link(&device, head, &stored) {
            Link::Next(next) => {
                head = Some(next);
                verified += 1;
            }
            Link::Broken { fail, seq } => {
                first_broken = Some(broken(&stored, seq, fail.code, fail.message));
                break;
            }
            Link::Ahead { expected, found } => {
                // Either entries are missing here, or they come later (out of order). Look ahead.
                let later = rest.by_ref().any(|s| {
                    probe_seq(s.bytes).is_some_and(|seq| (expected..found).contains(&seq))
                });
                let (code, message) = if later {
                    (
                        code::SEQ_ORDER,
                        format!("记录顺序错乱：此处应为序号 {expected}，实际为序号 {found}"),
                    )
                } else if found == expected + 1 {
                    (
                        code::SEQ_GAP,
                        format!("缺少序号 {expected} 的记录（可能已被删除）"),
                    )
                } else {
                    (
                        code::SEQ_GAP,
                        format!(
                            "缺少序号 {expected} 至 {} 的记录（可能已被删除）",
                            found - 1
                        ),
                    )
                };
                first_broken = Some(broken(&stored, Some(found), code, message));
                break;
            }
        }
    }
    ChainReport {
        ok: first_broken.is_none(),
        entries: verified,
        head_seq: head.map_or(0, |h| h.seq),
        head_hash: head.map(|h| hex::encode(h.hash)),
        first_broken,
    }
}

enum Link {
    Next(Head),
    Broken {
        fail: Fail,
        seq: Option<u64>,
    },
    /// `seq` jumps ahead of the expected one.
    Ahead {
        expected: u64,
        found: u64,
    },
}

fn check_link(device: &str, head: Option<Head>, stored: &StoredEntryRef<'_>) -> Link {
    let (entry, hash) = match open_hashed(stored.bytes, stored.sig, Some(stored.hash), None) {
        Ok(opened) => opened,
        Err(fail) => {
            return Link::Broken {
                fail,
                seq: probe_seq(stored.bytes),
            }
        }
    };
    let seq = Some(entry.seq);
    if entry.device != device {
        return Link::Broken {
            fail: fail(
                code::WRONG_DEVICE,
                format!(
                    "记录属于另一台设备（公钥 {}…），不属于本设备的账本",
                    entry.device.get(..16).unwrap_or(&entry.device)
                ),
            ),
            seq,
        };
    }
    let expected = head.map_or(1, |h| h.seq.saturating_add(1));
    if entry.seq > expected {
        return Link::Ahead {
            expected,
            found: entry.seq,
        };
    }
    if entry.seq < expected {
        return Link::Broken {
            fail: fail(
                code::SEQ_ORDER,
                format!(
                    "序号 {} 不应出现在序号 {} 之后（顺序错乱或记录重复）",
                    entry.seq,
                    expected - 1
                ),
            ),
            seq,
        };
    }
    let expected_prev = head.map(|h| hex::encode(h.hash));
    if entry.prev != expected_prev {
        return Link::Broken {
            fail: fail(
                code::PREV_MISMATCH,
                "字段 prev 与上一条记录的哈希值不符（账本链在此断开或分叉）",
            ),
            seq,
        };
    }
    Link::Next(Head {
        seq: entry.seq,
        hash,
    })
}

fn broken(
    stored: &StoredEntryRef<'_>,
    seq: Option<u64>,
    code: &str,
    reason: String,
) -> BrokenEntry {
    BrokenEntry {
        position: stored.position,
        seq,
        code: code.to_string(),
        message: format!("账本第 {} 条记录：{reason}", stored.position),
    }
}

/// The `seq` an entry claims, read without any verification (for diagnostics and look-ahead only).
fn probe_seq(bytes: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Probe {
        seq: u64,
    }
    serde_json::from_slice::<Probe>(bytes).ok().map(|p| p.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const CASE: &str = "0190f5a2-7c3e-7b2a-9d4e-0123456789ab";

    fn time(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test time parses")
            .with_timezone(&Utc)
    }

    fn officers() -> Vec<String> {
        vec!["32010001".to_string(), "32010002".to_string()]
    }

    fn fixed_key() -> DeviceKey {
        DeviceKey::from_bytes(&[1u8; 32])
    }

    /// The worked example of the module documentation.
    fn example_entry() -> LedgerEntry {
        next_entry(
            &fixed_key(),
            None,
            time("2024-05-01T08:30:00.123456Z"),
            officers(),
            EntryKind::CaseOpen,
            Some(CASE.to_string()),
            json!({"plate": "苏A12345", "place": "G2京沪高速K1234+500", "reason": "超限运输"}),
        )
    }

    /// A chain of `n` entries: a case opened, then records, evidence, an amendment and a void.
    fn chain(key: &DeviceKey, n: usize) -> Vec<SignedEntry> {
        let mut out: Vec<SignedEntry> = Vec::new();
        let mut head = None;
        let start = time("2024-05-01T08:30:00Z");
        for i in 0..n {
            let (kind, body) = match i {
                0 => (EntryKind::CaseOpen, json!({"plate": "苏A12345"})),
                _ if i % 5 == 3 => (
                    EntryKind::RecordAmend,
                    json!({"supersedes": out[i - 1].hash_hex(), "field": "vehicle.plate"}),
                ),
                _ if i % 5 == 4 => (
                    EntryKind::EntryVoid,
                    json!({"supersedes": out[i - 2].hash_hex(), "reason": "录入错误"}),
                ),
                _ if i % 2 == 0 => (EntryKind::EvidenceAdd, json!({"sha256": "00", "size": i})),
                _ => (EntryKind::RecordCreate, json!({"record": i})),
            };
            let entry = next_entry(
                key,
                head,
                start + chrono::Duration::seconds(i as i64),
                officers(),
                kind,
                Some(CASE.to_string()),
                body,
            );
            let signed = seal(&entry, key).expect("test entries are well formed");
            head = Some(Head {
                seq: entry.seq,
                hash: signed.hash,
            });
            out.push(signed);
        }
        out
    }

    /// Owned stored rows, so tests can tamper with them.
    #[derive(Clone)]
    struct Row {
        bytes: Vec<u8>,
        hash: Vec<u8>,
        sig: Vec<u8>,
    }

    fn rows(entries: &[SignedEntry]) -> Vec<Row> {
        entries
            .iter()
            .map(|e| Row {
                bytes: e.bytes.clone(),
                hash: e.hash.to_vec(),
                sig: e.sig.to_vec(),
            })
            .collect()
    }

    fn verify_rows(device: &str, rows: &[Row]) -> ChainReport {
        verify_chain(
            device,
            rows.iter().enumerate().map(|(i, r)| StoredEntryRef {
                position: i as u64 + 1,
                bytes: &r.bytes,
                hash: &r.hash,
                sig: &r.sig,
            }),
        )
    }

    fn first_broken(report: &ChainReport) -> (u64, &str) {
        let b = report
            .first_broken
            .as_ref()
            .expect("chain should be broken");
        assert!(!report.ok);
        (b.position, b.code.as_str())
    }

    /// Re-sign an altered entry with `key`, as a forger holding that key would.
    fn resign(entry: &LedgerEntry, key: &DeviceKey) -> Row {
        let bytes = jcs::to_canonical_vec(entry).expect("encodes");
        Row {
            hash: sha256(&bytes).to_vec(),
            sig: key.0.sign(&bytes).to_bytes().to_vec(),
            bytes,
        }
    }

    #[test]
    fn entry_kind_wire_names() {
        for kind in EntryKind::ALL {
            let wire = serde_json::to_value(kind).expect("encodes");
            assert_eq!(wire, Value::String(kind.as_str().to_string()));
            assert_eq!(EntryKind::parse(kind.as_str()), Some(kind));
            let back: EntryKind = serde_json::from_value(wire).expect("decodes");
            assert_eq!(back, kind);
        }
        assert_eq!(EntryKind::parse("CaseOpen"), None);
        let supersede: Vec<_> = EntryKind::ALL
            .into_iter()
            .filter(|k| k.supersedes())
            .collect();
        assert_eq!(supersede, [EntryKind::RecordAmend, EntryKind::EntryVoid]);
    }

    /// RFC 8032 §7.1 TEST 1: the key and signature primitives are plain Ed25519.
    #[test]
    fn rfc8032_test_1() {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            &mut seed,
        )
        .expect("hex");
        let key = DeviceKey::from_bytes(&seed);
        assert_eq!(
            key.public_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.0.sign(b"").to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert_eq!(
            DeviceKey::from_bytes(&key.to_bytes()).public_hex(),
            key.public_hex()
        );
        assert!(
            !format!("{key:?}").contains("9d61b1"),
            "Debug must not show the secret"
        );
    }

    /// Pinned bytes, hash and signature of the worked example (module documentation).
    #[test]
    fn known_answer() {
        let entry = example_entry();
        let signed = seal(&entry, &fixed_key()).expect("seals");
        let text = std::str::from_utf8(&signed.bytes).expect("UTF-8");
        assert_eq!(text, EXAMPLE_BYTES);
        assert_eq!(signed.hash_hex(), EXAMPLE_HASH);
        assert_eq!(hex::encode(signed.sig), EXAMPLE_SIG);
        assert_eq!(fixed_key().public_hex(), EXAMPLE_DEVICE);
        // The module documentation shows the same example.
        let doc = include_str!("ledger.rs");
        assert!(doc.contains(&format!("//! {EXAMPLE_BYTES}\n")));
        assert!(doc.contains(&format!("//! - `hash` = `{EXAMPLE_HASH}`")));
        assert!(doc.contains(&format!(
            "`{}`\n//!   `{}`",
            &EXAMPLE_SIG[..64],
            &EXAMPLE_SIG[64..]
        )));
        assert_eq!(
            open(&signed.bytes, &signed.sig, Some(&signed.hash)).expect("opens"),
            entry
        );
    }

    const EXAMPLE_DEVICE: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
    const EXAMPLE_BYTES: &str = r#"{"at":"2024-05-01T08:30:00.123Z","body":{"place":"G2京沪高速K1234+500","plate":"苏A12345","reason":"超限运输"},"case":"0190f5a2-7c3e-7b2a-9d4e-0123456789ab","device":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c","kind":"case.open","officers":["32010001","32010002"],"prev":null,"seq":1,"v":1}"#;
    const EXAMPLE_HASH: &str = "7fd853fc6b792d7482dbe5ce69b22e617c9f11107a8aeae15f4a8624dfccffb0";
    const EXAMPLE_SIG: &str = "f920568b6b2b5cc17e0f236d106a9c2bb4d0be2a78308be87857ee2b460c53d4\
                               f5599341265105ba8c82fa7740a8f3d6b6c1ab2719140038a99e651ef9b63a0f";

    #[test]
    fn next_entry_fills_the_chain_fields() {
        let key = fixed_key();
        let first = example_entry();
        assert_eq!((first.v, first.seq, first.prev.as_deref()), (1, 1, None));
        assert_eq!(first.device, key.public_hex());
        assert_eq!(first.at, "2024-05-01T08:30:00.123Z");
        assert_eq!(first.at_utc(), Some(time("2024-05-01T08:30:00.123Z")));
        let sealed = seal(&first, &key).expect("seals");
        let head = Head {
            seq: 1,
            hash: sealed.hash,
        };
        let second = next_entry(
            &key,
            Some(head),
            time("2024-05-01T16:30:00+08:00"),
            officers(),
            EntryKind::EntryVoid,
            Some(CASE.to_string()),
            json!({"supersedes": sealed.hash_hex()}),
        );
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev, Some(sealed.hash_hex()));
        assert_eq!(second.at, "2024-05-01T08:30:00.000Z");
        assert_eq!(second.supersedes(), Some(sealed.hash_hex().as_str()));
        let sealed2 = seal(&second, &key).expect("seals");
        assert_eq!(sealed2.verify().expect("verifies"), second);
        assert_eq!(sealed2.entry().expect("parses"), second);
    }

    #[test]
    fn seal_refuses_bad_shapes() {
        let key = fixed_key();
        let base = example_entry();
        let hash = "ab".repeat(32);
        type Alter = Box<dyn Fn(&mut LedgerEntry)>;
        let cases: Vec<(&str, Alter)> = vec![
            (code::VERSION_UNSUPPORTED, Box::new(|e| e.v = 2)),
            (code::BAD_SHAPE, Box::new(|e| e.seq = 0)),
            (code::BAD_SHAPE, Box::new(|e| e.seq = MAX_SAFE_INTEGER + 1)),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.prev = Some("ab".repeat(32))),
            ),
            (code::BAD_SHAPE, Box::new(|e| e.seq = 2)),
            (
                code::BAD_SHAPE,
                Box::new(|e| {
                    e.seq = 2;
                    e.prev = Some("AB".repeat(32));
                }),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.at = "2024-05-01T16:30:00.123+08:00".into()),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.at = "2024-05-01T08:30:00Z".into()),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.at = "2024-05-01T08:30:00.123z".into()),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.at = "2024-05-01 08:30:00.123Z".into()),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.at = "2024-02-30T08:30:00.123Z".into()),
            ),
            (code::BAD_SHAPE, Box::new(|e| e.officers.clear())),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.officers.push(String::new())),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.officers.push(" 32010003".into())),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.officers.push("32010001".into())),
            ),
            (code::BAD_SHAPE, Box::new(|e| e.case = None)),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.case = Some(CASE.to_uppercase())),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.case = Some("A-2024-001".into())),
            ),
            (code::BAD_SHAPE, Box::new(|e| e.body = json!([1, 2]))),
            (code::BAD_SHAPE, Box::new(|e| e.body = json!("text"))),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.body = json!({"supersedes": "ab".repeat(32)})),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| e.kind = EntryKind::RecordAmend),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| {
                    e.kind = EntryKind::EntryVoid;
                    e.body = json!({"supersedes": "AB".repeat(32)});
                }),
            ),
            (
                code::BAD_SHAPE,
                Box::new(|e| {
                    e.kind = EntryKind::EntryVoid;
                    e.body = json!({"supersedes": 12});
                }),
            ),
            (
                code::BAD_DEVICE_KEY,
                Box::new(|e| e.device = "zz".repeat(32)),
            ),
            (
                code::BAD_DEVICE_KEY,
                Box::new(|e| e.device = e.device.to_uppercase()),
            ),
            (
                code::BAD_DEVICE_KEY,
                Box::new(|e| e.device = "00".repeat(32)),
            ),
            (
                code::WRONG_DEVICE,
                Box::new(|e| e.device = DeviceKey::generate().public_hex()),
            ),
            (
                code::UNSAFE_NUMBER,
                Box::new(|e| e.body = json!({"fine": 9_007_199_254_740_993u64})),
            ),
            (
                code::UNSAFE_NUMBER,
                Box::new(|e| e.body = json!({"a": [{"b": -9_007_199_254_740_992i64}]})),
            ),
            (
                code::UNSAFE_NUMBER,
                Box::new(|e| e.body = json!({"n": u64::MAX})),
            ),
        ];
        for (i, (want, alter)) in cases.iter().enumerate() {
            let mut e = base.clone();
            alter(&mut e);
            let err = seal(&e, &key).expect_err(&format!("case {i} must be refused: {e:?}"));
            assert_eq!(err.code(), *want, "case {i}: {}", err.message());
            assert_eq!(err.kind(), crate::ErrorKind::Ledger, "case {i}");
        }
        // The edges that are fine.
        let mut ok = base.clone();
        ok.body = json!({"max": MAX_SAFE_INTEGER, "min": -(MAX_SAFE_INTEGER as i64), "x": 1.5e300});
        seal(&ok, &key).expect("safe integers and doubles are fine");
        let mut device_level = base.clone();
        device_level.kind = EntryKind::EvidenceAdd;
        device_level.case = None;
        seal(&device_level, &key).expect("evidence may be captured before a case exists");
        let mut void = base;
        void.kind = EntryKind::EntryVoid;
        void.body = json!({"supersedes": hash});
        seal(&void, &key).expect("a void naming its target is fine");
    }

    #[test]
    fn open_checks_hash_signature_and_encoding() {
        let key = fixed_key();
        let signed = seal(&example_entry(), &key).expect("seals");
        let sign = |bytes: &[u8]| key.0.sign(bytes).to_bytes();

        // Without an expected hash, the signature still binds the bytes.
        open(&signed.bytes, &signed.sig, None).expect("opens");
        let known = KnownDevice::decode(&key.public_hex()).expect("decodes");
        let elsewhere = KnownDevice::decode(&DeviceKey::generate().public_hex()).expect("decodes");
        open_known(&signed.bytes, &signed.sig, None, &known).expect("opens with the known key");
        open_known(&signed.bytes, &signed.sig, None, &elsewhere).expect("opens with its own key");
        let code_of = |bytes: &[u8], sig: &[u8], hash: Option<&[u8]>| {
            let err = open(bytes, sig, hash).expect_err("must fail");
            // The known-key path answers exactly as `open` does.
            for k in [&known, &elsewhere] {
                let other = open_known(bytes, sig, hash, k).expect_err("must fail too");
                assert_eq!(
                    (other.code(), other.to_string()),
                    (err.code(), err.to_string())
                );
            }
            err.code().to_string()
        };
        assert_eq!(
            code_of(&signed.bytes, &signed.sig, Some(&[0u8; 32])),
            code::HASH_MISMATCH
        );
        assert_eq!(
            code_of(&signed.bytes, &signed.sig, Some(&signed.hash[..31])),
            code::HASH_MISMATCH
        );
        assert_eq!(
            code_of(&signed.bytes, &signed.sig[..63], None),
            code::BAD_SIGNATURE
        );
        assert_eq!(
            code_of(&signed.bytes, &[0u8; 64], None),
            code::BAD_SIGNATURE
        );
        let other = DeviceKey::generate();
        assert_eq!(
            code_of(&signed.bytes, &other.0.sign(&signed.bytes).to_bytes(), None),
            code::BAD_SIGNATURE
        );

        // Signed by the right key, but not canonical: still refused.
        let value: Value = serde_json::from_slice(&signed.bytes).expect("parses");
        let pretty = serde_json::to_vec_pretty(&value).expect("encodes");
        assert_eq!(code_of(&pretty, &sign(&pretty), None), code::NOT_CANONICAL);
        let mut spaced = signed.bytes.clone();
        spaced.push(b' ');
        assert_eq!(code_of(&spaced, &sign(&spaced), None), code::NOT_CANONICAL);
        assert_eq!(code_of(b"\xff", &sign(b"\xff"), None), code::MALFORMED);

        // Canonical and signed, but a member missing, extra or mistyped.
        let mut missing = value.clone();
        missing.as_object_mut().expect("object").remove("case");
        let mut extra = value.clone();
        extra["note"] = json!("x");
        let mut kind = value.clone();
        kind["kind"] = json!("case.reopen");
        let mut seq = value.clone();
        seq["seq"] = json!(1.5);
        for doc in [
            missing,
            extra,
            kind,
            seq,
            json!([1]),
            json!({"device": key.public_hex()}),
        ] {
            let bytes = jcs::to_canonical_vec(&doc).expect("encodes");
            assert_eq!(
                code_of(&bytes, &sign(&bytes), None),
                code::MALFORMED,
                "{doc}"
            );
        }

        // Well formed and signed, but breaking a shape rule.
        let mut late = value.clone();
        late["v"] = json!(2);
        let bytes = jcs::to_canonical_vec(&late).expect("encodes");
        assert_eq!(
            code_of(&bytes, &sign(&bytes), None),
            code::VERSION_UNSUPPORTED
        );
        let mut no_prev = value;
        no_prev["seq"] = json!(2);
        let bytes = jcs::to_canonical_vec(&no_prev).expect("encodes");
        assert_eq!(code_of(&bytes, &sign(&bytes), None), code::BAD_SHAPE);
    }

    #[test]
    fn intact_chain_verifies() {
        let key = DeviceKey::generate();
        let entries = chain(&key, 12);
        let report = verify_chain(
            &key.public_hex(),
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| e.as_stored(i as u64 + 1)),
        );
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries, 12);
        assert_eq!(report.head_seq, 12);
        assert_eq!(report.head_hash, Some(entries[11].hash_hex()));
        assert_eq!(report.error(), None);
        // Upper-case device hex from a caller is accepted.
        assert!(verify_rows(&key.public_hex().to_uppercase(), &rows(&entries)).ok);

        let empty = verify_chain(&key.public_hex(), std::iter::empty());
        assert!(empty.ok);
        assert_eq!(
            (empty.entries, empty.head_seq, empty.head_hash),
            (0, 0, None)
        );
    }

    #[test]
    fn resuming_after_a_known_head() {
        let key = DeviceKey::generate();
        let entries = chain(&key, 8);
        let head = Head {
            seq: 5,
            hash: entries[4].hash,
        };
        let report = verify_chain_after(
            &key.public_hex(),
            Some(head),
            entries[5..]
                .iter()
                .enumerate()
                .map(|(i, e)| e.as_stored(i as u64 + 6)),
        );
        assert!(report.ok, "{report:?}");
        assert_eq!((report.entries, report.head_seq), (3, 8));
        // Resuming from the wrong head breaks at the first new entry.
        let wrong = Head {
            seq: 5,
            hash: entries[3].hash,
        };
        let report = verify_chain_after(&key.public_hex(), Some(wrong), [entries[5].as_stored(6)]);
        assert_eq!(first_broken(&report), (6, code::PREV_MISMATCH));
        assert_eq!(report.head_seq, 5);
    }

    #[test]
    fn flipped_byte_is_named() {
        let key = DeviceKey::generate();
        let device = key.public_hex();
        let good = rows(&chain(&key, 6));
        for i in [0usize, 3, 5] {
            for at in [0usize, 10, good[i].bytes.len() / 2, good[i].bytes.len() - 1] {
                // The stored hash no longer matches.
                let mut r = good.clone();
                r[i].bytes[at] ^= 0x04;
                let report = verify_rows(&device, &r);
                assert_eq!(first_broken(&report), (i as u64 + 1, code::HASH_MISMATCH));
                assert_eq!(report.entries, i as u64);
                assert_eq!(report.head_seq, i as u64);
                // Even with the hash recomputed, the signature (or the encoding) gives it away.
                r[i].hash = sha256(&r[i].bytes).to_vec();
                let report = verify_rows(&device, &r);
                let (pos, code) = first_broken(&report);
                assert_eq!(pos, i as u64 + 1);
                assert!(
                    [
                        code::BAD_SIGNATURE,
                        code::NOT_CANONICAL,
                        code::MALFORMED,
                        code::BAD_DEVICE_KEY
                    ]
                    .contains(&code),
                    "{code}"
                );
            }
            let mut r = good.clone();
            r[i].sig[7] ^= 0x80;
            assert_eq!(
                first_broken(&verify_rows(&device, &r)),
                (i as u64 + 1, code::BAD_SIGNATURE)
            );
            let mut r = good.clone();
            r[i].hash[0] ^= 0x01;
            assert_eq!(
                first_broken(&verify_rows(&device, &r)),
                (i as u64 + 1, code::HASH_MISMATCH)
            );
        }
        // A changed letter keeps the JSON canonical: only the signature can tell.
        let mut r = good.clone();
        let text = String::from_utf8(r[2].bytes.clone()).expect("UTF-8");
        r[2].bytes = text
            .replacen("\"32010001\"", "\"32010009\"", 1)
            .into_bytes();
        r[2].hash = sha256(&r[2].bytes).to_vec();
        assert_eq!(
            first_broken(&verify_rows(&device, &r)),
            (3, code::BAD_SIGNATURE)
        );
    }

    #[test]
    fn deleted_entry_is_a_gap_at_the_next_one() {
        let key = DeviceKey::generate();
        let device = key.public_hex();
        let good = rows(&chain(&key, 6));

        let mut r = good.clone();
        r.remove(2); // seq 3
        let report = verify_rows(&device, &r);
        assert_eq!(first_broken(&report), (3, code::SEQ_GAP));
        let broken = report.first_broken.as_ref().expect("broken");
        assert_eq!(broken.seq, Some(4));
        assert!(broken.message.contains("序号 3"), "{}", broken.message);
        assert_eq!((report.entries, report.head_seq), (2, 2));

        let mut r = good.clone();
        r.drain(1..4); // seq 2, 3, 4
        let report = verify_rows(&device, &r);
        assert_eq!(first_broken(&report), (2, code::SEQ_GAP));
        assert!(report
            .first_broken
            .as_ref()
            .expect("broken")
            .message
            .contains("2 至 4"));

        let mut r = good.clone();
        r.remove(0);
        assert_eq!(first_broken(&verify_rows(&device, &r)), (1, code::SEQ_GAP));

        // A cut-off tail is not visible to the chain alone (the transparency log covers it).
        let mut r = good;
        r.pop();
        assert!(verify_rows(&device, &r).ok);
    }

    #[test]
    fn swapped_or_repeated_entries_are_out_of_order() {
        let key = DeviceKey::generate();
        let device = key.public_hex();
        let good = rows(&chain(&key, 6));

        let mut r = good.clone();
        r.swap(2, 3);
        let report = verify_rows(&device, &r);
        assert_eq!(first_broken(&report), (3, code::SEQ_ORDER));
        assert_eq!(report.first_broken.as_ref().expect("broken").seq, Some(4));

        let mut r = good.clone();
        r.swap(1, 5);
        assert_eq!(
            first_broken(&verify_rows(&device, &r)),
            (2, code::SEQ_ORDER)
        );

        let mut r = good.clone();
        r.insert(3, good[2].clone()); // seq 3 stored twice
        assert_eq!(
            first_broken(&verify_rows(&device, &r)),
            (4, code::SEQ_ORDER)
        );

        let mut r = good.clone();
        r.swap(0, 1);
        assert_eq!(
            first_broken(&verify_rows(&device, &r)),
            (1, code::SEQ_ORDER)
        );
    }

    #[test]
    fn forged_signatures_are_refused() {
        let key = DeviceKey::generate();
        let device = key.public_hex();
        let entries = chain(&key, 5);
        let good = rows(&entries);

        // Same content (still claiming our device), signed by another key.
        let mut r = good.clone();
        let forger = DeviceKey::generate();
        r[3].sig = forger.0.sign(&r[3].bytes).to_bytes().to_vec();
        assert_eq!(
            first_broken(&verify_rows(&device, &r)),
            (4, code::BAD_SIGNATURE)
        );

        // Altered content, signed by another key, hash recomputed.
        let mut entry = entries[3].entry().expect("parses");
        entry.body = json!({"record": 99});
        let mut forged = resign(&entry, &forger);
        forged.sig = forger.0.sign(&forged.bytes).to_bytes().to_vec();
        let mut r = good.clone();
        r[3] = forged;
        assert_eq!(
            first_broken(&verify_rows(&device, &r)),
            (4, code::BAD_SIGNATURE)
        );

        // A random signature.
        let mut r = good;
        r[1].sig = (0..64u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(11))
            .collect();
        assert_eq!(
            first_broken(&verify_rows(&device, &r)),
            (2, code::BAD_SIGNATURE)
        );
    }

    #[test]
    fn entry_from_another_device_is_refused() {
        let key = DeviceKey::generate();
        let other = DeviceKey::generate();
        let ours = rows(&chain(&key, 4));
        let theirs = rows(&chain(&other, 4));
        let mut r = ours.clone();
        r[2] = theirs[2].clone();
        let report = verify_rows(&key.public_hex(), &r);
        assert_eq!(first_broken(&report), (3, code::WRONG_DEVICE));
        assert_eq!(report.first_broken.as_ref().expect("broken").seq, Some(3));
        // A whole chain checked against the wrong device breaks at once.
        assert_eq!(
            first_broken(&verify_rows(&key.public_hex(), &theirs)),
            (1, code::WRONG_DEVICE)
        );
    }

    #[test]
    fn prev_mismatch_is_named() {
        let key = DeviceKey::generate();
        let device = key.public_hex();
        let entries = chain(&key, 5);
        let mut r = rows(&entries);
        // Our own key re-signs entry 4 with a prev that does not point at entry 3.
        let mut entry = entries[3].entry().expect("parses");
        entry.prev = Some(entries[1].hash_hex());
        r[3] = resign(&entry, &key);
        let report = verify_rows(&device, &r);
        assert_eq!(first_broken(&report), (4, code::PREV_MISMATCH));
        assert_eq!((report.entries, report.head_seq), (3, 3));
        assert_eq!(report.head_hash, Some(entries[2].hash_hex()));
        let err = report.error().expect("an error");
        assert_eq!(err.code(), code::PREV_MISMATCH);
        assert!(
            err.message().starts_with("账本第 4 条记录"),
            "{}",
            err.message()
        );

        // A fork: two different entries with seq 2; the chain continues from the other one.
        let fork = next_entry(
            &key,
            Some(Head {
                seq: 1,
                hash: entries[0].hash,
            }),
            time("2024-05-01T09:00:00Z"),
            officers(),
            EntryKind::RecordCreate,
            Some(CASE.to_string()),
            json!({"record": "fork"}),
        );
        let mut r = rows(&entries);
        r[1] = resign(&fork, &key);
        assert_eq!(
            first_broken(&verify_rows(&device, &r)),
            (3, code::PREV_MISMATCH)
        );
    }

    #[test]
    fn report_serialises_for_the_cli() {
        let key = DeviceKey::generate();
        let mut r = rows(&chain(&key, 3));
        r.remove(1);
        let report = verify_rows(&key.public_hex(), &r);
        let v = serde_json::to_value(&report).expect("encodes");
        assert_eq!(v["ok"], json!(false));
        assert_eq!(v["first_broken"]["position"], json!(2));
        assert_eq!(v["first_broken"]["code"], json!("LEDGER_SEQ_GAP"));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let safe = MAX_SAFE_INTEGER as i64;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-safe..=safe).prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Bodies for a chain: objects with random members (never `supersedes`) and a kind index.
    fn arb_bodies() -> impl Strategy<Value = Vec<(u8, serde_json::Map<String, Value>)>> {
        prop::collection::vec(
            (
                0u8..6,
                prop::collection::btree_map(
                    any::<String>().prop_filter("reserved", |k| k != "supersedes"),
                    arb_json(),
                    0..5,
                )
                .prop_map(|m| m.into_iter().collect()),
            ),
            1..50,
        )
    }

    fn random_chain(
        seed: [u8; 32],
        bodies: Vec<(u8, serde_json::Map<String, Value>)>,
    ) -> Vec<SignedEntry> {
        let key = DeviceKey::from_bytes(&seed);
        let mut out: Vec<SignedEntry> = Vec::new();
        let mut head = None;
        for (i, (k, mut body)) in bodies.into_iter().enumerate() {
            let kind = EntryKind::ALL[usize::from(k) % 6];
            if kind.supersedes() {
                let target = out.last().map_or("00".repeat(32), SignedEntry::hash_hex);
                body.insert("supersedes".into(), Value::String(target));
            }
            let entry = next_entry(
                &key,
                head,
                time("2024-05-01T00:00:00Z") + chrono::Duration::milliseconds(i as i64 * 1537),
                vec![format!("3201{i:04}")],
                kind,
                Some(CASE.to_string()),
                Value::Object(body),
            );
            let signed = seal(&entry, &key).expect("random entries are well formed");
            head = Some(Head {
                seq: entry.seq,
                hash: signed.hash,
            });
            out.push(signed);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Random chains verify; flipping any one byte of any entry names that entry, whether or
        /// not the stored hash is recomputed to match.
        #[test]
        fn random_chains_verify_and_any_flip_is_named(
            seed in any::<[u8; 32]>(),
            bodies in arb_bodies(),
            pick in any::<prop::sample::Index>(),
            offset in any::<prop::sample::Index>(),
            mask in 1u8..=255,
            rehash in any::<bool>(),
        ) {
            let entries = random_chain(seed, bodies);
            let device = DeviceKey::from_bytes(&seed).public_hex();
            let good = rows(&entries);
            let report = verify_rows(&device, &good);
            prop_assert!(report.ok, "{:?}", report);
            prop_assert_eq!(report.entries, entries.len() as u64);
            for e in &entries {
                let opened = e.verify().expect("verifies");
                // The bytes are exactly the canonical encoding of what they hold.
                prop_assert_eq!(jcs::to_canonical_vec(&opened).expect("encodes"), e.bytes.clone());
            }

            let i = pick.index(good.len());
            let mut r = good;
            let at = offset.index(r[i].bytes.len());
            r[i].bytes[at] ^= mask;
            if rehash {
                r[i].hash = sha256(&r[i].bytes).to_vec();
            }
            let report = verify_rows(&device, &r);
            let b = report.first_broken.clone().expect("a flipped byte is always detected");
            prop_assert_eq!(b.position, i as u64 + 1, "{:?}", b);
            prop_assert_eq!(report.entries, i as u64);
        }
    }
}
