//! Cases materialised from accepted entries, and the history (first-offence) query over them.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// A case as materialised from accepted entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseRow {
    pub id: String,
    pub agency: String,
    pub status: String,
    pub opened_at: Option<String>,
    pub records: u64,
    pub evidence: u64,
}

/// What a history query looks for: cases opened since `since` whose vehicle plate is `plate` or
/// whose party's identifier is `party_id` (either matches; at least one is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Normalised plate (`roadside_core::codes::check_plate`).
    pub plate: Option<String>,
    /// Normalised 统一社会信用代码 or 居民身份证号 (upper case).
    pub party_id: Option<String>,
    /// `YYYY-MM-DD`: cases opened on or after this day (compared with the RFC 3339 `opened_at`).
    pub since: String,
}

/// A prior accepted case matching a [`HistoryQuery`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriorCase {
    pub case: String,
    pub agency: String,
    pub opened_at: Option<String>,
    pub status: String,
    /// The plate the case was opened with, if it names one.
    pub plate: Option<String>,
    /// Violation codes the opening entry names (empty when it names none).
    pub violations: Vec<String>,
}

fn plate_key(raw: &str) -> String {
    roadside_core::codes::check_plate(raw)
        .map(|p| p.plate)
        .unwrap_or_else(|_| raw.trim().to_uppercase())
}

fn json_str<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// Match a `case.open` entry's canonical bytes against a query: `Some((plate, violations))` when
/// it matches. The plate is read from `body.plate`, `body.vehicle.plate` or
/// `body.record.vehicle.plate`; the party from `body.party_id` or `body.record.party`
/// (`id_number` / `uscc`). Shared by both backends.
pub(crate) fn opening_matches(
    bytes: &[u8],
    q: &HistoryQuery,
) -> Option<(Option<String>, Vec<String>)> {
    let entry: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let body = entry.get("body")?;
    let plate = json_str(body, &["plate"])
        .or_else(|| json_str(body, &["vehicle", "plate"]))
        .or_else(|| json_str(body, &["record", "vehicle", "plate"]))
        .map(plate_key);
    let party = json_str(body, &["party_id"])
        .or_else(|| json_str(body, &["record", "party", "id_number"]))
        .or_else(|| json_str(body, &["record", "party", "uscc"]))
        .map(|p| p.trim().to_uppercase());
    let hit =
        (q.plate.is_some() && plate == q.plate) || (q.party_id.is_some() && party == q.party_id);
    if !hit {
        return None;
    }
    let violations = body
        .get("violations")
        .or_else(|| body.get("record").and_then(|r| r.get("violations")))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some((plate, violations))
}

/// Cases and the history query.
#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    async fn cases(&self, agencies: &[String]) -> Result<Vec<CaseRow>>;
    /// Accepted (materialised, not refused) cases of `agencies` opened since `query.since` whose
    /// `case.open` entry names the plate or party, newest first. The plate and party are read from
    /// the opening entry only (`opening_matches`): a plate changed later by `record.amend` is not
    /// seen.
    async fn prior_cases(
        &self,
        agencies: &[String],
        query: &HistoryQuery,
    ) -> Result<Vec<PriorCase>>;
}
