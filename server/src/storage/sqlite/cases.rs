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
                "SELECT {CASE_COLUMNS} FROM cases c WHERE c.agency IN ({}) \
                 ORDER BY c.opened_at DESC",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), case_columns)?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    async fn case_page(
        &self,
        agencies: &[String],
        filter: &CaseFilter,
    ) -> Result<(Vec<CaseSummary>, u64)> {
        let (keys, f) = (agencies.to_vec(), filter.clone());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok((Vec::new(), 0));
            }
            let (clause, params) = filter_sql(&keys, &f, |i| format!("?{i}"));
            let total: i64 = c.query_row(
                &format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM cases c WHERE {clause} LIMIT {}) AS n",
                    COUNT_CAP + 1
                ),
                rusqlite::params_from_iter(params.iter()),
                |r| r.get(0),
            )?;
            let sql = format!(
                "SELECT {CASE_COLUMNS}, {INDEX_COLUMNS} FROM cases c WHERE {clause} \
                 ORDER BY c.opened_at DESC, c.id DESC LIMIT {} OFFSET {}",
                f.limit.min(i64::MAX as u64),
                f.offset.min(i64::MAX as u64)
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| {
                Ok((case_columns(r)?, index_columns(r, 7)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (case, index) = row?;
                out.push(CaseSummary { case: case?, index });
            }
            Ok((out, u64_of(total)?))
        })
        .await
    }

    async fn case_stats(
        &self,
        agencies: &[String],
        from: &str,
        before: &str,
    ) -> Result<Vec<CaseStat>> {
        let f = CaseFilter {
            opened_from: Some(from.to_string()),
            opened_before: Some(before.to_string()),
            ..CaseFilter::default()
        };
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let (clause, params) = filter_sql(&keys, &f, |i| format!("?{i}"));
            let mut stmt = c.prepare(&format!(
                "SELECT c.agency, c.opened_at, c.status, {INDEX_COLUMNS} FROM cases c WHERE {clause}"
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| {
                Ok(CaseStat {
                    agency: r.get(0)?,
                    opened_at: r.get(1)?,
                    status: r.get(2)?,
                    index: index_columns(r, 3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn cases_unindexed(&self) -> Result<bool> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM cases WHERE items IS NULL)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn reindex_cases(&self) -> Result<u64> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE cases SET plate = NULL, items = '', officers = '', procedure = NULL, \
                 outcome = NULL, total_yuan = NULL, deviates = 0, decided_on = NULL",
                [],
            )?;
            let entries: Vec<(String, String, String, String, Vec<u8>)> = {
                let mut stmt = tx.prepare(
                    "SELECT e.kind, e.case_id, e.agency, e.officers, e.bytes FROM entries e \
                     WHERE e.kind IN ('case.open', 'decision.penalty', 'decision.no_penalty') \
                     AND e.case_id IS NOT NULL \
                     AND NOT EXISTS (SELECT 1 FROM entry_refusals f WHERE f.entry_hash = e.hash) \
                     ORDER BY e.leaf_index",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for (kind, case_id, agency, officers, bytes) in entries {
                let entry: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let body = entry.get("body").cloned().unwrap_or_default();
                if let Some(change) = index_change(&kind, &set_of(&officers), &body) {
                    apply_index(&tx, &case_id, &agency, &change)?;
                }
            }
            let n: i64 = tx.query_row("SELECT COUNT(*) FROM cases", [], |r| r.get(0))?;
            tx.commit()?;
            u64_of(n)
        })
        .await
    }

    async fn signed_case_entries(&self, agency: &str, id: &str) -> Result<Vec<SignedCaseEntry>> {
        let (agency, id) = (agency.to_string(), id.to_string());
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT hash, device_id, bytes, sig, leaf_index, checkpoint_size FROM entries \
                 WHERE case_id = ?1 AND agency = ?2 ORDER BY leaf_index",
            )?;
            let rows = stmt.query_map(params![id, agency], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?;
            rows.map(|r| {
                let (hash, device_id, bytes, sig, leaf, size) = r?;
                Ok(SignedCaseEntry {
                    hash: hash32(&hash)?,
                    device_id,
                    bytes,
                    sig,
                    leaf_index: u64_of(leaf)?,
                    checkpoint_size: u64_of(size)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn case_detail(&self, agencies: &[String], id: &str) -> Result<Option<CaseDetail>> {
        let (keys, id) = (agencies.to_vec(), id.to_string());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(None);
            }
            let sql = format!(
                "SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = ?1 AND c.agency IN ({})",
                (2..keys.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let params = std::iter::once(&id).chain(keys.iter());
            let Some(case) = c
                .query_row(&sql, rusqlite::params_from_iter(params), case_columns)
                .optional()?
                .transpose()?
            else {
                return Ok(None);
            };
            let mut stmt = c.prepare(&format!(
                "SELECT {CASE_ENTRY_COLUMNS} FROM entries e \
                 LEFT JOIN entry_refusals f ON f.entry_hash = e.hash \
                 WHERE e.case_id = ?1 AND e.agency = ?2 ORDER BY e.leaf_index"
            ))?;
            let rows = stmt.query_map(params![case.id, case.agency], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })?;
            let entries = rows
                .map(|r| {
                    let (hash, device, seq, leaf, size, bytes, code, message) = r?;
                    case_entry(&hash, device, seq, leaf, size, &bytes, code, message)
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(CaseDetail { case, entries }))
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

/// A [`CaseRow`] from the [`CASE_COLUMNS`].
fn case_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<CaseRow>> {
    let (records, evidence): (i64, i64) = (r.get(4)?, r.get(5)?);
    let (id, agency, status, opened_at, decided) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(6)?);
    Ok((|| {
        Ok(CaseRow {
            id,
            agency,
            status,
            opened_at,
            records: u64_of(records)?,
            evidence: u64_of(evidence)?,
            decided,
        })
    })())
}

/// A [`CaseIndex`] from the [`INDEX_COLUMNS`] starting at column `at`.
fn index_columns(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<CaseIndex> {
    Ok(CaseIndex {
        plate: r.get(at)?,
        items: set_of(&r.get::<_, Option<String>>(at + 1)?.unwrap_or_default()),
        officers: set_of(&r.get::<_, Option<String>>(at + 2)?.unwrap_or_default()),
        procedure: r.get(at + 3)?,
        outcome: r.get(at + 4)?,
        total_yuan: r.get(at + 5)?,
        deviates: r.get::<_, Option<bool>>(at + 6)?.unwrap_or(false),
        decided_on: r.get(at + 7)?,
    })
}

/// Apply an index change to a stored case (nothing when the case is not stored).
fn apply_index(
    tx: &rusqlite::Transaction<'_>,
    case_id: &str,
    agency: &str,
    change: &IndexChange,
) -> Result<()> {
    let before = tx
        .prepare_cached(&format!(
            "SELECT {INDEX_COLUMNS} FROM cases c WHERE c.id = ?1 AND c.agency = ?2"
        ))?
        .query_row(params![case_id, agency], |r| index_columns(r, 0))
        .optional()?;
    let Some(before) = before else {
        return Ok(());
    };
    let i = change.apply(before);
    tx.prepare_cached(
        "UPDATE cases SET plate = ?3, items = ?4, officers = ?5, procedure = ?6, outcome = ?7, \
         total_yuan = ?8, deviates = ?9, decided_on = ?10 WHERE id = ?1 AND agency = ?2",
    )?
    .execute(params![
        case_id,
        agency,
        i.plate,
        set_text(&i.items),
        set_text(&i.officers),
        i.procedure,
        i.outcome,
        i.total_yuan,
        i.deviates,
        i.decided_on
    ])?;
    Ok(())
}

/// Update the materialised views (cases, records, evidence) for one accepted entry.
pub(super) fn materialise(tx: &rusqlite::Transaction<'_>, e: &NewEntry) -> Result<()> {
    if let Some(case_id) = &e.case_id {
        if matches!(e.kind.as_str(), "decision.penalty" | "decision.no_penalty") {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
            if let Some(change) = index_change(&e.kind, &e.officers, &body) {
                apply_index(tx, case_id, &e.agency, &change)?;
            }
        }
    }
    match e.kind.as_str() {
        "case.open" => {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
            let i = match index_change(&e.kind, &e.officers, &body) {
                Some(IndexChange::Open(i)) => i,
                _ => CaseIndex::default(),
            };
            tx.prepare_cached(
                "INSERT INTO cases (id, agency, status, opened_at, plate, items, officers) \
                 VALUES (?1, ?2, 'draft', ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                e.case_id,
                e.agency,
                e.at,
                i.plate,
                set_text(&i.items),
                set_text(&i.officers)
            ])?;
        }
        "case.finalize" => {
            tx.prepare_cached(
                "UPDATE cases SET status = 'finalized' WHERE id = ?1 AND agency = ?2",
            )?
            .execute(params![e.case_id, e.agency])?;
        }
        // Closing is the last step; what must hold before it (payment, measures released) is the
        // device's check, not re-checked here (it needs the whole case).
        "case.close" => {
            tx.prepare_cached("UPDATE cases SET status = 'closed' WHERE id = ?1 AND agency = ?2")?
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
