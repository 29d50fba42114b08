//! SQLite: publications (行政处罚决定公示) and their append-only history.

use super::*;
use crate::publication::{PublicationDraft, PublicationRecord};
use crate::storage::publications::{change, not_found, record_text, PublicationRow};

fn publication_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PublicationRow> {
    Ok(PublicationRow {
        case_id: r.get(0)?,
        entry_hash: r.get(1)?,
        agency: r.get(2)?,
        state: r.get(3)?,
        decided_on: r.get(4)?,
        due_on: r.get(5)?,
        record: r.get(6)?,
        created_at: r.get(7)?,
        published_at: r.get(8)?,
        updated_at: r.get(9)?,
        withdrawn_at: r.get(10)?,
        withdrawn_reason: r.get(11)?,
    })
}

/// The publication `(case_id, entry_hash)` if it belongs to one of `agencies`.
fn find(
    c: &Connection,
    agencies: &[String],
    case_id: &str,
    entry_hash: &str,
) -> Result<Option<Publication>> {
    if agencies.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {PUBLICATION_COLUMNS} FROM publications \
         WHERE case_id = ?1 AND entry_hash = ?2 AND agency IN ({})",
        (3..agencies.len() + 3)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let params = [case_id.to_string(), entry_hash.to_string()]
        .into_iter()
        .chain(agencies.iter().cloned());
    c.query_row(&sql, rusqlite::params_from_iter(params), publication_row)
        .optional()?
        .map(PublicationRow::publication)
        .transpose()
}

#[allow(clippy::too_many_arguments)]
fn append_event(
    tx: &rusqlite::Transaction<'_>,
    case_id: &str,
    entry_hash: &str,
    action: PublicationAction,
    reason: Option<&str>,
    by: &str,
    at: &str,
    record: &str,
) -> Result<()> {
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM publication_events \
         WHERE case_id = ?1 AND entry_hash = ?2",
        params![case_id, entry_hash],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO publication_events \
         (case_id, entry_hash, seq, action, reason, by_login, at, record) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            case_id,
            entry_hash,
            seq,
            action.as_str(),
            reason,
            by,
            at,
            record
        ],
    )?;
    Ok(())
}

/// Owned arguments of a change, for the writer thread.
struct Ask {
    agencies: Vec<String>,
    case_id: String,
    entry_hash: String,
    action: PublicationAction,
    record: Option<PublicationRecord>,
    reason: Option<String>,
    by: String,
    at: String,
}

impl SqliteStorage {
    /// One change in one transaction: the row read under the single writer, the state checked,
    /// the new state and the history row written together.
    async fn change_publication(&self, ask: Ask) -> Result<Publication> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = find(&tx, &ask.agencies, &ask.case_id, &ask.entry_hash)?
                .ok_or_else(|| not_found(&ask.case_id))?;
            let ch = change(
                &current,
                ask.action,
                ask.record.as_ref(),
                ask.reason.as_deref(),
            )?;
            let published = ch.state == PublicationState::Published
                && current.state == PublicationState::Pending;
            let withdrawn = ch.state == PublicationState::Withdrawn;
            tx.execute(
                "UPDATE publications SET state = ?3, record = ?4, updated_at = ?5, \
                 published_at = CASE WHEN ?6 THEN ?5 ELSE published_at END, \
                 withdrawn_at = CASE WHEN ?7 THEN ?5 ELSE withdrawn_at END, \
                 withdrawn_reason = CASE WHEN ?7 THEN ?8 ELSE withdrawn_reason END \
                 WHERE case_id = ?1 AND entry_hash = ?2",
                params![
                    ask.case_id,
                    ask.entry_hash,
                    ch.state.as_str(),
                    ch.record,
                    ask.at,
                    published,
                    withdrawn,
                    ch.reason
                ],
            )?;
            append_event(
                &tx,
                &ask.case_id,
                &ask.entry_hash,
                ch.action,
                ch.reason.as_deref(),
                &ask.by,
                &ask.at,
                &ch.record,
            )?;
            let after = find(&tx, &ask.agencies, &ask.case_id, &ask.entry_hash)?
                .ok_or_else(|| not_found(&ask.case_id))?;
            tx.commit()?;
            Ok(after)
        })
        .await
    }
}

