//! Pushing the outbox: batches of signed entries to `POST /api/v1/sync/push`, each answer checked
//! and its receipt verified before the entry leaves the outbox.

use std::collections::HashMap;

use base64::Engine;
use serde::Deserialize;

use super::{http, verify, Session, SyncReport};
use crate::error::{Result, RoadsideError};
use crate::store::sync::{EntryProblem, EntryResult, ReceiptStatus, StoredReceipt};

/// Entry bytes per push, about (the server's body limit is 8 MiB; base64 adds a third).
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
struct Receipt {
    leaf_index: u64,
    tree_size: u64,
    inclusion_proof: Vec<String>,
    checkpoint: String,
}

#[derive(Deserialize)]
struct Outcome {
    hash: String,
    status: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    receipt: Option<Receipt>,
}

#[derive(Deserialize)]
struct PushAnswer {
    results: Vec<Outcome>,
}

fn invalid(why: impl Into<String>) -> RoadsideError {
    RoadsideError::network(
        "SERVER_ANSWER_INVALID",
        format!(
            "服务器的上传应答不可用：{}。记录仍在待上传队列中",
            why.into()
        ),
    )
}

/// A stored receipt as the push API takes it back (`old_receipt`): base64 proof hashes.
fn old_receipt_json(r: &StoredReceipt) -> Result<serde_json::Value> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let proof = r
        .inclusion_proof
        .iter()
        .map(|h| {
            hex::decode(h).map(|b| b64.encode(b)).map_err(|_| {
                RoadsideError::store(
                    "STORE_SYNC_CORRUPT",
                    format!(
                        "同步数据损坏：第 {} 条记录的回执证明不是十六进制",
                        r.entry_seq
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(serde_json::json!({
        "leaf_index": r.leaf_index,
        "tree_size": r.tree_size,
        "inclusion_proof": proof,
        "checkpoint": r.checkpoint,
    }))
}

/// `bytes` gzip-compressed, or `None` if compressing failed (then they go plain).
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2),
        flate2::Compression::default(),
    );
    e.write_all(bytes).ok()?;
    e.finish().ok()
}

pub(super) async fn push_outbox(s: &mut Session<'_>, report: &mut SyncReport) -> Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let limit = s.options.batch_size as usize;
    let mut after = 0u64;
    loop {
        let batch = s.store.outbox_batch(after, limit, MAX_BATCH_BYTES)?;
        let Some(last) = batch.last() else {
            return Ok(());
        };
        after = last.seq;
        let mut entries = Vec::with_capacity(batch.len());
        for e in &batch {
            let mut entry = serde_json::json!({
                "bytes": b64.encode(&e.bytes),
                "sig": b64.encode(&e.sig),
            });
            // After a log rollover, an entry in the outbox with a receipt is one the server lost:
            // it goes back with that receipt as proof.
            if !s.retired.is_empty() {
                if let Some(old) = s.store.receipt(e.seq)? {
                    entry["old_receipt"] = old_receipt_json(&old)?;
                }
            }
            entries.push(entry);
        }
        let body = serde_json::json!({ "entries": entries });
        let body = serde_json::to_vec(&body)
            .map_err(|e| RoadsideError::internal("PUSH_ENCODE", e.to_string()))?;
        let url = s.url("/api/v1/sync/push");
        let token = s.config.token.clone();
        // Sent gzip-compressed (the entries' base64 and JSON shrink to about half); a server
        // that refuses the coding gets the same body plain.
        let packed = if s.gzip_requests { gzip(&body) } else { None };
        let send = |packed: Option<Vec<u8>>| {
            let (s, url, token, body) = (&*s, &url, &token, &body);
            async move {
                http::exchange(
                    &s.retry,
                    "上传记录",
                    || {
                        let r = s
                            .client
                            .post(url)
                            .bearer_auth(token)
                            .header("content-type", "application/json");
                        match &packed {
                            Some(p) => r.header("content-encoding", "gzip").body(p.clone()),
                            None => r.body(body.clone()),
                        }
                    },
                    |a| a.json::<PushAnswer>("上传记录"),
                )
                .await
            }
        };
        let (answer, plain_only) = match send(packed.clone()).await {
            Err(e) if packed.is_some() && e.code() == "CONTENT_ENCODING_UNSUPPORTED" => {
                (send(None).await?, true)
            }
            other => (other?, false),
        };
        if plain_only {
            s.gzip_requests = false;
        }
        let (answer, _) = answer;
        if answer.results.len() != batch.len() {
            return Err(invalid(format!(
                "发送 {} 条，应答 {} 条",
                batch.len(),
                answer.results.len()
            )));
        }
        let by_hash: HashMap<String, Outcome> = answer
            .results
            .into_iter()
            .map(|o| (o.hash.clone(), o))
            .collect();
        let mut results = Vec::with_capacity(batch.len());
        let mut blocked: Option<EntryProblem> = None;
        // An entry the server denies as a gap although it gave the entry before it a receipt.
        let mut lost: Option<(u64, u64)> = None;
        for e in &batch {
            // The hash of the bytes actually sent (a damaged store row may no longer match its
            // stored hash; the server answers for what it received).
            let sent_hash = crate::ledger::sha256(&e.bytes);
            let hash_hex = hex::encode(sent_hash);
            let o = by_hash
                .get(&hash_hex)
                .ok_or_else(|| invalid(format!("缺少第 {} 条记录的应答", e.seq)))?;
            match &o.receipt {
                Some(r) => {
                    let cp = s.observe(&r.checkpoint).await?;
                    if cp.size != r.tree_size {
                        return Err(invalid("回执的树大小与其检查点不符"));
                    }
                    let proof = verify::proof_hashes(&r.inclusion_proof, "包含证明")?;
                    verify::inclusion(&proof, &cp, r.leaf_index, &sent_hash)?;
                    let status = match o.status.as_str() {
                        "accepted" => ReceiptStatus::Accepted,
                        "duplicate" => ReceiptStatus::Duplicate,
                        _ => ReceiptStatus::Refused,
                    };
                    match status {
                        ReceiptStatus::Accepted => report.accepted += 1,
                        ReceiptStatus::Duplicate => report.duplicates += 1,
                        ReceiptStatus::Refused => report.refused += 1,
                    }
                    report.receipts += 1;
                    results.push(EntryResult::Receipt {
                        seq: e.seq,
                        status,
                        leaf_index: r.leaf_index,
                        tree_size: r.tree_size,
                        proof,
                        checkpoint: r.checkpoint.clone(),
                        code: o.code.clone(),
                        message: o.message.clone(),
                    });
                }
                None if o.status == "accepted" || o.status == "duplicate" => {
                    // Nothing leaves the outbox without a receipt.
                    return Err(invalid(format!("第 {} 条记录被接收却没有回执", e.seq)));
                }
                None => {
                    // Refused without a receipt: the first such entry keeps its reason and blocks
                    // the ones after it (the server refuses those as a gap).
                    if lost.is_none()
                        && o.code.as_deref() == Some("CHAIN_GAP")
                        && e.seq > 1
                        && s.store.holds_receipt_of(e.seq - 1)?
                    {
                        let leaf = s.store.receipt(e.seq - 1)?.map_or(0, |r| r.leaf_index);
                        lost = Some((e.seq - 1, leaf));
                    }
                    if blocked.is_none() {
                        let code = o.code.clone().unwrap_or_else(|| "REJECTED".to_string());
                        let message = o
                            .message
                            .clone()
                            .unwrap_or_else(|| "服务器拒绝".to_string());
                        results.push(EntryResult::Blocked {
                            seq: e.seq,
                            code: code.clone(),
                            message: message.clone(),
                        });
                        blocked = Some(EntryProblem {
                            entry_seq: e.seq,
                            kind: String::new(),
                            case_id: None,
                            code,
                            message,
                            has_receipt: false,
                        });
                    }
                }
            }
        }
        s.store.apply_push_results(&results)?;
        s.state.records_done += batch.len() as u64;
        s.emit();
        if let Some((seq, leaf)) = lost {
            let note = s.store.receipt(seq)?.map(|r| r.checkpoint);
            return Err(s.raise(verify::entry_lost(seq, leaf), note.as_deref(), None));
        }
        if let Some(b) = blocked {
            report.blocked = s
                .store
                .entry_problems()?
                .into_iter()
                .find(|p| p.entry_seq == b.entry_seq && !p.has_receipt)
                .or(Some(b));
            return Ok(());
        }
    }
}
