//! Push (devices send their ledger entries) and the cases materialised from them.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::auth::{AccountCaller, DeviceCaller};
use crate::error::{ApiError, Result};
use crate::ingest::{self, Outcome, Status, MAX_BATCH};
use crate::rollover::{check_old_receipt, OldReceipt};
use crate::state::AppState;
use crate::storage::CaseRow;
use utoipa::ToSchema;

use super::doc::{CaseDoc, ErrorResponse, OldReceiptDoc, OutcomeDoc};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushEntry {
    /// The entry's exact canonical bytes, base64 (standard alphabet, padded).
    pub bytes: String,
    /// The Ed25519 signature over the bytes, base64 (64 bytes).
    pub sig: String,
    // Checked and recorded by `crate::rollover`.
    /// After a log rollover: the receipt a retired origin of the log gave this entry, sent with an
    /// entry the server lost. Checked, and recorded with the entry when it is logged again; an old
    /// receipt that does not verify rejects the entry (`OLD_RECEIPT_INVALID`).
    #[serde(default)]
    #[schema(value_type = Option<OldReceiptDoc>)]
    pub old_receipt: Option<OldReceipt>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Push {
    /// At most 1000 (`BATCH_TOO_LARGE` otherwise), at least one (`BATCH_EMPTY`).
    #[schema(min_items = 1, max_items = 1000)]
    pub entries: Vec<PushEntry>,
}

/// The answer to a push. `status` of each result, and what each count counts, are described in
/// `crate::ingest`: `accepted` (logged and materialised), `duplicate` (accepted before; same
/// receipt), `refused` (logged with a receipt but failing a business check; a repeat is counted
/// here again), `rejected` (not stored). The four counts add up to the number of entries sent.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    description = "The answer to a push: one result per entry, in the order sent, and four counts that add up to the number of entries sent."
)]
pub struct PushAnswer {
    /// One answer per entry, in the order sent.
    #[schema(value_type = Vec<OutcomeDoc>)]
    pub results: Vec<Outcome>,
    pub accepted: usize,
    pub duplicates: usize,
    /// Logged but refused by a business check (a repeat of a refused entry counts here again).
    pub refused: usize,
    /// Not stored; accepted + duplicates + refused + rejected = entries sent.
    pub rejected: usize,
    /// The log's size and signed checkpoint after this push.
    pub tree_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub checkpoint: Option<String>,
}

