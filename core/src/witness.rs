//! Witnesses of the transparency log: C2SP `tlog-cosignature` cosignatures on a checkpoint, and
//! the policy saying how many of which witnesses a device or a verifier requires.
//!
//! Pure domain, no I/O: the server checks each cosignature a witness returns with it before
//! storing it, the device's sync client checks the checkpoint it is served against the policy of
//! its agency's signed bundle, and an offline verifier can check a package's checkpoints with it.
//!
//! # Formats
//!
//! - **Witness key** (C2SP `signed-note` verifier key of algorithm `0x04`, cosignature/v1):
//!   `<name>+<key id, 8 hex>+<base64(0x04 ‖ Ed25519 public key)>`, where the key id is the first
//!   four bytes of `SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)`.
//! - **Cosignature** (a signature line appended to the checkpoint note):
//!   `— <name> <base64(key id ‖ timestamp ‖ signature)>`, the timestamp a big-endian `u64` of Unix
//!   seconds, the signature Ed25519 over `cosignature/v1\ntime <timestamp>\n<checkpoint text>`
//!   (the note's text, each line ending in a newline). Verifiers that do not know a witness's key
//!   ignore its line (Go's `sumdb/note`, the `signed_note` crate), so a cosigned checkpoint is still
//!   a valid checkpoint for every existing client.
//! - **Policy** (the bundle component `witnesses.json`, [`POLICY_COMPONENT`]), RFC 8785 canonical
//!   JSON: `{"quorum": k, "witnesses": [{"key": "<witness key>", "name": "<name>"}…]}`, the
//!   witnesses ordered by name, names unique and equal to their key's name, `0 ≤ k ≤ n`. A
//!   checkpoint satisfies it when at least `k` distinct listed witnesses have a valid cosignature
//!   on it ([`check_policy`]); `k = 0` requires nothing.

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, RoadsideError};
use crate::jcs;

/// Name of the bundle component holding the witness policy.
pub const POLICY_COMPONENT: &str = "witnesses.json";
/// The signed-note algorithm byte of a cosignature/v1 key.
pub const COSIGNATURE_V1: u8 = 0x04;
/// Most witnesses a policy may list.
pub const MAX_WITNESSES: usize = 64;

/// Stable error codes.
pub mod code {
    /// A witness key is not a cosignature/v1 verifier key.
    pub const KEY_INVALID: &str = "WITNESS_KEY_INVALID";
    /// The policy component is not what the format says.
    pub const POLICY_INVALID: &str = "WITNESS_POLICY_INVALID";
    /// A checkpoint lacks the cosignatures the policy requires.
    pub const NOT_WITNESSED: &str = "CHECKPOINT_NOT_WITNESSED";
}

/// A witness's verifier key, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    /// The witness's name (the first part of its key and of its signature lines).
    pub name: String,
    /// The key id (first four bytes of the key hash).
    pub key_id: u32,
    pub key: VerifyingKey,
    /// The verifier key as written.
    pub vkey: String,
}

fn key_invalid(vkey: &str, why: &str) -> RoadsideError {
    RoadsideError::rules(
        code::KEY_INVALID,
        format!("见证者公钥 “{vkey}” 无效：{why}（应为 名称+8位十六进制密钥号+base64(0x04‖Ed25519 公钥)）"),
    )
}

/// A name as C2SP signed-note allows it: non-empty, no Unicode space, no `+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_whitespace) && !name.contains('+')
}

