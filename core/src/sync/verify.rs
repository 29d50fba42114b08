//! Checking what the transparency log hands the device: C2SP signed checkpoints against the key
//! pinned at enrolment, RFC 6962 inclusion proofs against a checkpoint's root, and consistency
//! proofs between two checkpoints. The checks are the offline verifier's (`roadside_verify::log`,
//! over the server's own tree code), so the device, the server and a third party compute the same
//! thing.

use tlog_tiles::Checkpoint;

use crate::error::{Result, RoadsideError};
use crate::store::sync::SeenCheckpoint;

/// Verify a signed checkpoint with the pinned verifier key and parse it.
///
/// `CHECKPOINT_MALFORMED`: not a signed note / checkpoint; `CHECKPOINT_SIGNATURE`: not signed by the
/// pinned key (another key, or altered text); `CHECKPOINT_ORIGIN`: a checkpoint of another log.
pub fn checkpoint(note: &str, verifier_key: &str, origin: &str) -> Result<SeenCheckpoint> {
    let text = note_text(note, verifier_key, "检查点")?;
    let cp = Checkpoint::from_bytes(&text).map_err(|e| {
        RoadsideError::network("CHECKPOINT_MALFORMED", format!("检查点内容格式错误：{e:?}"))
    })?;
    if cp.origin() != origin {
        return Err(RoadsideError::ledger(
            "CHECKPOINT_ORIGIN",
            format!("检查点来自日志 {}，而不是登记时的 {origin}", cp.origin()),
        ));
    }
    Ok(SeenCheckpoint {
        size: cp.size(),
        root: cp.hash().0,
        note: note.to_string(),
    })
}

/// Verify a signed note (a checkpoint, a rollover statement) with a verifier key; its text.
///
/// `CHECKPOINT_MALFORMED`: not a signed note; `CHECKPOINT_SIGNATURE`: not signed by that key.
pub fn note_text(note: &str, verifier_key: &str, what: &str) -> Result<Vec<u8>> {
    use roadside_verify::log::code;
    roadside_verify::log::note_text(note.as_bytes(), verifier_key, what).map_err(|e| match e.code {
        code::LOG_KEY_INVALID => RoadsideError::internal(
            "LOG_KEY_INVALID",
            format!("登记时保存的日志公钥无效：{}", e.message),
        ),
        code::CHECKPOINT_MALFORMED => {
            RoadsideError::network("CHECKPOINT_MALFORMED", format!("服务器给出的{}", e.message))
        }
        _ => RoadsideError::ledger(
            "CHECKPOINT_SIGNATURE",
            format!(
                "{}，拒绝接受",
                e.message.replacen("日志公钥", "登记时固定的日志公钥", 1)
            ),
        ),
    })
}

/// The origin line of a checkpoint note, unverified (to pick the key to verify it with).
pub fn origin_line(note: &str) -> &str {
    note.split('\n').next().unwrap_or_default()
}

/// Check that the entry with hash `entry_hash` is leaf `index` of the checkpoint's tree.
pub fn inclusion(
    proof: &[[u8; 32]],
    cp: &SeenCheckpoint,
    index: u64,
    entry_hash: &[u8; 32],
) -> Result<()> {
    roadside_verify::log::inclusion(proof, cp.size, &cp.root, index, entry_hash)
        .map_err(|e| RoadsideError::ledger("RECEIPT_INVALID", format!("{}，回执不可信", e.message)))
}

/// Check that the tree of `new` extends the tree of `old` (`old.size <= new.size`).
pub fn consistency(proof: &[[u8; 32]], old: &SeenCheckpoint, new: &SeenCheckpoint) -> Result<()> {
    if roadside_verify::log::consistent(proof, old.size, &old.root, new.size, &new.root) {
        Ok(())
    } else {
        Err(log_inconsistent(old, new))
    }
}

/// The loud error: the log's history changed between two checkpoints it signed.
pub fn log_inconsistent(old: &SeenCheckpoint, new: &SeenCheckpoint) -> RoadsideError {
    RoadsideError::ledger(
        "LOG_INCONSISTENT",
        format!(
            "透明日志前后不一致：服务器签署的大小为 {} 的检查点与本机此前验证过的大小为 {} 的检查点不能互相印证，\
             日志可能被改写。同步已停止，请立即报告本单位系统管理员",
            new.size, old.size
        ),
    )
}

/// The log shrank: its current checkpoint is smaller than one the device has verified (a server
/// restored from an older backup). `LOG_ROLLED_BACK`.
pub fn log_rolled_back(seen: &SeenCheckpoint, now: &SeenCheckpoint) -> RoadsideError {
    RoadsideError::ledger(
        "LOG_ROLLED_BACK",
        format!(
            "透明日志变小了：服务器当前的检查点大小为 {}，而本机此前已验证过大小为 {} 的检查点，\
             服务器的数据可能已从旧备份恢复。同步已停止，本机的记录和回执都完整保留；\
             请立即报告本单位系统管理员按恢复步骤处理",
            now.size, seen.size
        ),
    )
}

/// The server denies an entry whose predecessor it gave a receipt for: it lost data.
/// `LOG_ROLLED_BACK`.
pub fn entry_lost(seq: u64, leaf_index: u64) -> RoadsideError {
    RoadsideError::ledger(
        "LOG_ROLLED_BACK",
        format!(
            "服务器已不再保存本设备第 {seq} 条记录（本机持有其回执，位于日志第 {leaf_index} 号叶子），\
             服务器的数据可能已从旧备份恢复。同步已停止，本机的记录和回执都完整保留；\
             请立即报告本单位系统管理员按恢复步骤处理"
        ),
    )
}

/// Decode base64 hashes of a proof.
pub fn proof_hashes(items: &[String], what: &str) -> Result<Vec<[u8; 32]>> {
    use base64::Engine;
    items
        .iter()
        .map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    RoadsideError::network(
                        "SERVER_ANSWER_INVALID",
                        format!("服务器给出的{what}中有无效的哈希"),
                    )
                })
        })
        .collect()
}