#[async_trait]
impl PublicationStore for SqliteStorage {
    async fn add_publication(&self, draft: &PublicationDraft, by: &str, at: &str) -> Result<bool> {
        let record = record_text(&draft.record)?;
        let (d, by, at) = (draft.clone(), by.to_string(), at.to_string());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let added = tx.execute(
                "INSERT INTO publications (case_id, entry_hash, agency, state, decided_on, \
                 due_on, record, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?7) \
                 ON CONFLICT (case_id, entry_hash) DO NOTHING",
                params![
                    d.case_id,
                    d.entry_hash,
                    d.agency,
                    roadside_core::day::format_day(d.decided_on),
                    roadside_core::day::format_day(d.due.due),
                    record,
                    at
                ],
            )? == 1;
            if added {
                append_event(
                    &tx,
                    &d.case_id,
                    &d.entry_hash,
                    PublicationAction::Created,
                    None,
                    &by,
                    &at,
                    &record,
                )?;
            }
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    async fn publish(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
        by: &str,
        at: &str,
    ) -> Result<Publication> {
        self.change_publication(Ask {
            agencies: agencies.to_vec(),
            case_id: case_id.to_string(),
            entry_hash: entry_hash.to_string(),
            action: PublicationAction::Published,
            record: None,
            reason: None,
            by: by.to_string(),
            at: at.to_string(),
        })
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
        self.change_publication(Ask {
            agencies: agencies.to_vec(),
            case_id: case_id.to_string(),
            entry_hash: entry_hash.to_string(),
            action: PublicationAction::Updated,
            record: Some(record.clone()),
            reason: Some(reason.to_string()),
            by: by.to_string(),
            at: at.to_string(),
        })
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
        self.change_publication(Ask {
            agencies: agencies.to_vec(),
            case_id: case_id.to_string(),
            entry_hash: entry_hash.to_string(),
            action: PublicationAction::Withdrawn,
            record: None,
            reason: Some(reason.to_string()),
            by: by.to_string(),
            at: at.to_string(),
        })
        .await
    }

    async fn publication(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
    ) -> Result<Option<Publication>> {
        let (keys, case_id, entry_hash) = (
            agencies.to_vec(),
            case_id.to_string(),
            entry_hash.to_string(),
        );
        self.read(move |c| find(c, &keys, &case_id, &entry_hash))
            .await
    }

    async fn publications(
        &self,
        agencies: &[String],
        filter: &PublicationFilter,
    ) -> Result<Vec<Publication>> {
        let (keys, filter) = (agencies.to_vec(), filter.clone());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut params: Vec<String> = keys.clone();
            let mut sql = format!(
                "SELECT {PUBLICATION_COLUMNS} FROM publications WHERE agency IN ({})",
                in_list(keys.len())
            );
            if let Some(state) = filter.state {
                params.push(state.as_str().to_string());
                sql.push_str(&format!(" AND state = ?{}", params.len()));
            }
            if let Some(day) = filter.overdue_on {
                params.push(roadside_core::day::format_day(day));
                sql.push_str(&format!(
                    " AND state = 'pending' AND due_on < ?{}",
                    params.len()
                ));
            }
            sql.push_str(" ORDER BY due_on, case_id, entry_hash");
            let mut stmt = c.prepare(&sql)?;
            let rows =
                stmt.query_map(rusqlite::params_from_iter(params.iter()), publication_row)?;
            rows.map(|r| r?.publication()).collect()
        })
        .await
    }

    async fn published_publications(&self) -> Result<Vec<Publication>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {PUBLICATION_COLUMNS} FROM publications WHERE state = 'published' \
                 ORDER BY published_at DESC, case_id, entry_hash"
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([], publication_row)?;
            rows.map(|r| r?.publication()).collect()
        })
        .await
    }

    async fn cases_owing_publication(&self, agencies: &[String]) -> Result<Vec<(String, String)>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT c.agency, c.id FROM cases c WHERE c.outcome = 'penalty' AND c.agency IN ({}) \
                 AND NOT EXISTS (SELECT 1 FROM publications p \
                 WHERE p.case_id = c.id AND p.agency = c.agency) ORDER BY c.agency, c.id",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn publication_history(
        &self,
        agencies: &[String],
        case_id: &str,
        entry_hash: &str,
    ) -> Result<Vec<PublicationEvent>> {
        let (keys, case_id, entry_hash) = (
            agencies.to_vec(),
            case_id.to_string(),
            entry_hash.to_string(),
        );
        self.read(move |c| {
            if find(c, &keys, &case_id, &entry_hash)?.is_none() {
                return Ok(Vec::new());
            }
            let mut stmt = c.prepare(
                "SELECT seq, action, reason, by_login, at, record FROM publication_events \
                 WHERE case_id = ?1 AND entry_hash = ?2 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![case_id, entry_hash], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            rows.map(|r| {
                let (seq, action, reason, by, at, record) = r?;
                Ok(PublicationEvent {
                    seq: u64_of(seq)?,
                    action: PublicationAction::parse(&action)?,
                    reason,
                    by,
                    at,
                    record: crate::storage::publications::record_of(&record)?,
                })
            })
            .collect()
        })
        .await
    }
}
