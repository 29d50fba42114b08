//! Push (devices send their ledger entries) and the cases materialised from them.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiPath};
use crate::auth::{AccountCaller, DeviceCaller};
use crate::error::{ApiError, Result};
use crate::ingest::{self, Outcome, Submitted};
use crate::rollover::OldReceipt;
use crate::state::AppState;
use crate::storage::{CaseDetail, CaseRow};
use utoipa::ToSchema;

use super::doc::{CaseDetailDoc, CaseDoc, ErrorResponse, OldReceiptDoc, OutcomeDoc};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushEntry {
    /// The entry's exact canonical bytes, base64 (standard alphabet, padded, canonical).
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$"
    )]
    pub bytes: String,
    /// The Ed25519 signature over the bytes, base64 (64 bytes).
    #[schema(
        pattern = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$"
    )]
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
    let entries = req
        .entries
        .into_iter()
        .map(|e| Submitted {
            bytes: e.bytes,
            sig: e.sig,
            old_receipt: e.old_receipt,
        })
        .collect();
    let pushed = ingest::push(
        &state.storage,
        &state.signer,
        &state.metrics,
        state.bundles.reference_books(),
        &device,
        entries,
    )
    .await?;
    Ok(Json(PushAnswer {
        results: pushed.results,
        accepted: pushed.accepted,
        duplicates: pushed.duplicates,
        refused: pushed.refused,
        rejected: pushed.rejected,
        tree_size: pushed.tree_size,
        checkpoint: pushed.checkpoint,
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

#[utoipa::path(
    get,
    path = "/cases/{id}",
    tag = "sync",
    summary = "One case in scope with every entry logged for it (decisions, documents, delivery, payment, closing), refusals included",
    security(("account" = [])),
    params(("id" = String, Path, description = "The case id (lowercase hyphenated UUID)")),
    responses(
        (status = 200, description = "OK", body = CaseDetailDoc),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/cases/{id}`: one case of the caller's scope with its entries in log order. A
/// case outside the scope is answered as one that does not exist.
pub async fn case(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CaseDetail>> {
    let scope = caller.scope(&state).await?;
    state
        .storage
        .case_detail(&scope, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("CASE_NOT_FOUND", format!("没有编号为 {id} 的案件")))
}

#[utoipa::path(
    get,
    path = "/cases/{id}/package",
    tag = "sync",
    summary = "The evidence package of a case in scope: a zip anyone can verify offline (`roadside verify`)",
    description = "Format roadside-evidence-package/1: the case's entries as signed, their receipts and checkpoints, the media files the server holds, the key history of the devices that signed, the log's and the agency's public keys, index.html and manifest.json.",
    security(("account" = [])),
    params(("id" = String, Path, description = "The case id (lowercase hyphenated UUID)")),
    responses(
        (status = 200, description = "The package", body = Vec<u8>, content_type = "application/zip"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/cases/{id}/package`: the case's evidence package, streamed. Authorised like
/// [`case`]: a case outside the caller's scope is answered as one that does not exist.
pub async fn package(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let scope = caller.scope(&state).await?;
    let detail = state
        .storage
        .case_detail(&scope, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("CASE_NOT_FOUND", format!("没有编号为 {id} 的案件")))?;
    let prepared = crate::package::prepare(&state, &detail.case.agency, &detail.case.id).await?;
    let rx = crate::package::stream(&state, prepared);
    let body = axum::body::Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|piece| (piece, rx))
    }));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"case-{}.zip\"", detail.case.id),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}
