//! The first-offence check (初次违法核查) for the exemption list: asks the server's
//! `GET /api/v1/history` for prior accepted cases of the plate (or party) in the agency; when the
//! server cannot be asked (no network, timeout, not enrolled, an error answer), falls back to the
//! cases this device itself opened for that plate and flags the answer for re-check.
//!
//! An officer is waiting at the roadside: one attempt with a short timeout
//! ([`FIRST_OFFENCE_TIMEOUT_SECS`]), no backoff.
//!
//! The lookback is the server's default (one year; the exemption list fixes none); the offline
//! fallback uses the same year. Offline, a case this device opened and later voided still counts
//! (erring towards a re-check, never towards an exemption).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http;
use crate::codes;
use crate::error::{Result, RoadsideError};
use crate::store::Store;

/// Timeout of the online check, seconds.
pub const FIRST_OFFENCE_TIMEOUT_SECS: u64 = 5;
/// Offline lookback, days (the server's default).
pub const LOOKBACK_DAYS: i64 = 365;

/// The answer of a first-offence check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct FirstOffence {
    /// No prior case was found (online: in the agency; offline: on this device).
    pub first_offence: bool,
    pub prior_cases: u32,
    /// Prior case ids found.
    pub cases: Vec<String>,
    /// The server answered.
    pub checked_online: bool,
    /// The answer comes from this device only and must be checked online before an exemption is
    /// final.
    pub needs_recheck: bool,
    /// Why the online check failed (`NETWORK_TIMEOUT`, `NETWORK_UNREACHABLE`, `NOT_ENROLLED`, the
    /// server's code…); `None` when it succeeded.
    pub reason_code: Option<String>,
    /// What the officer reads, in Chinese.
    pub message: String,
    /// The plate as normalised.
    pub plate: String,
    /// Start of the lookback, `YYYY-MM-DD`.
    pub since: String,
    /// When the server checked (server time), online only.
    pub checked_at: Option<String>,
}

#[derive(Deserialize)]
struct PriorCase {
    case: String,
}

#[derive(Deserialize)]
struct Answer {
    since: String,
    prior_cases: Vec<PriorCase>,
    count: u32,
    checked_at: String,
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn online(store: &Store, plate: &str, party_id: Option<&str>) -> Result<Answer> {
    let config = store.sync_config()?.ok_or_else(|| {
        RoadsideError::conflict("NOT_ENROLLED", "本设备尚未登记到服务器，无法联网核查")
    })?;
    let mut url = format!(
        "{}/api/v1/history?plate={}",
        config.server_url,
        percent(plate)
    );
    if let Some(p) = party_id {
        url.push_str(&format!("&party_id={}", percent(p)));
    }
    let client = http::client(Duration::from_secs(FIRST_OFFENCE_TIMEOUT_SECS))?;
    let what = "首次违法联网核查";
    let answer = http::exchange_once(client.get(&url).bearer_auth(&config.token), what).await?;
    if !answer.status.is_success() {
        return Err(answer.error(what));
    }
    answer.json(what)
}

/// Cases this device opened since `since` naming the plate or party (from its own ledger).
fn on_device(
    store: &Store,
    plate: &str,
    party_id: Option<&str>,
    since: &str,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in store.export_ledger()? {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.bytes) else {
            continue;
        };
        if v.get("kind").and_then(|k| k.as_str()) != Some("case.open") {
            continue;
        }
        if v.get("at").and_then(|a| a.as_str()).unwrap_or("") < since {
            continue;
        }
        let body = v.get("body").cloned().unwrap_or_default();
        let get = |path: &[&str]| {
            path.iter()
                .try_fold(&body, |v, k| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let their_plate = get(&["plate"])
            .or_else(|| get(&["record", "vehicle", "plate"]))
            .map(|p| codes::check_plate(&p).map(|i| i.plate).unwrap_or(p));
        let their_party = get(&["party_id"])
            .or_else(|| get(&["record", "party", "id_number"]))
            .or_else(|| get(&["record", "party", "uscc"]))
            .map(|p| p.trim().to_uppercase());
        let hit = their_plate.as_deref() == Some(plate)
            || (party_id.is_some() && their_party.as_deref() == party_id);
        if hit {
            if let Some(case) = v.get("case").and_then(|c| c.as_str()) {
                out.push(case.to_string());
            }
        }
    }
    Ok(out)
}

/// Check whether the vehicle `plate` (and/or the party `party_id`, 统一社会信用代码 or 居民身份证号)
/// has prior cases: online when the server answers, otherwise from this device, flagged
/// `needs_recheck`. Only a bad plate is an error (`PLATE_*`).
pub async fn first_offence(
    store: &Store,
    plate: &str,
    party_id: Option<&str>,
) -> Result<FirstOffence> {
    let plate = codes::check_plate(plate)
        .map_err(|e| {
            RoadsideError::invalid_field(
                "plate",
                e.code,
                format!("号牌号码“{plate}”无效：{}", e.message),
            )
        })?
        .plate;
    let party = party_id
        .map(|p| p.trim().to_uppercase())
        .filter(|p| !p.is_empty());
    match online(store, &plate, party.as_deref()).await {
        Ok(a) => {
            let n = a.count;
            Ok(FirstOffence {
                first_offence: n == 0,
                prior_cases: n,
                cases: a.prior_cases.into_iter().map(|c| c.case).collect(),
                checked_online: true,
                needs_recheck: false,
                reason_code: None,
                message: if n == 0 {
                    format!(
                        "已联网核查：自 {} 起本机构无 {plate} 的违法案件，属首次违法",
                        a.since
                    )
                } else {
                    format!(
                        "已联网核查：自 {} 起本机构已有 {plate} 的 {n} 起案件，不属首次违法",
                        a.since
                    )
                },
                plate,
                since: a.since,
                checked_at: Some(a.checked_at),
            })
        }
        Err(e) => {
            let since = crate::day::format_day(
                crate::day::agency_today() - chrono::Duration::days(LOOKBACK_DAYS),
            );
            let cases = on_device(store, &plate, party.as_deref(), &since)?;
            let n = u32::try_from(cases.len()).unwrap_or(u32::MAX);
            Ok(FirstOffence {
                first_offence: n == 0,
                prior_cases: n,
                cases,
                checked_online: false,
                needs_recheck: true,
                reason_code: Some(e.code().to_string()),
                message: format!(
                    "未能联网核查（{}），仅按本机记录：本机自 {since} 起有 {plate} 的 {n} 起案件。是否首次违法须联网复核后方可免罚",
                    e.message()
                ),
                plate,
                since,
                checked_at: None,
            })
        }
    }
}
