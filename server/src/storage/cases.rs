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
    /// An accepted decision (`decision.penalty` or `decision.no_penalty`) is logged for it.
    pub decided: bool,
}

/// The columns of a [`CaseRow`] (`c` is the case), in its field order: shared by both backends.
pub(crate) const CASE_COLUMNS: &str = "c.id, c.agency, c.status, c.opened_at, \
     (SELECT COUNT(*) FROM records r WHERE r.case_id = c.id AND r.agency = c.agency), \
     (SELECT COUNT(*) FROM evidence v WHERE v.case_id = c.id AND v.agency = c.agency), \
     EXISTS (SELECT 1 FROM entries d WHERE d.case_id = c.id AND d.agency = c.agency \
     AND d.kind IN ('decision.penalty', 'decision.no_penalty') \
     AND NOT EXISTS (SELECT 1 FROM entry_refusals f WHERE f.entry_hash = d.hash))";

/// The columns a [`CaseEntry`] is read from (`e` the entry, `f` its refusal if any), for
/// [`case_entry`]: shared by both backends.
pub(crate) const CASE_ENTRY_COLUMNS: &str =
    "e.hash, e.device_id, e.seq, e.leaf_index, e.checkpoint_size, e.bytes, f.code, f.message";

/// A case with its logged entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: CaseRow,
    /// Every entry logged for the case (accepted and refused), in log order.
    pub entries: Vec<CaseEntry>,
}

/// One logged entry of a case, as the case API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEntry {
    /// The signing device's sequence number (its chain position).
    pub seq: u64,
    pub device_id: String,
    pub kind: String,
    pub at: String,
    pub officers: Vec<String>,
    /// Lowercase hex SHA-256 of the entry's bytes.
    pub entry_hash: String,
    /// Its leaf in the transparency log, and the size of the checkpoint first published with it.
    pub leaf_index: u64,
    pub checkpoint_size: u64,
    /// Set when a business check refused it (logged, not materialised).
    pub refused: Option<EntryRefusal>,
    /// For `document.issue`: the document as the server knows it.
    pub document: Option<IssuedDocument>,
    /// The entry's signed body.
    pub body: serde_json::Value,
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryRefusal {
    pub code: String,
    pub message: String,
}

/// A document issued on the device (`document.issue`): its number and the SHA-256 and size of
/// the exact bytes handed to the party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedDocument {
    pub doc_type: String,
    pub number: String,
    pub sha256: String,
    pub size: u64,
}

/// A [`CaseEntry`] from its stored row (the signed bytes hold kind, time, officers and body).
#[allow(clippy::too_many_arguments)]
pub(crate) fn case_entry(
    hash: &[u8],
    device_id: String,
    seq: i64,
    leaf_index: i64,
    checkpoint_size: i64,
    bytes: &[u8],
    refused_code: Option<String>,
    refused_message: Option<String>,
) -> Result<CaseEntry> {
    let mut entry: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| crate::error::ApiError::storage(format!("stored entry unreadable: {e}")))?;
    let text =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let body = entry
        .get_mut("body")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    let kind = text(&entry, "kind").unwrap_or_default();
    let document = (kind == "document.issue")
        .then(|| {
            Some(IssuedDocument {
                doc_type: text(&body, "doc_type")?,
                number: text(&body, "number")?,
                sha256: text(&body, "sha256")?,
                size: body.get("size")?.as_u64()?,
            })
        })
        .flatten();
    Ok(CaseEntry {
        seq: super::u64_of(seq)?,
        device_id,
        at: text(&entry, "at").unwrap_or_default(),
        officers: entry
            .get("officers")
            .and_then(|o| o.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        kind,
        entry_hash: hex::encode(hash),
        leaf_index: super::u64_of(leaf_index)?,
        checkpoint_size: super::u64_of(checkpoint_size)?,
        refused: refused_code.map(|code| EntryRefusal {
            code,
            message: refused_message.unwrap_or_default(),
        }),
        document,
        body,
    })
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
    /// The case `id` if it belongs to one of `agencies`, with every entry logged for it.
    async fn case_detail(&self, agencies: &[String], id: &str) -> Result<Option<CaseDetail>>;
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
