//! 行政处罚决定公示: the publication each penalty decision owes, its state and its history.
//!
//! A publication is keyed by its case and the decision entry's hash, and belongs to the case's
//! agency. It is registered `pending` with the record built from the decision
//! ([`crate::publication::publication_from_decision`]) and the day it is due by; then `published`
//! (it appears on the public page and in the feeds), its record `updated` (a corrected record,
//! published or not yet), or `withdrawn` with a reason (a decision changed, revoked or annulled: 处罚法
//! 48 second paragraph). A withdrawn publication stays withdrawn: it is never published or updated
//! again (`PUBLICATION_WITHDRAWN`); a new decision gets a publication of its own.
//!
//! Every change is one transaction that holds the publication's row (SQLite: the single writer,
//! `BEGIN IMMEDIATE`; PostgreSQL: `SELECT … FOR UPDATE`), checks the state, writes the new state
//! and appends one row to the publication's history: who did what, when, why, and the record as it
//! stood after. The history table is append-only (the schema refuses an update or a delete of its
//! rows), so what was public when can always be told.

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::Serialize;

use crate::error::{ApiError, Result};
use crate::publication::{PublicationDraft, PublicationRecord};

/// Longest reason accepted for an update or a withdrawal.
pub const MAX_REASON_CHARS: usize = 1000;

/// Where a publication stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicationState {
    /// Registered, not yet public; overdue once its due day has passed.
    Pending,
    /// On the public page and in the feeds.
    Published,
    /// Taken down for good, with a reason.
    Withdrawn,
}

impl PublicationState {
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationState::Pending => "pending",
            PublicationState::Published => "published",
            PublicationState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => PublicationState::Pending,
            "published" => PublicationState::Published,
            "withdrawn" => PublicationState::Withdrawn,
            other => {
                return Err(ApiError::storage(format!(
                    "unknown publication state {other} in database"
                )))
            }
        })
    }
}

/// What a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicationAction {
    Created,
    Published,
    Updated,
    Withdrawn,
}

impl PublicationAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationAction::Created => "created",
            PublicationAction::Published => "published",
            PublicationAction::Updated => "updated",
            PublicationAction::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "created" => PublicationAction::Created,
            "published" => PublicationAction::Published,
            "updated" => PublicationAction::Updated,
            "withdrawn" => PublicationAction::Withdrawn,
            other => {
                return Err(ApiError::storage(format!(
                    "unknown publication action {other} in database"
                )))
            }
        })
    }
}

/// A publication as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publication {
    pub case_id: String,
    /// The decision entry's hash (lowercase hex).
    pub entry_hash: String,
    pub agency: String,
    pub state: PublicationState,
    #[serde(with = "roadside_core::day::serde_day")]
    pub decided_on: NaiveDate,
    /// The last day to publish.
    #[serde(with = "roadside_core::day::serde_day")]
    pub due_on: NaiveDate,
    /// The record as it stands (published, or to be published).
    pub record: PublicationRecord,
    pub created_at: String,
    /// When it was published (none while pending, or when withdrawn before publication).
    pub published_at: Option<String>,
    /// The last change.
    pub updated_at: String,
    pub withdrawn_at: Option<String>,
    pub withdrawn_reason: Option<String>,
}

impl Publication {
    /// Still pending after its due day, as of `day`.
    pub fn overdue_on(&self, day: NaiveDate) -> bool {
        self.state == PublicationState::Pending && day > self.due_on
    }
}

/// One row of a publication's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicationEvent {
    /// 1, 2, … per publication, in the order of the changes.
    pub seq: u64,
    pub action: PublicationAction,
    /// Why (required for an update and a withdrawal).
    pub reason: Option<String>,
    /// The account that made the change.
    pub by: String,
    pub at: String,
    /// The record as it stood after the change.
    pub record: PublicationRecord,
}

/// Which publications a list shows (all when nothing is set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicationFilter {
    pub state: Option<PublicationState>,
    /// Only those still pending after their due day, as of this day.
    pub overdue_on: Option<NaiveDate>,
}

