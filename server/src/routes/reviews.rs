//! 法制审核 over the API: a legal reviewer's opinion on a case (`POST /api/v1/cases/{id}/review`),
//! and the opinions a device fetches for its cases (`GET /api/v1/reviews?case=`). See
//! `crate::review`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use roadside_core::steps::ReviewVerdict;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::doc::ErrorResponse;
use super::{ApiJson, ApiPath, ApiQuery};
use crate::auth::{AccountCaller, DeviceCaller};
use crate::error::{ApiError, Result};
use crate::review::{self, OpinionRecorded};
use crate::state::AppState;

/// A legal reviewer's opinion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOpinion {
    /// 审核意见：agree（同意）、investigate（补充调查）、disagree（不同意）
    #[schema(pattern = "^(agree|investigate|disagree)$")]
    pub verdict: String,
    /// 理由（必填，至多 2000 字）
    #[schema(min_length = 1, max_length = 2000)]
    pub reasons: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpinionAnswer {
    /// 审核意见记录的哈希（小写十六进制 SHA-256）
    pub entry_hash: String,
    /// 在透明日志中的位置
    #[schema(minimum = 0)]
    pub leaf_index: Option<u64>,
}

impl From<OpinionRecorded> for OpinionAnswer {
    fn from(r: OpinionRecorded) -> Self {
        OpinionAnswer {
            entry_hash: r.entry_hash,
            leaf_index: r.leaf_index,
        }
    }
}

/// Parse a verdict as the API and the office send it.
pub(crate) fn verdict(s: &str) -> Result<ReviewVerdict> {
    ReviewVerdict::parse(s).ok_or_else(|| {
        ApiError::bad_request(
            "REVIEW_VERDICT_INVALID",
            format!("审核意见 verdict 应为 agree（同意）、investigate（补充调查）或 disagree（不同意），收到 “{s}”"),
        )
    })
}

#[utoipa::path(
    post,
    path = "/cases/{id}/review",
    tag = "review",
    summary = "Legal reviewer's opinion on the case's latest review request, signed with the agency key and logged",
    description = "法制审核（处罚法第五十八条）：法制审核人员对案件最新的法制审核请求发表意见（同意、补充调查、不同意，并写明理由）。意见由服务器以本机构的签名密钥签署为 review.opinion 记录并写入透明日志；设备同步后核验签名，才可作出须经法制审核的决定。",
    security(("account" = [])),
    params(("id" = String, Path, description = "The case id")),
    request_body = NewOpinion,
    responses(
        (status = 201, description = "Recorded", body = OpinionAnswer),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/cases/{id}/review`: a legal reviewer's opinion.
pub async fn give_opinion(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NewOpinion>,
) -> Result<(StatusCode, Json<OpinionAnswer>)> {
    let v = verdict(&req.verdict)?;
    let done = review::record_opinion(&state, &caller, &id, v, &req.reasons).await?;
    Ok((StatusCode::CREATED, Json(done.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewsParams {
    /// 案件编号（本设备所属机构的案件）
    pub case: String,
}

/// One opinion as the device verifies it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpinionEntry {
    /// The entry's exact bytes, base64.
    pub bytes: String,
    /// The agency key's Ed25519 signature over them, base64.
    pub sig: String,
    #[schema(minimum = 0)]
    pub leaf_index: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewsAnswer {
    pub case: String,
    pub opinions: Vec<OpinionEntry>,
}

#[utoipa::path(
    get,
    path = "/reviews",
    tag = "review",
    summary = "Legal-review opinions of one case of the device's agency, as signed entries",
    security(("device" = [])),
    params(ReviewsParams),
    responses(
        (status = 200, description = "OK", body = ReviewsAnswer),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/reviews?case=…`: the opinions on a case of the device's agency (none when the
/// case is unknown or another agency's: the answer says nothing about other agencies).
pub async fn opinions(
    State(state): State<AppState>,
    DeviceCaller(device): DeviceCaller,
    ApiQuery(p): ApiQuery<ReviewsParams>,
) -> Result<Json<ReviewsAnswer>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let entries = state.storage.case_review_entries(&p.case).await?;
    let opinions = entries
        .into_iter()
        .filter(|e| e.agency == device.agency && e.kind == "review.opinion")
        .map(|e| OpinionEntry {
            bytes: b64.encode(&e.bytes),
            sig: b64.encode(&e.sig),
            leaf_index: e.leaf_index,
        })
        .collect();
    Ok(Json(ReviewsAnswer {
        case: p.case,
        opinions,
    }))
}
