//! Document numbers (文书编号) from the server: a document number is only ever taken from a
//! block of serials the server leased to this device (`crate::store::steps`), so devices that
//! work offline for days never give two documents one number. A block is asked for right after
//! enrolment and at every sync that finds fewer than [`NUMBER_LOW_WATER`] numbers left for the
//! agency's current year.
//!
//! A lease is not idempotent on the server (each answer is a new block): a retry after a lost
//! answer leases a second block and the first one's serials are simply never used, which wastes
//! numbers but can never duplicate one.

use chrono::Datelike;
use reqwest::Client;

use super::http::{self, RetryPolicy};
use super::{Session, SyncReport};
use crate::error::{Result, RoadsideError};
use crate::steps::NumberBlock;
use crate::store::steps::NUMBER_LOW_WATER;
use crate::store::Store;

/// Where a device asks for a block.
pub const LEASE_PATH: &str = "/api/v1/numbers/lease";

/// Ask the server for a block of this year's serials and keep it in the store: the block must be
/// for `agency` (the device's own) and the year asked for, and pass its own check.
pub(super) async fn lease(
    store: &Store,
    client: &Client,
    retry: &RetryPolicy,
    base: &str,
    token: &str,
    agency: &str,
) -> Result<NumberBlock> {
    let year = crate::day::agency_today().year();
    let url = format!("{base}{LEASE_PATH}");
    let body = serde_json::json!({ "year": year });
    let (block, _) = http::exchange(
        retry,
        "领取文书编号段",
        || client.post(&url).bearer_auth(token).json(&body),
        |a| a.json::<NumberBlock>("领取文书编号段"),
    )
    .await?;
    if block.agency != agency || block.year != year {
        return Err(RoadsideError::network(
            "NUMBER_BLOCK_MISMATCH",
            format!(
                "服务器发放的编号段属于机构 {} 的 {} 年，而本设备登记在机构 {agency}、需要的是 {year} 年的编号；未予采用",
                block.agency, block.year
            ),
        ));
    }
    store.add_number_block(&block)?;
    Ok(block)
}

/// At a sync: a new block when the device runs low. A failure is reported in `report` (the
/// warning and `number_lease_error`), never returned: the rest of the sync goes on, and the next
/// sync asks again.
pub(super) async fn top_up(s: &Session<'_>, report: &mut SyncReport) {
    let year = crate::day::agency_today().year();
    let low = match s.store.numbers_left(year) {
        Ok(left) => left < NUMBER_LOW_WATER,
        Err(e) => {
            note_failure(report, &e);
            return;
        }
    };
    if !low {
        return;
    }
    match lease(
        s.store,
        &s.client,
        &s.retry,
        &s.config.server_url,
        &s.config.token,
        &s.config.agency,
    )
    .await
    {
        Ok(block) => report.number_block = Some(block),
        Err(e) => note_failure(report, &e),
    }
}

fn note_failure(report: &mut SyncReport, e: &RoadsideError) {
    report.warnings.push(format!(
        "未能领取新的文书编号段（{}：{}），本机剩余编号用完后将不能制作文书；下次同步时会再次领取",
        e.code(),
        e.message()
    ));
    report.number_lease_error = Some(format!("{}: {}", e.code(), e.message()));
}