/// The publications and their history.
#[async_trait]
pub trait PublicationStore: Send + Sync + 'static {
    /// Register the publication a decision owes, `pending`, with a `created` history row: `false`
    /// (and nothing changed) when the decision has one already.
    async fn add_publication(&self, draft: &PublicationDraft, by: &str, at: &str) -> Result<bool>;
    /// Publish a pending publication. `PUBLICATION_NOT_FOUND` when there is none for one of
    /// `agencies`; `PUBLICATION_WITHDRAWN` when it was withdrawn (never published again);
    /// `PUBLICATION_ALREADY_PUBLISHED` when it is public already.
    async fn publish(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
        by: &str,
        at: &str,
    ) -> Result<Publication>;
    /// Replace the record of a pending or published publication (it keeps its state), with the
    /// reason. `PUBLICATION_WITHDRAWN` when it was withdrawn; `PUBLICATION_REASON_REQUIRED` /
    /// `PUBLICATION_REASON_TOO_LONG`.
    #[allow(clippy::too_many_arguments)]
    async fn update_publication(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
        record: &PublicationRecord,
        reason: &str,
        by: &str,
        at: &str,
    ) -> Result<Publication>;
    /// Withdraw a pending or published publication, with the reason. `PUBLICATION_WITHDRAWN` when
    /// it was withdrawn already; `PUBLICATION_REASON_REQUIRED` / `PUBLICATION_REASON_TOO_LONG`.
    async fn withdraw_publication(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
        reason: &str,
        by: &str,
        at: &str,
    ) -> Result<Publication>;
    /// One publication of `agencies`.
    async fn publication(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
    ) -> Result<Option<Publication>>;
    /// The publications of `agencies` that pass `filter`, by due day (then case and entry).
    async fn publications(
        &self,
        agencies: &[String],
        filter: &PublicationFilter,
    ) -> Result<Vec<Publication>>;
    /// What the public sees: every agency's published publications, newest publication first.
    async fn published_publications(&self) -> Result<Vec<Publication>>;
    /// The cases of `agencies` decided with a penalty (by the case index) that have no
    /// publication yet, as (agency, case id): the ones whose publication is still to be built.
    async fn cases_owing_publication(&self, agencies: &[String]) -> Result<Vec<(String, String)>>;
    /// A publication's history, oldest first; empty when there is none for one of `agencies`.
    async fn publication_history(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
    ) -> Result<Vec<PublicationEvent>>;
}

/// A change asked of a publication in state `from`: the state it leaves it in, or why not.
pub(crate) fn next_state(
    from: PublicationState,
    action: PublicationAction,
    case_id: &str,
) -> Result<PublicationState> {
    use PublicationAction as A;
    use PublicationState as S;
    match (from, action) {
        (S::Withdrawn, A::Withdrawn) => Err(ApiError::conflict(
            "PUBLICATION_WITHDRAWN",
            format!("案件 {case_id} 的处罚决定公示已撤回，不能再次撤回"),
        )),
        (S::Withdrawn, _) => Err(ApiError::conflict(
            "PUBLICATION_WITHDRAWN",
            format!(
                "案件 {case_id} 的处罚决定公示已撤回，撤回的公示不再公开或更新；决定变更后应对新决定另行公示"
            ),
        )),
        (S::Published, A::Published) => Err(ApiError::conflict(
            "PUBLICATION_ALREADY_PUBLISHED",
            format!("案件 {case_id} 的处罚决定已经公示"),
        )),
        (S::Pending, A::Published) => Ok(S::Published),
        (s, A::Updated) => Ok(s),
        (_, A::Withdrawn) => Ok(S::Withdrawn),
        (_, A::Created) => Err(ApiError::internal(
            "PUBLICATION_ACTION_INVALID",
            "公示登记不是对已有公示的变更（程序缺陷）",
        )),
    }
}

/// The reason of an update or a withdrawal, trimmed: required, and at most
/// [`MAX_REASON_CHARS`].
pub(crate) fn reason_of(reason: &str, action: PublicationAction) -> Result<String> {
    let what = match action {
        PublicationAction::Withdrawn => "撤回公示",
        _ => "更新公示内容",
    };
    let r = reason.trim();
    if r.is_empty() {
        return Err(ApiError::bad_request(
            "PUBLICATION_REASON_REQUIRED",
            format!("{what}须填写理由"),
        ));
    }
    let n = r.chars().count();
    if n > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(
            "PUBLICATION_REASON_TOO_LONG",
            format!("{what}的理由过长（{n} 字，上限 {MAX_REASON_CHARS} 字）"),
        ));
    }
    Ok(r.to_string())
}

pub(crate) fn not_found(case_id: &str) -> ApiError {
    ApiError::not_found(
        "PUBLICATION_NOT_FOUND",
        format!("没有案件 {case_id} 的该项处罚决定公示，或无权查看"),
    )
}

