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

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn event() -> KeyEvent {
        KeyEvent {
            v: HISTORY_VERSION,
            kind: ENROL.into(),
            agency: "632500".into(),
            device_id: "0190f5a2-7c3e-7b2a-9d4e-0123456789ab".into(),
            device_key: "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c".into(),
            officer: "QH6325000101".into(),
            at: "2026-05-01T08:30:00.123Z".into(),
        }
    }

    #[test]
    fn a_statement_opens_with_the_agency_key_and_nothing_else() {
        let agency = SigningKey::from_bytes(&[7; 32]);
        let bytes = event().to_bytes().expect("canonical");
        let sig = agency.sign(&bytes).to_bytes();
        assert_eq!(open(&bytes, &sig, &agency.verifying_key()), Ok(event()));

        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(open(&bytes, &sig, &other.verifying_key()).is_err());
        for at in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[at] ^= 0x01;
            assert!(
                open(&changed, &sig, &agency.verifying_key()).is_err(),
                "byte {at} changed and still opened"
            );
        }
        let mut spaced = bytes.clone();
        spaced.insert(1, b' ');
        let sig2 = agency.sign(&spaced).to_bytes();
        assert!(open(&spaced, &sig2, &agency.verifying_key())
            .expect_err("not canonical")
            .contains("规范"));
    }
}
