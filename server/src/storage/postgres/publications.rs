//! PostgreSQL: publications (行政处罚决定公示) and their append-only history.

use super::*;
use crate::publication::{PublicationDraft, PublicationRecord};
use crate::storage::publications::{change, not_found, record_of, record_text, PublicationRow};

fn publication_of(r: &Row) -> Result<Publication> {
    PublicationRow {
        case_id: r.get(0),
        entry_hash: r.get(1),
        agency: r.get(2),
        state: r.get(3),
        decided_on: r.get(4),
        due_on: r.get(5),
        record: r.get(6),
        created_at: r.get(7),
        published_at: r.get(8),
        updated_at: r.get(9),
        withdrawn_at: r.get(10),
        withdrawn_reason: r.get(11),
    }
    .publication()
}

/// The publication `(case_id, entry_hash)` if it belongs to one of `agencies`; with `lock`, its
/// row locked until the transaction ends.
async fn find(
    client: &impl deadpool_postgres::GenericClient,
    agencies: &[String],
    case_id: &str,
    entry_hash: &str,
    lock: bool,
) -> Result<Option<Publication>> {
    let sql = format!(
        "SELECT {PUBLICATION_COLUMNS} FROM publications \
         WHERE case_id = $1 AND entry_hash = $2 AND agency = ANY($3){}",
        if lock { " FOR UPDATE" } else { "" }
    );
    client
        .query_opt(&sql, &[&case_id, &entry_hash, &agencies])
        .await?
        .as_ref()
        .map(publication_of)
        .transpose()
}

#[allow(clippy::too_many_arguments)]
async fn append_event(
    tx: &Tx<'_>,
    case_id: &str,
    entry_hash: &str,
    action: PublicationAction,
    reason: Option<&str>,
    by: &str,
    at: &str,
    record: &str,
) -> Result<()> {
    let seq: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM publication_events \
             WHERE case_id = $1 AND entry_hash = $2",
            &[&case_id, &entry_hash],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO publication_events \
         (case_id, entry_hash, seq, action, reason, by_login, at, record) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &case_id,
            &entry_hash,
            &seq,
            &action.as_str(),
            &reason,
            &by,
            &at,
            &record,
        ],
    )
    .await?;
    Ok(())
}

impl PgStorage {
    /// One change in one transaction: the row locked (`FOR UPDATE`), the state checked, the new
    /// state and the history row written together.
    #[allow(clippy::too_many_arguments)]
    async fn change_publication(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
        action: PublicationAction,
        record: Option<&PublicationRecord>,
        reason: Option<&str>,
        by: &str,
        at: &str,
    ) -> Result<Publication> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let current = find(&tx, agencies, case_id, entry_hash, true)
            .await?
            .ok_or_else(|| not_found(case_id))?;
        let ch = change(&current, action, record, reason)?;
        let published =
            ch.state == PublicationState::Published && current.state == PublicationState::Pending;
        let withdrawn = ch.state == PublicationState::Withdrawn;
        tx.execute(
            "UPDATE publications SET state = $3, record = $4, updated_at = $5, \
             published_at = CASE WHEN $6 THEN $5 ELSE published_at END, \
             withdrawn_at = CASE WHEN $7 THEN $5 ELSE withdrawn_at END, \
             withdrawn_reason = CASE WHEN $7 THEN $8 ELSE withdrawn_reason END \
             WHERE case_id = $1 AND entry_hash = $2",
            &[
                &case_id,
                &entry_hash,
                &ch.state.as_str(),
                &ch.record,
                &at,
                &published,
                &withdrawn,
                &ch.reason,
            ],
        )
        .await?;
        append_event(
            &tx,
            case_id,
            entry_hash,
            ch.action,
            ch.reason.as_deref(),
            by,
            at,
            &ch.record,
        )
        .await?;
        let after = find(&tx, agencies, case_id, entry_hash, false)
            .await?
            .ok_or_else(|| not_found(case_id))?;
        tx.commit().await?;
        Ok(after)
    }
}