#[utoipa::path(
    post,
    path = "/sync/push",
    tag = "sync",
    summary = "Push signed ledger entries; per-entry answers (accepted, duplicate, refused, rejected) with receipts for every logged entry",
    security(("device" = [])),
    request_body = Push,
    responses(
        (status = 200, description = "OK", body = PushAnswer),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/sync/push`: a batch of signed ledger entries from an enrolled device.
pub async fn push(
    State(state): State<AppState>,
    DeviceCaller(device): DeviceCaller,
    ApiJson(req): ApiJson<Push>,
) -> Result<Json<PushAnswer>> {
    if req.entries.is_empty() {
        return Err(ApiError::bad_request("BATCH_EMPTY", "没有要上传的记录"));
    }
    if req.entries.len() > MAX_BATCH {
        return Err(ApiError::payload_too_large(
            "BATCH_TOO_LARGE",
            format!(
                "一次最多上传 {MAX_BATCH} 条记录，本次 {} 条",
                req.entries.len()
            ),
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = Vec::with_capacity(req.entries.len());
    let old_receipts: Vec<Option<OldReceipt>> =
        req.entries.iter().map(|e| e.old_receipt.clone()).collect();
    for (i, e) in req.entries.iter().enumerate() {
        let bytes = b64.decode(&e.bytes).map_err(|_| {
            ApiError::bad_request(
                "ENTRY_ENCODING",
                format!("第 {} 条记录的 bytes 不是有效的 base64", i + 1),
            )
        })?;
        let sig = b64.decode(&e.sig).map_err(|_| {
            ApiError::bad_request(
                "ENTRY_ENCODING",
                format!("第 {} 条记录的 sig 不是有效的 base64", i + 1),
            )
        })?;
        raw.push((bytes, sig));
    }
    let roster: HashMap<_, _> = state
        .storage
        .officers(std::slice::from_ref(&device.agency))
        .await?
        .into_iter()
        .map(|o| (o.certificate_no.clone(), o))
        .collect();
    let pre_device = device.clone();
    let mut checked =
        tokio::task::spawn_blocking(move || ingest::pre_check(&pre_device, raw, &roster))
            .await
            .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?;
    // Old receipts of re-submitted entries (after a log rollover): checked before the batch is
    // planned; one that does not verify rejects its entry.
    let mut old_positions = HashMap::new();
    for (c, old) in checked.iter_mut().zip(&old_receipts) {
        let (Ok(entry), Some(old)) = (&*c, old) else {
            continue;
        };
        let (hash, seq) = (entry.hash, entry.entry.seq);
        match check_old_receipt(&state.signer, &hash, old) {
            Ok(position) => {
                old_positions.insert(hash, position);
            }
            Err(why) => {
                *c = Err(Box::new(Outcome {
                    hash: hex::encode(hash),
                    seq: Some(seq),
                    status: Status::Rejected,
                    code: Some("OLD_RECEIPT_INVALID".to_string()),
                    message: Some(format!("第 {seq} 条记录：{why}")),
                    receipt: None,
                    position: None,
                }));
            }
        }
    }
    let seqs: Vec<u64> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|c| c.entry.seq))
        .collect();
    let signer = state.signer.clone();
    let plan = state
        .storage
        .commit_batch(
            &device.id,
            seqs,
            Box::new(move |snapshot| ingest::plan(snapshot, checked, &signer, &old_positions)),
        )
        .await?;
    crate::crash::point("push.answer");
    // The tiles and checkpoint this push wrote are the next proofs' (write-through).
    state.tile_cache.absorb_commit(
        plan.tiles.iter().map(|(k, d)| (*k, &d[..])),
        plan.checkpoint.as_deref().map(|n| (plan.new_size, n)),
    );
    let fresh = plan.checkpoint.clone().map(|note| (plan.new_size, note));
    let mut results = plan.outcomes;
    ingest::attach_receipts(&state.storage, &mut results, plan.working, fresh.clone()).await?;
    let count = |s: Status| results.iter().filter(|o| o.status == s).count();
    let (accepted, duplicates, refused, rejected) = (
        count(Status::Accepted),
        count(Status::Duplicate),
        count(Status::Refused),
        count(Status::Rejected),
    );
    for (n, status) in [
        (accepted, Status::Accepted),
        (duplicates, Status::Duplicate),
        (refused, Status::Refused),
        (rejected, Status::Rejected),
    ] {
        for _ in 0..n {
            state.metrics.count_entry(status.as_str());
        }
    }
    tracing::info!(device = %device.id, accepted, duplicates, refused, rejected, "push");
    // The log right after this push: the batch's own checkpoint when it grew the log.
    let latest = match fresh {
        Some(f) => Some(f),
        None => state.storage.checkpoint(None).await?,
    };
    Ok(Json(PushAnswer {
        results,
        accepted,
        duplicates,
        refused,
        rejected,
        tree_size: latest.as_ref().map_or(0, |(s, _)| *s),
        checkpoint: latest.map(|(_, n)| n),
    }))
}

#[utoipa::path(
    get,
    path = "/cases",
    tag = "sync",
    summary = "Cases materialised from accepted entries, in scope",
    security(("account" = [])),
    responses(
        (status = 200, description = "OK", body = [CaseDoc]),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/cases`: the cases of the caller's scope.
pub async fn cases(
    State(state): State<AppState>,
    caller: AccountCaller,
) -> Result<Json<Vec<CaseRow>>> {
    let scope = caller.scope(&state).await?;
    Ok(Json(state.storage.cases(&scope).await?))
}
