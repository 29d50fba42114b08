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

/// What the back office filters and counts cases by: kept at ingest from the opening entry and
/// the decision, and rebuilt from the log by [`CaseStore::reindex_cases`] for cases stored before it existed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CaseIndex {
    /// Normalised plate of the opening entry.
    pub plate: Option<String>,
    /// Violation codes (benchmark items) named by the opening entry and the decision.
    pub items: Vec<String>,
    /// Certificate numbers of the officers who opened and decided the case.
    pub officers: Vec<String>,
    /// `summary` or `general`, once a penalty is decided.
    pub procedure: Option<String>,
    /// `penalty` or `no_penalty`, once decided.
    pub outcome: Option<String>,
    pub total_yuan: Option<i64>,
    /// Some decided amount is outside its benchmark band.
    pub deviates: bool,
    /// `YYYY-MM-DD`.
    pub decided_on: Option<String>,
}

/// A case with its index, as the office lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseSummary {
    #[serde(flatten)]
    pub case: CaseRow,
    #[serde(flatten)]
    pub index: CaseIndex,
}

/// A decided case or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseOutcome {
    Penalty,
    NoPenalty,
    Undecided,
}

/// Which cases a list shows: every condition given must hold. Times are UTC RFC 3339 instants
/// (or a prefix of one, e.g. `2026-12-07T16:00:00`), compared with the opening time as stored
/// (the entry's UTC time): an agency day is given as its first instant and the next day's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseFilter {
    pub agency: Option<String>,
    /// Opened at or after this instant.
    pub opened_from: Option<String>,
    /// Opened before this instant.
    pub opened_before: Option<String>,
    pub officer: Option<String>,
    /// Normalised plate.
    pub plate: Option<String>,
    pub item: Option<String>,
    pub procedure: Option<String>,
    pub outcome: Option<CaseOutcome>,
    pub status: Option<String>,
    /// Undecided and opened before this instant (RFC 3339): past the 90-day decision deadline
    /// when the caller passes today less 90 days (处罚法 60).
    pub undecided_before: Option<String>,
    pub offset: u64,
    pub limit: u64,
}

/// `,a,b,`: a set kept in one text column, matched with `LIKE '%,a,%'`.
pub(crate) fn set_text(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(",{},", items.join(","))
    }
}

/// The members of a [`set_text`] column.
pub(crate) fn set_of(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn union(mut a: Vec<String>, b: &[String]) -> Vec<String> {
    for x in b {
        if !a.contains(x) {
            a.push(x.clone());
        }
    }
    a
}

/// What an accepted entry changes in the case index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IndexChange {
    Open(CaseIndex),
    Decision(CaseIndex),
}

impl IndexChange {
    /// The index after this change, from the index before it.
    pub(crate) fn apply(&self, before: CaseIndex) -> CaseIndex {
        match self {
            IndexChange::Open(i) => CaseIndex {
                plate: i.plate.clone().or(before.plate),
                items: union(before.items, &i.items),
                officers: union(before.officers, &i.officers),
                ..before
            },
            IndexChange::Decision(i) => CaseIndex {
                items: union(before.items, &i.items),
                officers: union(before.officers, &i.officers),
                procedure: i.procedure.clone(),
                outcome: i.outcome.clone(),
                total_yuan: i.total_yuan,
                deviates: i.deviates,
                decided_on: i.decided_on.clone(),
                ..before
            },
        }
    }
}

/// What an accepted entry of `kind`, signed by `officers`, with `body`, tells the case index.
pub(crate) fn index_change(
    kind: &str,
    officers: &[String],
    body: &serde_json::Value,
) -> Option<IndexChange> {
    let texts = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind {
        "case.open" => {
            let plate = json_str(body, &["plate"])
                .or_else(|| json_str(body, &["vehicle", "plate"]))
                .or_else(|| json_str(body, &["record", "vehicle", "plate"]))
                .map(plate_key);
            let items = texts(
                body.get("violations")
                    .or_else(|| body.get("record").and_then(|r| r.get("violations"))),
            );
            Some(IndexChange::Open(CaseIndex {
                plate,
                items,
                officers: officers.to_vec(),
                ..CaseIndex::default()
            }))
        }
        "decision.penalty" => {
            let items = body
                .get("violations")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.get("code")?.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            Some(IndexChange::Decision(CaseIndex {
                plate: None,
                items,
                officers: officers.to_vec(),
                procedure: json_str(body, &["procedure"]).map(str::to_string),
                outcome: Some("penalty".into()),
                total_yuan: body.get("total_yuan").and_then(|v| v.as_i64()),
                deviates: body
                    .get("deviates")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                decided_on: json_str(body, &["decided_on"]).map(str::to_string),
            }))
        }
        "decision.no_penalty" => Some(IndexChange::Decision(CaseIndex {
            plate: None,
            items: json_str(body, &["violation"])
                .map(|v| vec![v.to_string()])
                .unwrap_or_default(),
            officers: officers.to_vec(),
            procedure: None,
            outcome: Some("no_penalty".into()),
            total_yuan: Some(0),
            deviates: false,
            decided_on: json_str(body, &["decided_on"]).map(str::to_string),
        })),
        _ => None,
    }
}

