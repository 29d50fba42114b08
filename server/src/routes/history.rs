//! `GET /api/v1/history`: prior accepted cases of a vehicle (or party), for the exemption list's
//! "first offence" (初次违法) condition.
//!
//! Neither the exemption list (交法发〔2021〕115号) nor the reference data fixes a lookback for
//! "first offence", so the default is one year ([`DEFAULT_LOOKBACK_DAYS`], the period the
//! discretion rows use for repeated violations, e.g. 一年内违法超限运输); `since` overrides it.
//!
//! Limits: the plate and party are read from each case's opening entry (`case.open`); a plate
//! corrected later by `record.amend` is not seen. Only cases of the caller's scope (its agency and
//! the agencies below it) that the server accepted (materialised, not refused) count.
//!
//! While the last self-audit (`crate::audit`) has findings about one of those agencies, or about the
//! log as a whole, the query is refused (409 `HISTORY_UNDER_AUDIT`) rather than answered from rows
//! that may be wrong.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::auth::{self, AccountCaller, DeviceCaller};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::storage::{HistoryQuery, PriorCase};
use utoipa::{IntoParams, ToSchema};

use super::doc::{ErrorBody, ErrorResponse, PriorCaseDoc};

/// Default lookback when `since` is absent: one year.
pub const DEFAULT_LOOKBACK_DAYS: i64 = 365;

/// A device token or an account token; either way the agencies it may read.
pub struct HistoryCaller {
    pub scope: Vec<String>,
}

impl FromRequestParts<AppState> for HistoryCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        match DeviceCaller::from_request_parts(parts, state).await {
            Ok(DeviceCaller(device)) => Ok(HistoryCaller {
                scope: auth::scope(&state.storage.agencies().await?, &device.agency),
            }),
            Err(e) if e.code == "DEVICE_TOKEN_INVALID" => {
                let account = AccountCaller::from_request_parts(parts, state).await?;
                Ok(HistoryCaller {
                    scope: account.scope(state).await?,
                })
            }
            Err(e) => Err(e),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// 号牌号码，如 青E12345；按核心 codes 模块校验并规范化。plate 与 party_id 至少给出一个。
    #[serde(default)]
    pub plate: Option<String>,
    /// 当事人统一社会信用代码或居民身份证号码
    #[serde(default)]
    pub party_id: Option<String>,
    /// YYYY-MM-DD；缺省为一年前
    #[serde(default)]
    #[param(format = Date)]
    pub since: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = History)]
pub struct HistoryAnswer {
    /// 规范化后的号牌号码
    pub plate: Option<String>,
    pub party_id: Option<String>,
    #[schema(format = Date)]
    pub since: String,
    #[schema(value_type = Vec<PriorCaseDoc>)]
    pub prior_cases: Vec<PriorCase>,
    #[schema(minimum = 0)]
    pub count: usize,
    /// 服务器核查时间
    #[schema(format = DateTime)]
    pub checked_at: String,
}

fn party_key(raw: &str) -> Result<String> {
    let today = Utc::now().date_naive();
    if let Ok(u) = roadside_core::codes::check_uscc(raw) {
        return Ok(u.code);
    }
    match roadside_core::codes::check_id_number(raw, today) {
        Ok(id) => Ok(id.number),
        Err(e) => Err(ApiError::bad_request(
            "PARTY_ID_INVALID",
            format!(
                "当事人证件号码（party_id）“{raw}”既不是有效的统一社会信用代码，也不是有效的居民身份证号码：{}",
                e.message
            ),
        )),
    }
}

#[utoipa::path(
    get,
    path = "/history",
    tag = "sync",
    summary = "Prior accepted cases of a vehicle or party (first-offence check)",
    description = "初次违法核查：调用方（设备令牌或账号令牌）所属机构及下级机构中，自 since 起已被接受（已物化、未被拒收）的案件，其立案记录（case.open）的号牌号码等于 plate，或当事人证件号码等于 party_id。since 缺省为服务器日期前一年（免罚清单未规定回溯期，取一年）。号牌以立案记录为准，之后以 record.amend 更正的号牌不计入。",
    security(("device" = []), ("account" = [])),
    params(HistoryParams),
    responses(
        (status = 200, description = "OK", body = HistoryAnswer),
        (status = 400, description = "PLATE_*（号牌无效）、PARTY_ID_INVALID、SINCE_INVALID、HISTORY_QUERY_EMPTY、QUERY_INVALID", body = ErrorBody),
        (status = 409, description = "HISTORY_UNDER_AUDIT：服务器自检（roadside-server audit 或后台自检）发现调用方机构（或整个日志）的数据与已签名记录不符，修复并重新自检通过前不回答", body = ErrorBody),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/history?plate=…[&party_id=…][&since=YYYY-MM-DD]`.
pub async fn history(
    State(state): State<AppState>,
    caller: HistoryCaller,
    query: std::result::Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<HistoryAnswer>> {
    let Query(p) = query.map_err(|e| {
        ApiError::bad_request(
            "QUERY_INVALID",
            format!(
                "查询参数无效（可用 plate、party_id、since）：{}",
                e.body_text()
            ),
        )
    })?;
    let plate = match p.plate.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            roadside_core::codes::check_plate(raw)
                .map_err(|e| {
                    ApiError::bad_request(
                        e.code,
                        format!("号牌号码（plate）“{raw}”无效：{}", e.message),
                    )
                })?
                .plate,
        ),
        None => None,
    };
    let party_id = match p
        .party_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(raw) => Some(party_key(raw)?),
        None => None,
    };
    if plate.is_none() && party_id.is_none() {
        return Err(ApiError::bad_request(
            "HISTORY_QUERY_EMPTY",
            "请至少给出号牌号码（plate）或当事人证件号码（party_id）",
        ));
    }
    let now = Utc::now();
    let since = match p.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => roadside_core::day::parse_day(s).ok_or_else(|| {
            ApiError::bad_request(
                "SINCE_INVALID",
                format!("起始日期（since）“{s}”无效，应为 YYYY-MM-DD 格式的日期"),
            )
        })?,
        None => {
            roadside_core::day::agency_day(&now) - chrono::Duration::days(DEFAULT_LOOKBACK_DAYS)
        }
    };
    let q = HistoryQuery {
        plate: plate.clone(),
        party_id: party_id.clone(),
        since: roadside_core::day::format_day(since),
    };
    // Never an answer from rows the self-audit found wrong: refuse while it has findings about
    // these agencies (or the whole log).
    let holds = state.storage.audit_holds(&caller.scope).await?;
    if let Some(first) = holds.first() {
        return Err(ApiError::conflict(
            "HISTORY_UNDER_AUDIT",
            format!(
                "服务器自检发现 {} 处数据与已签名的记录或日志不符（如 {}：{}），在管理员核查修复并重新自检通过之前，不能据此回答初次违法查询",
                holds.len(),
                first.code,
                first.detail
            ),
        ));
    }
    let prior_cases = state.storage.prior_cases(&caller.scope, &q).await?;
    Ok(Json(HistoryAnswer {
        plate,
        party_id,
        since: q.since,
        count: prior_cases.len(),
        prior_cases,
        checked_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }))
}
