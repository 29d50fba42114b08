//! SQLite: cases and their materialisation from accepted entries, the history query.

use super::*;

#[async_trait]
impl CaseStore for SqliteStorage {
    async fn cases(&self, agencies: &[String]) -> Result<Vec<CaseRow>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT c.id, c.agency, c.status, c.opened_at, \
                 (SELECT COUNT(*) FROM records r WHERE r.case_id = c.id AND r.agency = c.agency), \
                 (SELECT COUNT(*) FROM evidence v WHERE v.case_id = c.id AND v.agency = c.agency) \
                 FROM cases c WHERE c.agency IN ({}) ORDER BY c.opened_at DESC",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?;
            rows.map(|r| {
                let (id, agency, status, opened_at, records, evidence) = r?;
                Ok(CaseRow {
                    id,
                    agency,
                    status,
                    opened_at,
                    records: u64_of(records)?,
                    evidence: u64_of(evidence)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn prior_cases(
        &self,
        agencies: &[String],
        query: &HistoryQuery,
    ) -> Result<Vec<PriorCase>> {
        let (keys, q) = (agencies.to_vec(), query.clone());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT c.id, c.agency, c.status, c.opened_at, e.bytes \
                 FROM entries e JOIN cases c ON c.id = e.case_id AND c.agency = e.agency \
                 WHERE e.kind = 'case.open' AND c.opened_at >= ?1 AND c.agency IN ({}) \
                 AND NOT EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash) \
                 ORDER BY c.opened_at DESC",
                (2..keys.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let mut stmt = c.prepare(&sql)?;
            let params = std::iter::once(&q.since).chain(keys.iter());
            let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (case, agency, status, opened_at, bytes) = row?;
                if let Some((plate, violations)) = opening_matches(&bytes, &q) {
                    out.push(PriorCase {
                        case,
                        agency,
                        opened_at,
                        status,
                        plate,
                        violations,
                    });
                }
            }
            Ok(out)
        })
        .await
    }
}

/// Update the materialised views (cases, records, evidence) for one accepted entry.
pub(super) fn materialise(tx: &rusqlite::Transaction<'_>, e: &NewEntry) -> Result<()> {
    match e.kind.as_str() {
        "case.open" => {
            tx.prepare_cached(
                "INSERT INTO cases (id, agency, status, opened_at) VALUES (?1, ?2, 'draft', ?3) \
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![e.case_id, e.agency, e.at])?;
        }
        "case.finalize" => {
            tx.prepare_cached(
                "UPDATE cases SET status = 'finalized' WHERE id = ?1 AND agency = ?2",
            )?
            .execute(params![e.case_id, e.agency])?;
        }
        "record.create" | "record.amend" => {
            tx.prepare_cached(
                "INSERT INTO records (entry_hash, case_id, agency, kind, supersedes, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &e.hash[..],
                e.case_id,
                e.agency,
                e.kind,
                e.supersedes,
                e.body
            ])?;
            if let Some(target) = e.supersedes.as_deref().and_then(|s| hex::decode(s).ok()) {
                tx.execute(
                    "UPDATE records SET superseded_by = ?1 WHERE entry_hash = ?2 AND agency = ?3",
                    params![&e.hash[..], target, e.agency],
                )?;
            }
        }
        "evidence.add" => {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
            tx.prepare_cached(
                "INSERT INTO evidence (entry_hash, case_id, agency, sha256, size, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &e.hash[..],
                e.case_id,
                e.agency,
                body.get("sha256").and_then(|v| v.as_str()),
                body.get("size").and_then(|v| v.as_i64()),
                e.body
            ])?;
        }
        "entry.void" => {
            if let Some(target) = e.supersedes.as_deref().and_then(|s| hex::decode(s).ok()) {
                tx.execute(
                    "UPDATE records SET superseded_by = ?1 WHERE entry_hash = ?2 AND agency = ?3",
                    params![&e.hash[..], target, e.agency],
                )?;
                tx.execute(
                    "UPDATE evidence SET voided_by = ?1 WHERE entry_hash = ?2 AND agency = ?3",
                    params![&e.hash[..], target, e.agency],
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}