/// A `LIKE` pattern matching one member of a [`set_text`] column (`\` escapes).
pub(crate) fn member_pattern(member: &str) -> String {
    let escaped = member
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%,{escaped},%")
}

/// The `WHERE` clause of a case list and its parameters, with placeholders from `p` (1-based:
/// `?N` for SQLite, `$N` for PostgreSQL). Shared by both backends.
pub(crate) fn filter_sql(
    agencies: &[String],
    f: &CaseFilter,
    p: impl Fn(usize) -> String,
) -> (String, Vec<String>) {
    let mut params: Vec<String> = Vec::new();
    let next = |v: String, params: &mut Vec<String>| {
        params.push(v);
        p(params.len())
    };
    let list = agencies
        .iter()
        .map(|a| next(a.clone(), &mut params))
        .collect::<Vec<_>>()
        .join(",");
    let mut clauses = vec![format!("c.agency IN ({list})")];
    if let Some(a) = &f.agency {
        clauses.push(format!("c.agency = {}", next(a.clone(), &mut params)));
    }
    if let Some(d) = &f.opened_from {
        clauses.push(format!("c.opened_at >= {}", next(d.clone(), &mut params)));
    }
    if let Some(t) = &f.opened_before {
        clauses.push(format!("c.opened_at < {}", next(t.clone(), &mut params)));
    }
    if let Some(o) = &f.officer {
        clauses.push(format!(
            "c.officers LIKE {} ESCAPE '\\'",
            next(member_pattern(o), &mut params)
        ));
    }
    if let Some(x) = &f.plate {
        clauses.push(format!("c.plate = {}", next(x.clone(), &mut params)));
    }
    if let Some(i) = &f.item {
        clauses.push(format!(
            "c.items LIKE {} ESCAPE '\\'",
            next(member_pattern(i), &mut params)
        ));
    }
    if let Some(x) = &f.procedure {
        clauses.push(format!("c.procedure = {}", next(x.clone(), &mut params)));
    }
    match f.outcome {
        Some(CaseOutcome::Penalty) => clauses.push("c.outcome = 'penalty'".into()),
        Some(CaseOutcome::NoPenalty) => clauses.push("c.outcome = 'no_penalty'".into()),
        Some(CaseOutcome::Undecided) => clauses.push("c.outcome IS NULL".into()),
        None => {}
    }
    if let Some(x) = &f.status {
        clauses.push(format!("c.status = {}", next(x.clone(), &mut params)));
    }
    if let Some(t) = &f.undecided_before {
        clauses.push(format!(
            "c.outcome IS NULL AND c.status <> 'closed' AND c.opened_at < {}",
            next(t.clone(), &mut params)
        ));
    }
    (clauses.join(" AND "), params)
}

/// How far a case list counts the cases that pass its filters.
pub const COUNT_CAP: u64 = 10_000;

/// The index columns after [`CASE_COLUMNS`], in [`CaseIndex`]'s field order.
pub(crate) const INDEX_COLUMNS: &str =
    "c.plate, c.items, c.officers, c.procedure, c.outcome, c.total_yuan, c.deviates, c.decided_on";

/// A logged entry of a case as it was signed: what an evidence package carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCaseEntry {
    /// SHA-256 of `bytes`.
    pub hash: [u8; 32],
    pub device_id: String,
    /// The exact signed bytes and the device's Ed25519 signature over them.
    pub bytes: Vec<u8>,
    pub sig: Vec<u8>,
    pub leaf_index: u64,
    /// Size of the checkpoint first published with it (its receipt's checkpoint).
    pub checkpoint_size: u64,
}

/// A case as the statistics count it: its unit, opening time and index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseStat {
    pub agency: String,
    pub opened_at: Option<String>,
    pub status: String,
    pub index: CaseIndex,
}

/// Cases and the history query.
#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    async fn cases(&self, agencies: &[String]) -> Result<Vec<CaseRow>>;
    /// One page of the cases of `agencies` that pass `filter`, newest first, and how many pass —
    /// counted up to [`COUNT_CAP`] + 1 only (more than the cap is "more than 10,000"), so a page
    /// over a million cases does not count them all.
    async fn case_page(
        &self,
        agencies: &[String],
        filter: &CaseFilter,
    ) -> Result<(Vec<CaseSummary>, u64)>;
    /// Rebuild every case's [`CaseIndex`] from the accepted entries in the log (after the
    /// index columns were added to a database that already held cases); the number of cases.
    async fn reindex_cases(&self) -> Result<u64>;
    /// The cases of `agencies` opened at or after `from` and before `before` (UTC instants, as in
    /// [`CaseFilter`]), for the statistics.
    async fn case_stats(
        &self,
        agencies: &[String],
        from: &str,
        before: &str,
    ) -> Result<Vec<CaseStat>>;
    /// Some case has never been indexed (stored before the index existed).
    async fn cases_unindexed(&self) -> Result<bool>;
    /// The case `id` if it belongs to one of `agencies`, with every entry logged for it.
    async fn case_detail(&self, agencies: &[String], id: &str) -> Result<Option<CaseDetail>>;
    /// Every entry logged for the case `id` of `agency` (accepted and refused) as signed, in log
    /// order. The caller has checked the case is in its scope.
    async fn signed_case_entries(&self, agency: &str, id: &str) -> Result<Vec<SignedCaseEntry>>;
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