/// The key id of a signed-note key: the first four bytes of `SHA-256(name ‖ "\n" ‖ key)`.
fn key_id(name: &str, key: &[u8]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update(key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

impl WitnessKey {
    /// Parse a cosignature/v1 verifier key.
    pub fn parse(vkey: &str) -> Result<WitnessKey> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(key_invalid(vkey, "不是由两个 + 分隔的三段"));
        };
        if !valid_name(name) {
            return Err(key_invalid(vkey, "名称为空或含空白、+"));
        }
        let id = (id_hex.len() == 8)
            .then(|| u32::from_str_radix(id_hex, 16).ok())
            .flatten()
            .ok_or_else(|| key_invalid(vkey, "密钥号不是 8 位十六进制数"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key_b64)
            .map_err(|_| key_invalid(vkey, "公钥不是 base64"))?;
        if bytes.first() != Some(&COSIGNATURE_V1) {
            return Err(key_invalid(
                vkey,
                "算法不是 cosignature/v1（0x04；见证者的联署签名公钥）",
            ));
        }
        let public: [u8; 32] = bytes[1..]
            .try_into()
            .map_err(|_| key_invalid(vkey, "Ed25519 公钥应为 32 字节"))?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| key_invalid(vkey, "不是有效的 Ed25519 公钥"))?;
        if key_id(name, &bytes) != id {
            return Err(key_invalid(vkey, "密钥号与名称和公钥不符"));
        }
        Ok(WitnessKey {
            name: name.to_string(),
            key_id: id,
            key,
            vkey: vkey.to_string(),
        })
    }

    /// The timestamp of this witness's cosignature `line` on a checkpoint whose note text is
    /// `text`, when the line is this witness's (name and key id) and its signature verifies.
    pub fn verify_line(&self, text: &[u8], line: &str) -> Option<u64> {
        let (name, sig) = parse_line(line)?;
        if name != self.name || sig.len() != 4 + 8 + 64 {
            return None;
        }
        let id = u32::from_be_bytes(sig[0..4].try_into().ok()?);
        if id != self.key_id {
            return None;
        }
        let timestamp = u64::from_be_bytes(sig[4..12].try_into().ok()?);
        let signature = Signature::from_slice(&sig[12..]).ok()?;
        self.key
            .verify_strict(&cosignature_message(timestamp, text), &signature)
            .ok()?;
        Some(timestamp)
    }
}

/// The cosignature/v1 verifier key of a witness named `name` with this Ed25519 public key.
pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
    let mut bytes = vec![COSIGNATURE_V1];
    bytes.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{:08x}+{}",
        key_id(name, &bytes),
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    )
}

/// The message a witness signs: `cosignature/v1\ntime <timestamp>\n` and the checkpoint text.
pub fn cosignature_message(timestamp: u64, text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

/// A signature line `— <name> <base64>`: its name and decoded bytes.
fn parse_line(line: &str) -> Option<(&str, Vec<u8>)> {
    let rest = line.strip_prefix("\u{2014} ")?;
    let (name, b64) = rest.split_once(' ')?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim_end_matches('\n'))
        .ok()?;
    Some((name, bytes))
}

/// A signed note split into its text (ending in a newline) and its signature lines.
pub fn split_note(note: &str) -> Option<(&str, Vec<&str>)> {
    let at = note.rfind("\n\n")?;
    let text = &note[..=at];
    let sigs = note[at + 2..].strip_suffix('\n')?;
    Some((text, sigs.split('\n').collect()))
}