/// A record as stored (JSON text keyed by the Chinese item names).
pub(crate) fn record_text(record: &PublicationRecord) -> Result<String> {
    serde_json::to_string(record).map_err(ApiError::storage)
}

pub(crate) fn record_of(text: &str) -> Result<PublicationRecord> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::storage(format!("stored publication record unreadable: {e}")))
}

/// The columns a [`Publication`] is read from, in [`PublicationRow`]'s order: shared by both
/// backends.
pub(crate) const PUBLICATION_COLUMNS: &str = "case_id, entry_hash, agency, state, decided_on, \
     due_on, record, created_at, published_at, updated_at, withdrawn_at, withdrawn_reason";

/// A publication's row as read, before its values are checked.
pub(crate) struct PublicationRow {
    pub case_id: String,
    pub entry_hash: String,
    pub agency: String,
    pub state: String,
    pub decided_on: String,
    pub due_on: String,
    pub record: String,
    pub created_at: String,
    pub published_at: Option<String>,
    pub updated_at: String,
    pub withdrawn_at: Option<String>,
    pub withdrawn_reason: Option<String>,
}

impl PublicationRow {
    pub(crate) fn publication(self) -> Result<Publication> {
        Ok(Publication {
            state: PublicationState::parse(&self.state)?,
            decided_on: super::day_from_db(&self.decided_on)?,
            due_on: super::day_from_db(&self.due_on)?,
            record: record_of(&self.record)?,
            case_id: self.case_id,
            entry_hash: self.entry_hash,
            agency: self.agency,
            created_at: self.created_at,
            published_at: self.published_at,
            updated_at: self.updated_at,
            withdrawn_at: self.withdrawn_at,
            withdrawn_reason: self.withdrawn_reason,
        })
    }
}

/// A change about to be written: the new state, the record after it, and the history row.
pub(crate) struct Change {
    pub state: PublicationState,
    pub record: String,
    pub action: PublicationAction,
    pub reason: Option<String>,
}

/// What `action` does to the publication read as `current` (the record replaced on an update).
pub(crate) fn change(
    current: &Publication,
    action: PublicationAction,
    record: Option<&PublicationRecord>,
    reason: Option<&str>,
) -> Result<Change> {
    let reason = reason.map(|r| reason_of(r, action)).transpose()?;
    let state = next_state(current.state, action, &current.case_id)?;
    let record = record_text(record.unwrap_or(&current.record))?;
    Ok(Change {
        state,
        record,
        action,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_withdrawn_publication_stays_withdrawn() {
        use PublicationAction as A;
        use PublicationState as S;
        assert_eq!(
            next_state(S::Pending, A::Published, "c").ok(),
            Some(S::Published)
        );
        assert_eq!(
            next_state(S::Pending, A::Updated, "c").ok(),
            Some(S::Pending)
        );
        assert_eq!(
            next_state(S::Published, A::Updated, "c").ok(),
            Some(S::Published)
        );
        assert_eq!(
            next_state(S::Pending, A::Withdrawn, "c").ok(),
            Some(S::Withdrawn)
        );
        assert_eq!(
            next_state(S::Published, A::Withdrawn, "c").ok(),
            Some(S::Withdrawn)
        );
        let code = |s, a| next_state(s, a, "c").expect_err("refused").code;
        assert_eq!(
            code(S::Published, A::Published),
            "PUBLICATION_ALREADY_PUBLISHED"
        );
        for a in [A::Published, A::Updated, A::Withdrawn] {
            assert_eq!(code(S::Withdrawn, a), "PUBLICATION_WITHDRAWN");
        }
    }

    #[test]
    fn reasons_are_required_and_bounded() {
        assert_eq!(
            reason_of("  ", PublicationAction::Withdrawn)
                .expect_err("empty")
                .code,
            "PUBLICATION_REASON_REQUIRED"
        );
        assert_eq!(
            reason_of(
                &"理".repeat(MAX_REASON_CHARS + 1),
                PublicationAction::Updated
            )
            .expect_err("long")
            .code,
            "PUBLICATION_REASON_TOO_LONG"
        );
        assert_eq!(
            reason_of(" 决定已被撤销 ", PublicationAction::Withdrawn)
                .ok()
                .as_deref(),
            Some("决定已被撤销")
        );
    }
}
