//! Log rollover on the server: the operator's declaration after a database was restored from an
//! older backup, the chain of origins the log has had, and the check of the old receipts that
//! re-submitted entries carry. The protocol and the statement's format are written down once, in
//! `roadside_core::rollover`.
//!
//! - Declared statements are kept as settings `log_rollover:<old origin>` (one per origin; the
//!   first declaration wins, so two operators cannot fork the chain). At start the server follows
//!   the chain from the configured origin to the current one ([`follow`]).
//! - [`declare`] is `roadside-server log rollover --reason …`: it runs on the database without
//!   serving, before the server (every replica) is started again.
//! - [`check_old_receipt`] verifies a receipt of a retired origin: its checkpoint signed by the
//!   log's key under that origin's name, and the entry's inclusion proof against it.

use base64::Engine;
use roadside_core::rollover::{next_origin, RolloverStatement};

use crate::error::{ApiError, Result};
use crate::storage::DynStorage;
use crate::tlog::{self, LogSigner, TileSet};

/// Most rollovers followed at start (a guard against a cycle in a damaged database).
const MAX_CHAIN: usize = 1000;

pub use crate::tlog::Retired;

fn setting_name(origin: &str) -> String {
    format!("log_rollover:{origin}")
}

fn broken(why: impl Into<String>) -> ApiError {
    ApiError::internal(
        "ROLLOVER_INVALID",
        format!("数据库中的日志切换声明无效：{}", why.into()),
    )
}

/// The signer of the current origin: from the configured origin's signer, along every declared
/// rollover. The returned signer knows the retired origins ([`LogSigner::retired`]).
pub async fn follow(storage: &DynStorage, configured: LogSigner) -> Result<LogSigner> {
    let mut signer = configured;
    let mut retired = Vec::new();
    for _ in 0..MAX_CHAIN {
        let Some(note) = storage.setting(&setting_name(signer.origin())).await? else {
            return Ok(signer);
        };
        let text = tlog::verify_note(&note, signer.verifier_key())
            .ok_or_else(|| broken(format!("{} 的声明不是本日志密钥签署的", signer.origin())))?;
        let statement =
            RolloverStatement::parse(&text).map_err(|e| broken(e.message().to_string()))?;
        if statement.old_origin != signer.origin() {
            return Err(broken(format!(
                "{} 的声明写的是 {}",
                signer.origin(),
                statement.old_origin
            )));
        }
        retired.push(Retired {
            note,
            verifier_key: signer.verifier_key().to_string(),
            statement: statement.clone(),
        });
        signer = signer.renamed(&statement.new_origin, retired.clone())?;
    }
    Err(broken("切换次数超过上限"))
}

/// Root hash of the log as stored at `size`, checked against its newest signed checkpoint.
async fn stored_root(storage: &DynStorage, signer: &LogSigner, size: u64) -> Result<[u8; 32]> {
    if size == 0 {
        return Ok(tlog_tiles::EMPTY_HASH.0);
    }
    let tiles: TileSet = storage.read_tiles(&tlog::tiles_for_root(size)).await?;
    let root = tlog::root(&tiles, size)?.0;
    let (cp_size, note) = storage.checkpoint(None).await?.ok_or_else(|| {
        ApiError::internal(
            "CHECKPOINT_MISSING",
            format!("日志有 {size} 个叶子却没有签名检查点"),
        )
    })?;
    let keys = std::iter::once(signer.verifier_key())
        .chain(signer.retired().iter().map(|r| r.verifier_key.as_str()));
    let signed = keys
        .filter_map(|k| tlog::verify_checkpoint(&note, k))
        .next()
        .ok_or_else(|| {
            ApiError::internal(
                "CHECKPOINT_SIGNATURE",
                "数据库中最新的检查点不是本日志密钥签署的",
            )
        })?;
    if cp_size != size || signed.size() != size || signed.hash().0 != root {
        return Err(ApiError::internal(
            "LOG_STATE_INCONSISTENT",
            format!(
                "数据库中的日志（{size} 个叶子）与最新检查点（大小 {cp_size}）不一致，不能切换日志"
            ),
        ));
    }
    Ok(root)
}

