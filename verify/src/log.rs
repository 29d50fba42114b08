//! The transparency log's proofs: C2SP signed checkpoints (a C2SP `tlog-checkpoint` in a C2SP
//! `signed-note`, Ed25519) and RFC 6962 inclusion proofs. The tree code is the server's own
//! (`tlog_tiles`, `signed_note`), so both sides compute the same thing.
//!
//! A checkpoint note may carry more signature lines than the log's own (witness cosignatures):
//! lines by keys the verifier was not given are skipped, and the log's signature must be there.

use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint as TreeCheckpoint, Hash};

/// A failed check: a stable code and a Chinese message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    pub code: &'static str,
    pub message: String,
}

/// The stable codes.
pub mod code {
    /// The log's verifier key is not a C2SP note verifier key.
    pub const LOG_KEY_INVALID: &str = "LOG_KEY_INVALID";
    /// Not a signed note, or not a checkpoint.
    pub const CHECKPOINT_MALFORMED: &str = "CHECKPOINT_MALFORMED";
    /// Not signed by the log's key (another key, or altered text).
    pub const CHECKPOINT_SIGNATURE: &str = "CHECKPOINT_SIGNATURE";
    /// The inclusion proof does not lead to the checkpoint's root.
    pub const RECEIPT_INVALID: &str = "RECEIPT_INVALID";
}

fn fail(code: &'static str, message: impl Into<String>) -> LogError {
    LogError {
        code,
        message: message.into(),
    }
}

/// A verified checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
}

/// Verify a signed note with a verifier key (`<name>+<id>+<base64 key>`) and return its text.
/// Signature lines of other keys (witness cosignatures) are ignored; the key's own must verify.
/// `what` names the note in messages (检查点, 轮换声明…).
pub fn note_text(note: &[u8], verifier_key: &str, what: &str) -> Result<Vec<u8>, LogError> {
    let verifier = StandardVerifier::new(verifier_key)
        .map_err(|e| fail(code::LOG_KEY_INVALID, format!("日志公钥无效：{e:?}")))?;
    let parsed = Note::from_bytes(note).map_err(|e| {
        fail(
            code::CHECKPOINT_MALFORMED,
            format!("{what}不是有效的签名文本：{e:?}"),
        )
    })?;
    parsed
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| {
            fail(
                code::CHECKPOINT_SIGNATURE,
                format!("{what}的签名与日志公钥不符（{e:?}）"),
            )
        })?;
    Ok(parsed.text().to_vec())
}

/// Verify a checkpoint note with the log's verifier key and parse it.
pub fn checkpoint(note: &[u8], verifier_key: &str) -> Result<Checkpoint, LogError> {
    let text = note_text(note, verifier_key, "检查点")?;
    let cp = TreeCheckpoint::from_bytes(&text).map_err(|e| {
        fail(
            code::CHECKPOINT_MALFORMED,
            format!("检查点内容格式错误：{e:?}"),
        )
    })?;
    Ok(Checkpoint {
        origin: cp.origin().to_string(),
        size: cp.size(),
        root: cp.hash().0,
    })
}

/// The origin line of a checkpoint note, unverified (to pick the key to verify it with).
pub fn origin_line(note: &str) -> &str {
    note.split('\n').next().unwrap_or_default()
}

/// Check that the entry with hash `entry_hash` is leaf `index` of a tree of `size` with `root`.
pub fn inclusion(
    proof: &[[u8; 32]],
    size: u64,
    root: &[u8; 32],
    index: u64,
    entry_hash: &[u8; 32],
) -> Result<(), LogError> {
    let proof: Vec<Hash> = proof.iter().map(|h| Hash(*h)).collect();
    let leaf = tlog_tiles::record_hash(entry_hash);
    tlog_tiles::check_record(&proof, size, Hash(*root), index, leaf).map_err(|e| {
        fail(
            code::RECEIPT_INVALID,
            format!("第 {index} 号日志叶子的包含证明与大小为 {size} 的检查点不符（{e}）"),
        )
    })
}

/// Check that a tree of `new_size` with `new_root` extends one of `old_size` with `old_root`.
pub fn consistent(
    proof: &[[u8; 32]],
    old_size: u64,
    old_root: &[u8; 32],
    new_size: u64,
    new_root: &[u8; 32],
) -> bool {
    if old_size == new_size {
        old_root == new_root
    } else if old_size == 0 {
        true
    } else {
        let proof: Vec<Hash> = proof.iter().map(|h| Hash(*h)).collect();
        tlog_tiles::check_tree(&proof, new_size, Hash(*new_root), old_size, Hash(*old_root)).is_ok()
    }
}
