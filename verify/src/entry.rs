//! One signed ledger entry, checked from its exact bytes: the bytes are JSON, they are the RFC
//! 8785 canonical encoding of that JSON, `device` is a usable Ed25519 public key, and the 64-byte
//! signature over the bytes verifies with it (`verify_strict`). The device core's ledger runs the
//! same checks ([`decode_signed`], [`decode_device`]) before its own shape rules.

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::Value;

use crate::canonical;

/// A failed check, with the ledger's stable code and a Chinese message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub code: &'static str,
    pub message: String,
}

/// The ledger's stable error codes these checks answer with.
pub mod code {
    pub const MALFORMED: &str = "LEDGER_MALFORMED";
    pub const NOT_CANONICAL: &str = "LEDGER_NOT_CANONICAL";
    pub const HASH_MISMATCH: &str = "LEDGER_HASH_MISMATCH";
    pub const BAD_SIGNATURE: &str = "LEDGER_BAD_SIGNATURE";
    pub const BAD_DEVICE_KEY: &str = "LEDGER_BAD_DEVICE_KEY";
}

fn fail(code: &'static str, message: impl Into<String>) -> EntryError {
    EntryError {
        code,
        message: message.into(),
    }
}

/// Decode a device key as the ledger writes it: 64 lowercase hex digits of a valid, non-weak
/// Ed25519 public key. `LEDGER_BAD_DEVICE_KEY` otherwise.
pub fn decode_device(device: &str) -> Result<VerifyingKey, EntryError> {
    decode_key(device, "字段 device").map_err(|m| fail(code::BAD_DEVICE_KEY, m))
}

/// Decode a 64-hex-digit Ed25519 public key; the message names `what` when it is not one.
pub fn decode_key(hex_key: &str, what: &str) -> Result<VerifyingKey, String> {
    let bad = |why: &str| format!("{what} {why}，应为 64 位小写十六进制的 Ed25519 公钥");
    if !crate::is_lower_hex(hex_key, 64) {
        return Err(bad("格式错误"));
    }
    let mut raw = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut raw).map_err(|_| bad("格式错误"))?;
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| bad("不是有效的公钥"))?;
    if key.is_weak() {
        return Err(bad("是弱公钥"));
    }
    Ok(key)
}

/// The checks before the signature: its length, JSON, canonical bytes, the `device` key (`known`,
/// a key already decoded with its hex, is used when `device` names it). Returns the parsed
/// signature, the key that must have made it, and the value.
pub fn decode_signed(
    bytes: &[u8],
    sig: &[u8],
    known: Option<(&str, &VerifyingKey)>,
) -> Result<(Signature, VerifyingKey, Value), EntryError> {
    let sig = Signature::from_slice(sig).map_err(|_| {
        fail(
            code::BAD_SIGNATURE,
            format!("签名长度应为 64 字节，实际为 {} 字节", sig.len()),
        )
    })?;
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| fail(code::MALFORMED, format!("记录不是有效的 JSON：{e}")))?;
    if canonical::value_to_canonical_vec(&value).ok().as_deref() != Some(bytes) {
        return Err(fail(
            code::NOT_CANONICAL,
            "记录不是 RFC 8785 规范 JSON 编码（字节已被改动或由不合规的程序生成）",
        ));
    }
    let device = value
        .get("device")
        .and_then(Value::as_str)
        .ok_or_else(|| fail(code::MALFORMED, "记录缺少 device 字段"))?;
    let key = match known {
        Some((hex, key)) if hex == device => *key,
        _ => decode_device(device)?,
    };
    Ok((sig, key, value))
}

/// Verify the signature made over `bytes` by `key`. `LEDGER_BAD_SIGNATURE` otherwise.
pub fn check_signature(
    key: &VerifyingKey,
    bytes: &[u8],
    sig: &Signature,
) -> Result<(), EntryError> {
    key.verify_strict(bytes, sig).map_err(|_| {
        fail(
            code::BAD_SIGNATURE,
            "签名无效：记录不是由 device 字段所指设备的密钥签署的，或内容已被改动",
        )
    })
}

/// What a verifier reads from an authentic entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// SHA-256 of the bytes: the entry's identity and its leaf in the transparency log.
    pub hash: [u8; 32],
    /// Lowercase hex of the signing device's public key.
    pub device: String,
    pub seq: u64,
    /// Lowercase hex hash of the device's previous entry (`None` for its first).
    pub prev: Option<String>,
    /// When, by the device's clock (RFC 3339 UTC, milliseconds).
    pub at: String,
    pub kind: String,
    pub case: Option<String>,
    pub officers: Vec<String>,
    pub body: Value,
}

/// Open one entry: hash (against `expected_hash` when given), JSON, canonical bytes, device key,
/// signature; then read the members a verifier needs. The device core adds the ledger's shape
/// rules on top; a verifier needs only what is signed.
pub fn open(
    bytes: &[u8],
    sig: &[u8],
    expected_hash: Option<&[u8; 32]>,
) -> Result<Entry, EntryError> {
    let hash = crate::sha256(bytes);
    if expected_hash.is_some_and(|e| *e != hash) {
        return Err(fail(
            code::HASH_MISMATCH,
            "记录内容的 SHA-256 哈希值与保存的哈希值不符，内容或哈希值已被改动",
        ));
    }
    let (sig, key, value) = decode_signed(bytes, sig, None)?;
    check_signature(&key, bytes, &sig)?;
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    let malformed = |what: &str| fail(code::MALFORMED, format!("记录的 {what} 字段缺失或类型错误"));
    let seq = value
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("seq"))?;
    let prev = match value.get("prev") {
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        _ => return Err(malformed("prev")),
    };
    let case = match value.get("case") {
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        _ => return Err(malformed("case")),
    };
    let officers = value
        .get("officers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.as_str().map(str::to_string))
                .collect()
        })
        .ok_or_else(|| malformed("officers"))?;
    Ok(Entry {
        hash,
        device: text("device").ok_or_else(|| malformed("device"))?,
        seq,
        prev,
        at: text("at").ok_or_else(|| malformed("at"))?,
        kind: text("kind").ok_or_else(|| malformed("kind"))?,
        case,
        officers,
        body: value.get("body").cloned().unwrap_or(Value::Null),
    })
}
