//! Document numbers (文书编号): blocks of serials leased to enrolled devices, so that devices
//! working offline number their documents without ever colliding (`crate::storage::NumberStore`).
//!
//! A device asks at enrolment and whenever it has fewer than `NUMBER_LOW_WATER` numbers left for
//! the agency's year; each answer is a new block, never one leased before. The block size is the
//! server's (`ROADSIDE_NUMBER_BLOCK_SIZE`, 100 by default); the last block of a year may be
//! shorter, and once serial 9999 is leased the year answers `NUMBERS_EXHAUSTED`.

use axum::extract::State;
use axum::Json;
use chrono::Datelike;
use roadside_core::steps::NumberBlock;
use serde::Deserialize;
use utoipa::ToSchema;

use super::doc::{ErrorResponse, NumberBlockDoc};
use super::ApiJson;
use crate::auth::DeviceCaller;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::storage::LeaseOutcome;

/// A lease request: the year of the numbers (the agency's current year when left out; the next
/// year is accepted too, for a device that stocks up before the new year).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    #[serde(default)]
    #[schema(minimum = 2000, maximum = 9999)]
    pub year: Option<i32>,
}

#[utoipa::path(
    post,
    path = "/numbers/lease",
    tag = "sync",
    summary = "Lease the device a new block of document serials of its agency's year (never leased before, to any device)",
    security(("device" = [])),
    request_body = LeaseRequest,
    responses(
        (status = 200, description = "OK", body = NumberBlockDoc),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/numbers/lease`: a new block of document serials for the calling device.
pub async fn lease(
    State(state): State<AppState>,
    DeviceCaller(device): DeviceCaller,
    ApiJson(req): ApiJson<LeaseRequest>,
) -> Result<Json<NumberBlock>> {
    let this_year = roadside_core::day::agency_today().year();
    let year = req.year.unwrap_or(this_year);
    if year != this_year && year != this_year + 1 {
        return Err(ApiError::bad_request(
            "NUMBER_YEAR_INVALID",
            format!("只能领取本年度（{this_year}）或下一年度的文书编号，请求的是 {year} 年"),
        ));
    }
    let size = state.config.number_block_size()?;
    let outcome = state
        .storage
        .lease_numbers(&device.agency, year, size, &device.id, &crate::now())
        .await?;
    match outcome {
        LeaseOutcome::Leased(block) => {
            tracing::info!(
                device = %device.id,
                agency = %block.agency,
                year,
                first = block.first,
                last = block.last,
                "document numbers leased"
            );
            Ok(Json(block))
        }
        LeaseOutcome::Exhausted => Err(ApiError::conflict(
            "NUMBERS_EXHAUSTED",
            format!(
                "本机构 {year} 年的文书编号（1—{}）已全部发放，无法再领取",
                crate::storage::MAX_SERIAL
            ),
        )),
        LeaseOutcome::UnknownAgency => Err(ApiError::not_found(
            "AGENCY_NOT_FOUND",
            format!("设备登记的机构 {} 不存在", device.agency),
        )),
    }
}