/// Declare a rollover of the current origin at the size the database holds (`roadside-server log
/// rollover`). Returns the statement and its signed note. Refused when the reason is empty or a
/// rollover of this origin is already declared.
pub async fn declare(
    storage: &DynStorage,
    signer: &LogSigner,
    reason: &str,
) -> Result<(RolloverStatement, String)> {
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "ROLLOVER_REASON_REQUIRED",
            "请用 --reason 写明切换日志的原因（例如从哪一天的备份恢复）",
        ));
    }
    let name = setting_name(signer.origin());
    let exists = || {
        ApiError::conflict(
            "ROLLOVER_EXISTS",
            format!(
                "日志 {} 已经切换过，不能再次切换；请重新启动服务器以使用新的日志名",
                signer.origin()
            ),
        )
    };
    if storage.setting(&name).await?.is_some() {
        return Err(exists());
    }
    let size = storage.tree_size().await?;
    let root = stored_root(storage, signer, size).await?;
    let statement = RolloverStatement {
        old_origin: signer.origin().to_string(),
        new_origin: next_origin(signer.origin()),
        size,
        root,
        at: crate::now(),
        reason,
    };
    let text = statement
        .to_text()
        .map_err(|e| ApiError::bad_request(e.code(), e.message()))?;
    let note = signer.sign_text(&text)?;
    // Whichever declaration is stored first ends the origin.
    if storage.setting_or_insert(&name, &note).await? != note {
        return Err(exists());
    }
    Ok((statement, note))
}

/// A device's receipt as sent back with a re-submitted entry.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OldReceipt {
    #[serde(with = "crate::routes::int64")]
    pub leaf_index: u64,
    #[serde(with = "crate::routes::int64")]
    pub tree_size: u64,
    /// RFC 6962 audit path, base64 hashes, leaf to root.
    pub inclusion_proof: Vec<String>,
    /// The C2SP signed checkpoint of a retired origin.
    pub checkpoint: String,
}

/// What a verified old receipt shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldPosition {
    pub origin: String,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub checkpoint: String,
}

/// Check an old receipt of the entry `entry_hash`: a checkpoint signed by the log's key under a
/// retired origin, of the receipt's size, and the inclusion proof against it. The `Err` is the
/// reason, in Chinese, for the entry's answer.
pub fn check_old_receipt(
    signer: &LogSigner,
    entry_hash: &[u8; 32],
    receipt: &OldReceipt,
) -> std::result::Result<OldPosition, String> {
    let (origin, cp) = signer
        .retired()
        .iter()
        .find_map(|r| {
            tlog::verify_checkpoint(&receipt.checkpoint, &r.verifier_key)
                .map(|cp| (r.statement.old_origin.clone(), cp))
        })
        .ok_or_else(|| "随附的旧回执的检查点不是本日志已结束的日志名下签署的".to_string())?;
    if cp.size() != receipt.tree_size || receipt.leaf_index >= cp.size() {
        return Err(format!(
            "随附的旧回执的位置（第 {} 号叶子，大小 {}）与其检查点（大小 {}）不符",
            receipt.leaf_index,
            receipt.tree_size,
            cp.size()
        ));
    }
    let proof = receipt
        .inclusion_proof
        .iter()
        .map(|h| {
            base64::engine::general_purpose::STANDARD
                .decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(tlog::TreeHash)
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| "随附的旧回执的包含证明中有无效的哈希".to_string())?;
    tlog::check_record(
        &proof,
        cp.size(),
        *cp.hash(),
        receipt.leaf_index,
        tlog::record_hash(entry_hash),
    )
    .map_err(|_| "随附的旧回执的包含证明与其检查点不符".to_string())?;
    Ok(OldPosition {
        origin,
        leaf_index: receipt.leaf_index,
        tree_size: cp.size(),
        checkpoint: receipt.checkpoint.clone(),
    })
}
