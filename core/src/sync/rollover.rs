//! Following a log rollover (the protocol: `crate::rollover`): the statements at
//! `GET /api/v1/log/rollovers`, each verified with the pinned log key and against the checkpoints
//! this device has verified, then followed in the store (`store/rollover.rs`).

use serde::Deserialize;

use super::{http, verify, Session, SyncReport};
use crate::error::{Result, RoadsideError};
use crate::rollover::{rename_verifier_key, RolloverStatement};
use crate::store::sync::SeenCheckpoint;

#[derive(Deserialize)]
struct Answer {
    statements: Vec<String>,
}

/// Follow every rollover the server declared from the origin this device follows, in order.
/// `true` when at least one was followed.
pub(super) async fn follow(s: &mut Session<'_>, report: &mut SyncReport) -> Result<bool> {
    let url = s.url("/api/v1/log/rollovers");
    let (answer, _) = http::exchange(
        &s.retry,
        "读取日志切换声明",
        || s.client.get(&url),
        |a| a.json::<Answer>("读取日志切换声明"),
    )
    .await?;
    let mut followed = false;
    // Each statement is signed under the origin it ends: try the current one's key on each.
    while let Some((statement, note)) = answer
        .statements
        .iter()
        .find_map(|note| statement_for(s, note).transpose())
        .transpose()?
    {
        check_size_and_root(s, &statement, &note).await?;
        let new_key = rename_verifier_key(&s.config.log_verifier_key, &statement.new_origin)?;
        let put_back =
            s.store
                .accept_rollover(&statement, &note, &s.config.log_verifier_key, &new_key)?;
        report.warnings.push(format!(
            "服务器已于 {} 切换透明日志（{} → {}，保留前 {} 个叶子，原因：{}）；\
             本机 {put_back} 条服务器已丢失的记录将带着原回执重新上传",
            statement.at,
            statement.old_origin,
            statement.new_origin,
            statement.size,
            statement.reason
        ));
        s.config = s.store.sync_config()?.ok_or_else(|| {
            RoadsideError::conflict("NOT_ENROLLED", "本设备尚未登记到服务器，请先用登记码登记")
        })?;
        s.retired = s.store.retired_origins()?;
        s.verified.clear();
        s.state.records_total = s.store.outbox_len()?;
        followed = true;
    }
    Ok(followed)
}

/// The statement of `note` if it ends the origin this device follows (signed with its key).
fn statement_for(s: &Session<'_>, note: &str) -> Result<Option<(RolloverStatement, String)>> {
    let signer_line = note
        .rsplit("\n\n")
        .next()
        .and_then(|sigs| sigs.strip_prefix("— "))
        .and_then(|line| line.split(' ').next());
    if signer_line != Some(s.config.log_origin.as_str()) {
        return Ok(None);
    }
    let text = verify::note_text(note, &s.config.log_verifier_key, "日志切换声明")?;
    let text = String::from_utf8(text)
        .map_err(|_| RoadsideError::network("ROLLOVER_MALFORMED", "日志切换声明不是 UTF-8 文本"))?;
    let statement = RolloverStatement::parse(&text)?;
    if statement.old_origin != s.config.log_origin {
        return Err(RoadsideError::ledger(
            "ROLLOVER_MALFORMED",
            format!(
                "以 {} 的密钥签署的日志切换声明却写着结束 {}",
                s.config.log_origin, statement.old_origin
            ),
        ));
    }
    Ok(Some((statement, note.to_string())))
}

/// The statement's size and root must agree with what this device verified: a checkpoint of that
/// size has that root, and the newest one below it is consistent with it (a consistency proof
/// from the server). A disagreement is `LOG_INCONSISTENT`, recorded: the server's claim about the
/// part of the log it kept is false, and no rollover answers that.
async fn check_size_and_root(
    s: &mut Session<'_>,
    statement: &RolloverStatement,
    note: &str,
) -> Result<()> {
    let base = SeenCheckpoint {
        size: statement.size,
        root: statement.root,
        note: note.to_string(),
    };
    if let Some(same) = s.store.checkpoint_seen(base.size)? {
        if same.root != base.root {
            return Err(s.alarm(&same, &base));
        }
        return Ok(());
    }
    let Some(below) = s.store.checkpoint_below(base.size)? else {
        return Ok(());
    };
    if below.size == 0 {
        return Ok(());
    }
    let proof = s.consistency_proof(&below, &base).await?;
    if verify::consistency(&proof, &below, &base).is_err() {
        return Err(s.alarm(&below, &base));
    }
    Ok(())
}
