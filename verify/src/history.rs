//! Key history: the statements by which an agency enrols a device's signing key and revokes it.
//!
//! A statement is RFC 8785 canonical JSON with exactly these members, signed (Ed25519 over the
//! exact bytes) by the agency's key, and its SHA-256 is a leaf of the transparency log like a
//! ledger entry's. So the binding of a key to an agency at a time is itself in the log:
//!
//! | member       | meaning |
//! |--------------|---------|
//! | `v`          | format version, `1` |
//! | `kind`       | `device.enrol` or `device.revoke` |
//! | `agency`     | the agency's code |
//! | `device_id`  | the server's id of the device |
//! | `device_key` | the device's Ed25519 public key, 64 lowercase hex digits |
//! | `officer`    | the certificate number (执法证号) of the officer the device was enrolled for |
//! | `at`         | when the server enrolled or revoked it, RFC 3339 UTC with milliseconds |

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The format version written into `v`.
pub const HISTORY_VERSION: u32 = 1;
/// `kind` of an enrolment.
pub const ENROL: &str = "device.enrol";
/// `kind` of a revocation.
pub const REVOKE: &str = "device.revoke";

/// One key history statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEvent {
    pub v: u32,
    pub kind: String,
    pub agency: String,
    pub device_id: String,
    pub device_key: String,
    pub officer: String,
    pub at: String,
}

impl KeyEvent {
    /// The canonical bytes that are signed and logged.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        crate::canonical::to_canonical_vec(self)
    }
}

/// Open a statement: canonical JSON of a [`KeyEvent`] of a known version and kind, whose
/// signature verifies with the agency's key. The message says what is wrong.
pub fn open(bytes: &[u8], sig: &[u8], agency_key: &VerifyingKey) -> Result<KeyEvent, String> {
    let event: KeyEvent =
        serde_json::from_slice(bytes).map_err(|e| format!("密钥历史记录格式错误：{e}"))?;
    if !crate::canonical::is_canonical(bytes) {
        return Err("密钥历史记录不是 RFC 8785 规范 JSON 编码".into());
    }
    if event.v != HISTORY_VERSION || (event.kind != ENROL && event.kind != REVOKE) {
        return Err(format!(
            "密钥历史记录的版本 {} 或类型 {} 无法识别",
            event.v, event.kind
        ));
    }
    crate::entry::decode_key(&event.device_key, "字段 device_key")?;
    let sig = Signature::from_slice(sig)
        .map_err(|_| format!("签名长度应为 64 字节，实际为 {} 字节", sig.len()))?;
    agency_key
        .verify_strict(bytes, &sig)
        .map_err(|_| "签名无效：不是由本单位密钥签署的，或内容已被改动".to_string())?;
    Ok(event)
}