/// The note with `lines` (signature lines, without their newline) appended to its signatures,
/// each once: what a cosigned checkpoint is.
pub fn append_signatures(note: &str, lines: &[String]) -> String {
    let mut out = note.to_string();
    let existing: Vec<&str> = split_note(note).map(|(_, s)| s).unwrap_or_default();
    for line in lines {
        if !existing.contains(&line.as_str()) && !out.contains(&format!("\n{line}\n")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A witness as the policy lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyWitness {
    pub name: String,
    /// Its cosignature/v1 verifier key.
    pub key: String,
}

/// How many of which witnesses must cosign a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessPolicy {
    pub quorum: u32,
    pub witnesses: Vec<PolicyWitness>,
}

fn policy_invalid(why: impl Into<String>) -> RoadsideError {
    RoadsideError::rules(
        code::POLICY_INVALID,
        format!("见证策略（{POLICY_COMPONENT}）无效：{}", why.into()),
    )
}

impl WitnessPolicy {
    /// A policy over these witness keys, ordered by name.
    pub fn new(quorum: u32, keys: &[WitnessKey]) -> Result<WitnessPolicy> {
        let mut witnesses: Vec<PolicyWitness> = keys
            .iter()
            .map(|k| PolicyWitness {
                name: k.name.clone(),
                key: k.vkey.clone(),
            })
            .collect();
        witnesses.sort_by(|a, b| a.name.cmp(&b.name));
        let policy = WitnessPolicy { quorum, witnesses };
        policy.keys()?;
        Ok(policy)
    }

    /// The listed witnesses' keys, every rule of the format checked.
    pub fn keys(&self) -> Result<Vec<WitnessKey>> {
        if self.witnesses.len() > MAX_WITNESSES {
            return Err(policy_invalid(format!(
                "列出了 {} 个见证者，最多 {MAX_WITNESSES} 个",
                self.witnesses.len()
            )));
        }
        if self.quorum as usize > self.witnesses.len() {
            return Err(policy_invalid(format!(
                "要求 {} 个见证者联署，却只列出了 {} 个",
                self.quorum,
                self.witnesses.len()
            )));
        }
        let mut keys = Vec::with_capacity(self.witnesses.len());
        for (i, w) in self.witnesses.iter().enumerate() {
            if i > 0 && self.witnesses[i - 1].name >= w.name {
                return Err(policy_invalid("见证者应按名称排序且名称不重复"));
            }
            let key = WitnessKey::parse(&w.key).map_err(|e| policy_invalid(e.message()))?;
            if key.name != w.name {
                return Err(policy_invalid(format!(
                    "见证者 {} 的公钥名称是 {}",
                    w.name, key.name
                )));
            }
            keys.push(key);
        }
        Ok(keys)
    }

    /// The component's bytes (RFC 8785 canonical JSON).
    pub fn to_component(&self) -> Result<Vec<u8>> {
        jcs::to_canonical_vec(self)
    }

    /// Parse and check the component's bytes.
    pub fn from_component(bytes: &[u8]) -> Result<WitnessPolicy> {
        let policy: WitnessPolicy =
            serde_json::from_slice(bytes).map_err(|e| policy_invalid(e.to_string()))?;
        policy.keys()?;
        Ok(policy)
    }
}

/// The witnesses among `keys` with a valid cosignature on `note`, each once, with the time it
/// signed (Unix seconds).
pub fn cosigned_by(note: &str, keys: &[WitnessKey]) -> Vec<(String, u64)> {
    let Some((text, lines)) = split_note(note) else {
        return Vec::new();
    };
    let mut found: Vec<(String, u64)> = Vec::new();
    for key in keys {
        if found.iter().any(|(n, _)| *n == key.name) {
            continue;
        }
        if let Some(t) = lines
            .iter()
            .find_map(|l| key.verify_line(text.as_bytes(), l))
        {
            found.push((key.name.clone(), t));
        }
    }
    found
}

/// Check that a checkpoint note carries the cosignatures `policy` requires; the witnesses that
/// cosigned it. `CHECKPOINT_NOT_WITNESSED` otherwise, naming what is missing. The note's own
/// signature (the log's) is checked elsewhere.
pub fn check_policy(note: &str, policy: &WitnessPolicy) -> Result<Vec<String>> {
    let keys = policy.keys()?;
    let found: Vec<String> = cosigned_by(note, &keys)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    if found.len() >= policy.quorum as usize {
        return Ok(found);
    }
    let size = note.split('\n').nth(1).unwrap_or("?");
    let names: Vec<&str> = policy.witnesses.iter().map(|w| w.name.as_str()).collect();
    Err(RoadsideError::ledger(
        code::NOT_WITNESSED,
        format!(
            "服务器的日志检查点（大小 {size}）只有 {} 个指定见证者的有效联署签名，本单位要求至少 {} 个\
             （指定见证者：{}），拒绝接受：无法确认服务器向所有人展示的是同一份日志。\
             同步已停止，记录都保留在本机；稍后重试，若持续出现请报告本单位系统管理员",
            found.len(),
            policy.quorum,
            names.join("、")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn witness(name: &str, seed: u8) -> (SigningKey, WitnessKey) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let vkey = verifier_key(name, &sk.verifying_key());
        (sk, WitnessKey::parse(&vkey).expect("key"))
    }

    fn cosign(sk: &SigningKey, w: &WitnessKey, text: &str, t: u64) -> String {
        let sig = sk.sign(&cosignature_message(t, text.as_bytes()));
        let mut bytes = w.key_id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&t.to_be_bytes());
        bytes.extend_from_slice(&sig.to_bytes());
        format!(
            "\u{2014} {} {}",
            w.name,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    const TEXT: &str = "example.org/log\n5\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    fn note() -> String {
        format!("{TEXT}\n\u{2014} example.org/log AAAAAAAA\n")
    }

    #[test]
    fn keys_parse_and_refuse_other_algorithms() {
        let (_, w) = witness("witness.example/a", 7);
        assert_eq!(WitnessKey::parse(&w.vkey).expect("parse"), w);
        // An Ed25519 note key (0x01) is a log key, not a witness key.
        let (_, vkey) = signed_note_key("witness.example/a");
        assert_eq!(
            WitnessKey::parse(&vkey).expect_err("alg").code(),
            code::KEY_INVALID
        );
        let parts: Vec<&str> = w.vkey.splitn(3, '+').collect();
        let wrong_id = format!("{}+{:08x}+{}", parts[0], w.key_id ^ 1, parts[2]);
        assert!(WitnessKey::parse(&wrong_id).is_err());
    }

    fn signed_note_key(name: &str) -> (SigningKey, String) {
        let sk = SigningKey::from_bytes(&[3; 32]);
        let mut key = vec![1u8];
        key.extend_from_slice(sk.verifying_key().as_bytes());
        let vkey = format!(
            "{name}+{:08x}+{}",
            key_id(name, &key),
            base64::engine::general_purpose::STANDARD.encode(&key)
        );
        (sk, vkey)
    }

    #[test]
    fn a_cosignature_verifies_only_on_its_checkpoint_with_its_key() {
        let (sk, w) = witness("witness.example/a", 7);
        let (_, other) = witness("witness.example/b", 8);
        let line = cosign(&sk, &w, TEXT, 1_700_000_000);
        assert_eq!(w.verify_line(TEXT.as_bytes(), &line), Some(1_700_000_000));
        assert_eq!(other.verify_line(TEXT.as_bytes(), &line), None);
        let altered = TEXT.replace("\n5\n", "\n6\n");
        assert_eq!(w.verify_line(altered.as_bytes(), &line), None);
        // A changed timestamp breaks the signature.
        let forged = cosign(&sk, &w, TEXT, 1);
        let (_, mut bytes) = parse_line(&forged).expect("line");
        bytes[11] ^= 1;
        let forged = format!(
            "\u{2014} {} {}",
            w.name,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        assert_eq!(w.verify_line(TEXT.as_bytes(), &forged), None);
    }

    #[test]
    fn the_policy_counts_distinct_valid_witnesses() {
        let (sa, a) = witness("witness.example/a", 7);
        let (sb, b) = witness("witness.example/b", 8);
        let (sc, c) = witness("witness.example/c", 9);
        let policy = WitnessPolicy::new(2, &[b.clone(), a.clone()]).expect("policy");
        assert_eq!(policy.witnesses[0].name, "witness.example/a");
        let bytes = policy.to_component().expect("json");
        assert_eq!(
            WitnessPolicy::from_component(&bytes).expect("parse"),
            policy
        );

        let bare = note();
        let err = check_policy(&bare, &policy).expect_err("none");
        assert_eq!(err.code(), code::NOT_WITNESSED);
        assert!(err.message().contains("至少 2 个"), "{}", err.message());

        // Twice the same witness is one witness; an unlisted witness does not count.
        let once = append_signatures(
            &bare,
            &[
                cosign(&sa, &a, TEXT, 10),
                cosign(&sa, &a, TEXT, 11),
                cosign(&sc, &c, TEXT, 12),
            ],
        );
        assert_eq!(
            check_policy(&once, &policy).expect_err("one").code(),
            code::NOT_WITNESSED
        );
        let twice = append_signatures(&once, &[cosign(&sb, &b, TEXT, 13)]);
        assert_eq!(
            check_policy(&twice, &policy).expect("two"),
            vec!["witness.example/a", "witness.example/b"]
        );
        // Appending is idempotent.
        assert_eq!(
            append_signatures(&twice, &[cosign(&sb, &b, TEXT, 13)]),
            twice
        );
    }

    #[test]
    fn policies_that_break_the_format_are_refused() {
        let (_, a) = witness("witness.example/a", 7);
        assert!(WitnessPolicy::new(2, std::slice::from_ref(&a)).is_err());
        let unsorted = format!(
            r#"{{"quorum":0,"witnesses":[{{"key":"{}","name":"z"}},{{"key":"{}","name":"witness.example/a"}}]}}"#,
            a.vkey, a.vkey
        );
        assert_eq!(
            WitnessPolicy::from_component(unsorted.as_bytes())
                .expect_err("unsorted")
                .code(),
            code::POLICY_INVALID
        );
        let misnamed = format!(
            r#"{{"quorum":1,"witnesses":[{{"key":"{}","name":"other"}}]}}"#,
            a.vkey
        );
        assert!(WitnessPolicy::from_component(misnamed.as_bytes()).is_err());
        assert!(WitnessPolicy::from_component(b"{\"quorum\":0}").is_err());
    }
}