#[async_trait]
impl PublicationStore for PgStorage {
    async fn add_publication(&self, draft: &PublicationDraft, by: &str, at: &str) -> Result<bool> {
        let record = record_text(&draft.record)?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let added = tx
            .execute(
                "INSERT INTO publications (case_id, entry_hash, agency, state, decided_on, \
                 due_on, record, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $7) \
                 ON CONFLICT (case_id, entry_hash) DO NOTHING",
                &[
                    &draft.case_id,
                    &draft.entry_hash,
                    &draft.agency,
                    &roadside_core::day::format_day(draft.decided_on),
                    &roadside_core::day::format_day(draft.due.due),
                    &record,
                    &at,
                ],
            )
            .await?
            == 1;
        if added {
            append_event(
                &tx,
                &draft.case_id,
                &draft.entry_hash,
                PublicationAction::Created,
                None,
                by,
                at,
                &record,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn publish(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
        by: &str,
        at: &str,
    ) -> Result<Publication> {
        self.change_publication(
            agencies,
            case_id,
            entry_hash,
            PublicationAction::Published,
            None,
            None,
            by,
            at,
        )
        .await
    }

    async fn update_publication(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
        record: &PublicationRecord,
        reason: &str,
        by: &str,
        at: &str,
    ) -> Result<Publication> {
        self.change_publication(
            agencies,
            case_id,
            entry_hash,
            PublicationAction::Updated,
            Some(record),
            Some(reason),
            by,
            at,
        )
        .await
    }

    async fn withdraw_publication(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
        reason: &str,
        by: &str,
        at: &str,
    ) -> Result<Publication> {
        self.change_publication(
            agencies,
            case_id,
            entry_hash,
            PublicationAction::Withdrawn,
            None,
            Some(reason),
            by,
            at,
        )
        .await
    }

    async fn publication(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
    ) -> Result<Option<Publication>> {
        let client = self.pool.get().await?;
        find(&client, agencies, case_id, entry_hash, false).await
    }

    async fn publications(
        &self,
        agencies: &[String],
        filter: &PublicationFilter,
    ) -> Result<Vec<Publication>> {
        let state = filter.state.map(PublicationState::as_str);
        let overdue_on = filter.overdue_on.map(roadside_core::day::format_day);
        let rows = self
            .pool
            .get()
            .await?
            .query(
                &format!(
                    "SELECT {PUBLICATION_COLUMNS} FROM publications WHERE agency = ANY($1) \
                     AND ($2::TEXT IS NULL OR state = $2) \
                     AND ($3::TEXT IS NULL OR (state = 'pending' AND due_on < $3)) \
                     ORDER BY due_on, case_id, entry_hash"
                ),
                &[&agencies, &state, &overdue_on],
            )
            .await?;
        rows.iter().map(publication_of).collect()
    }

    async fn published_publications(&self) -> Result<Vec<Publication>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                &format!(
                    "SELECT {PUBLICATION_COLUMNS} FROM publications WHERE state = 'published' \
                     ORDER BY published_at DESC, case_id, entry_hash"
                ),
                &[],
            )
            .await?;
        rows.iter().map(publication_of).collect()
    }

    async fn cases_owing_publication(&self, agencies: &[String]) -> Result<Vec<(String, String)>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT c.agency, c.id FROM cases c WHERE c.outcome = 'penalty' \
                 AND c.agency = ANY($1) AND NOT EXISTS (SELECT 1 FROM publications p \
                 WHERE p.case_id = c.id AND p.agency = c.agency) ORDER BY c.agency, c.id",
                &[&agencies],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn publication_history(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
    ) -> Result<Vec<PublicationEvent>> {
        let client = self.pool.get().await?;
        if find(&client, agencies, case_id, entry_hash, false)
            .await?
            .is_none()
        {
            return Ok(Vec::new());
        }
        let rows = client
            .query(
                "SELECT seq, action, reason, by_login, at, record FROM publication_events \
                 WHERE case_id = $1 AND entry_hash = $2 ORDER BY seq",
                &[&case_id, &entry_hash],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let seq: i32 = r.get(0);
                let action: String = r.get(1);
                let record: String = r.get(5);
                Ok(PublicationEvent {
                    seq: u64::try_from(seq)
                        .map_err(|_| ApiError::storage("negative history sequence in database"))?,
                    action: PublicationAction::parse(&action)?,
                    reason: r.get(2),
                    by: r.get(3),
                    at: r.get(4),
                    record: record_of(&record)?,
                })
            })
            .collect()
    }
}
