//! PostgreSQL: cases and their materialisation from accepted entries, the history query.

use super::*;

#[async_trait]
impl CaseStore for PgStorage {
    async fn cases(&self, agencies: &[String]) -> Result<Vec<CaseRow>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                &format!(
                    "SELECT {CASE_COLUMNS} FROM cases c WHERE c.agency = ANY($1) \
                     ORDER BY c.opened_at DESC"
                ),
                &[&agencies],
            )
            .await?;
        rows.iter().map(case_row).collect()
    }

    async fn case_page(
        &self,
        agencies: &[String],
        filter: &CaseFilter,
    ) -> Result<(Vec<CaseSummary>, u64)> {
        if agencies.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let (clause, params) = filter_sql(agencies, filter, |i| format!("${i}"));
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let client = self.pool.get().await?;
        let total: i64 = client
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM cases c WHERE {clause} LIMIT {}) AS n",
                    COUNT_CAP + 1
                ),
                &refs,
            )
            .await?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT {CASE_COLUMNS}, {INDEX_COLUMNS} FROM cases c WHERE {clause} \
                     ORDER BY c.opened_at DESC, c.id DESC LIMIT {} OFFSET {}",
                    filter.limit.min(i64::MAX as u64),
                    filter.offset.min(i64::MAX as u64)
                ),
                &refs,
            )
            .await?;
        let out = rows
            .iter()
            .map(|r| {
                Ok(CaseSummary {
                    case: case_row(r)?,
                    index: index_row(r, 7),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((out, u64_of(total)?))
    }

    async fn case_stats(
        &self,
        agencies: &[String],
        from: &str,
        before: &str,
    ) -> Result<Vec<CaseStat>> {
        if agencies.is_empty() {
            return Ok(Vec::new());
        }
        let f = CaseFilter {
            opened_from: Some(from.to_string()),
            opened_before: Some(before.to_string()),
            ..CaseFilter::default()
        };
        let (clause, params) = filter_sql(agencies, &f, |i| format!("${i}"));
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let rows = self
            .pool
            .get()
            .await?
            .query(
                &format!(
                    "SELECT c.agency, c.opened_at, c.status, {INDEX_COLUMNS} FROM cases c WHERE {clause}"
                ),
                &refs,
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| CaseStat {
                agency: r.get(0),
                opened_at: r.get(1),
                status: r.get(2),
                index: index_row(r, 3),
            })
            .collect())
    }

    async fn cases_unindexed(&self) -> Result<bool> {
        Ok(self
            .pool
            .get()
            .await?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM cases WHERE items IS NULL)",
                &[],
            )
            .await?
            .get(0))
    }

    async fn reindex_cases(&self) -> Result<u64> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The log's lock: no batch materialises while the index is rebuilt.
        tx.execute("SELECT size FROM log_state WHERE id = 1 FOR UPDATE", &[])
            .await?;
        tx.execute(
            "UPDATE cases SET plate = NULL, items = '', officers = '', procedure = NULL, \
             outcome = NULL, total_yuan = NULL, deviates = FALSE, decided_on = NULL",
            &[],
        )
        .await?;
        let rows = tx
            .query(
                "SELECT e.kind, e.case_id, e.agency, e.officers, e.bytes FROM entries e \
                 WHERE e.kind IN ('case.open', 'decision.penalty', 'decision.no_penalty') \
                 AND e.case_id IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM entry_refusals f WHERE f.entry_hash = e.hash) \
                 ORDER BY e.leaf_index",
                &[],
            )
            .await?;
        for r in &rows {
            let (kind, case_id, agency, officers, bytes): (
                String,
                String,
                String,
                String,
                Vec<u8>,
            ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            let entry: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let body = entry.get("body").cloned().unwrap_or_default();
            if let Some(change) = index_change(&kind, &set_of(&officers), &body) {
                apply_index(&tx, &case_id, &agency, &change).await?;
            }
        }
        let n: i64 = tx
            .query_one("SELECT COUNT(*) FROM cases", &[])
            .await?
            .get(0);
        tx.commit().await?;
        u64_of(n)
    }

    async fn signed_case_entries(&self, agency: &str, id: &str) -> Result<Vec<SignedCaseEntry>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT hash, device_id, bytes, sig, leaf_index, checkpoint_size FROM entries \
                 WHERE case_id = $1 AND agency = $2 ORDER BY leaf_index",
                &[&id, &agency],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let hash: Vec<u8> = r.get(0);
                Ok(SignedCaseEntry {
                    hash: hash32(&hash)?,
                    device_id: r.get(1),
                    bytes: r.get(2),
                    sig: r.get(3),
                    leaf_index: u64_of(r.get(4))?,
                    checkpoint_size: u64_of(r.get(5))?,
                })
            })
            .collect()
    }

    async fn case_detail(&self, agencies: &[String], id: &str) -> Result<Option<CaseDetail>> {
        let client = self.pool.get().await?;
        let Some(row) = client
            .query_opt(
                &format!(
                    "SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = $1 AND c.agency = ANY($2)"
                ),
                &[&id, &agencies],
            )
            .await?
        else {
            return Ok(None);
        };
        let case = case_row(&row)?;
        let rows = client
            .query(
                &format!(
                    "SELECT {CASE_ENTRY_COLUMNS} FROM entries e \
                     LEFT JOIN entry_refusals f ON f.entry_hash = e.hash \
                     WHERE e.case_id = $1 AND e.agency = $2 ORDER BY e.leaf_index"
                ),
                &[&case.id, &case.agency],
            )
            .await?;
        let entries = rows
            .iter()
            .map(|r| {
                let (hash, bytes): (Vec<u8>, Vec<u8>) = (r.get(0), r.get(5));
                case_entry(
                    &hash,
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    &bytes,
                    r.get(6),
                    r.get(7),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(CaseDetail { case, entries }))
    }

    async fn prior_cases(
        &self,
        agencies: &[String],
        query: &HistoryQuery,
    ) -> Result<Vec<PriorCase>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT c.id, c.agency, c.status, c.opened_at, e.bytes \
                 FROM entries e JOIN cases c ON c.id = e.case_id AND c.agency = e.agency \
                 WHERE e.kind = 'case.open' AND c.opened_at >= $1 AND c.agency = ANY($2) \
                 AND NOT EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash) \
                 ORDER BY c.opened_at DESC",
                &[&query.since, &agencies],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let bytes: Vec<u8> = r.get(4);
                let (plate, violations) = opening_matches(&bytes, query)?;
                Some(PriorCase {
                    case: r.get(0),
                    agency: r.get(1),
                    opened_at: r.get(3),
                    status: r.get(2),
                    plate,
                    violations,
                })
            })
            .collect())
    }
}

/// A [`CaseRow`] from the [`CASE_COLUMNS`].
fn case_row(r: &Row) -> Result<CaseRow> {
    Ok(CaseRow {
        id: r.get(0),
        agency: r.get(1),
        status: r.get(2),
        opened_at: r.get(3),
        records: u64_of(r.get(4))?,
        evidence: u64_of(r.get(5))?,
        decided: r.get(6),
    })
}

/// A [`CaseIndex`] from the [`INDEX_COLUMNS`] starting at column `at`.
fn index_row(r: &Row, at: usize) -> CaseIndex {
    CaseIndex {
        plate: r.get(at),
        items: set_of(r.get::<_, Option<&str>>(at + 1).unwrap_or_default()),
        officers: set_of(r.get::<_, Option<&str>>(at + 2).unwrap_or_default()),
        procedure: r.get(at + 3),
        outcome: r.get(at + 4),
        total_yuan: r.get(at + 5),
        deviates: r.get::<_, Option<bool>>(at + 6).unwrap_or(false),
        decided_on: r.get(at + 7),
    }
}

/// Apply an index change to a stored case (nothing when the case is not stored).
async fn apply_index(tx: &Tx<'_>, case_id: &str, agency: &str, change: &IndexChange) -> Result<()> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {INDEX_COLUMNS} FROM cases c WHERE c.id = $1 AND c.agency = $2"
        ))
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&case_id, &agency]).await? else {
        return Ok(());
    };
    let i = change.apply(index_row(&row, 0));
    exec(
        tx,
        "UPDATE cases SET plate = $3, items = $4, officers = $5, procedure = $6, outcome = $7, \
         total_yuan = $8, deviates = $9, decided_on = $10 WHERE id = $1 AND agency = $2",
        &[
            &case_id,
            &agency,
            &i.plate,
            &set_text(&i.items),
            &set_text(&i.officers),
            &i.procedure,
            &i.outcome,
            &i.total_yuan,
            &i.deviates,
            &i.decided_on,
        ],
    )
    .await?;
    Ok(())
}

async fn materialise(tx: &Tx<'_>, e: &NewEntry) -> Result<()> {
    let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
    if let Some(case_id) = &e.case_id {
        if matches!(e.kind.as_str(), "decision.penalty" | "decision.no_penalty") {
            if let Some(change) = index_change(&e.kind, &e.officers, &body) {
                apply_index(tx, case_id, &e.agency, &change).await?;
            }
        }
    }
    let hash = &e.hash[..];
    let target = e.supersedes.as_deref().and_then(|s| hex::decode(s).ok());
    match e.kind.as_str() {
        "case.open" => {
            let i = opening_index(e, &body);
            exec(
                tx,
                "INSERT INTO cases (id, agency, status, opened_at, plate, items, officers) \
                 VALUES ($1, $2, 'draft', $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[
                    &e.case_id,
                    &e.agency,
                    &e.at,
                    &i.plate,
                    &set_text(&i.items),
                    &set_text(&i.officers),
                ],
            )
            .await?;
        }
        "case.finalize" => {
            exec(
                tx,
                "UPDATE cases SET status = 'finalized' WHERE id = $1 AND agency = $2",
                &[&e.case_id, &e.agency],
            )
            .await?;
        }
        // Closing is the last step; what must hold before it (payment, measures released) is the
        // device's check, not re-checked here (it needs the whole case).
        "case.close" => {
            exec(
                tx,
                "UPDATE cases SET status = 'closed' WHERE id = $1 AND agency = $2",
                &[&e.case_id, &e.agency],
            )
            .await?;
        }
        "record.create" | "record.amend" => {
            exec(
                tx,
                "INSERT INTO records (entry_hash, case_id, agency, kind, supersedes, body) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &hash,
                    &e.case_id,
                    &e.agency,
                    &e.kind,
                    &e.supersedes,
                    &e.body,
                ],
            )
            .await?;
            if let Some(target) = &target {
                exec(
                    tx,
                    "UPDATE records SET superseded_by = $1 WHERE entry_hash = $2 AND agency = $3",
                    &[&hash, target, &e.agency],
                )
                .await?;
            }
        }
        "evidence.add" => {
            let sha = body.get("sha256").and_then(|v| v.as_str());
            let size = body.get("size").and_then(|v| v.as_i64());
            exec(
                tx,
                "INSERT INTO evidence (entry_hash, case_id, agency, sha256, size, body) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&hash, &e.case_id, &e.agency, &sha, &size, &e.body],
            )
            .await?;
        }
        "entry.void" => {
            if let Some(target) = &target {
                exec(
                    tx,
                    "UPDATE records SET superseded_by = $1 WHERE entry_hash = $2 AND agency = $3",
                    &[&hash, target, &e.agency],
                )
                .await?;
                exec(
                    tx,
                    "UPDATE evidence SET voided_by = $1 WHERE entry_hash = $2 AND agency = $3",
                    &[&hash, target, &e.agency],
                )
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The index columns a `case.open` entry sets.
fn opening_index(e: &NewEntry, body: &serde_json::Value) -> CaseIndex {
    match index_change(&e.kind, &e.officers, body) {
        Some(IndexChange::Open(i)) => i,
        _ => CaseIndex::default(),
    }
}

/// Rows to insert for a run of entries, written together.
#[derive(Default)]
struct PendingRows<'a> {
    cases: Vec<(&'a Option<String>, &'a str, CaseIndex)>,
    records: Vec<&'a NewEntry>,
    evidence: Vec<(&'a NewEntry, Option<String>, Option<i64>)>,
}

impl PendingRows<'_> {
    /// Write the pending rows: one statement per table.
    async fn flush(&mut self, tx: &Tx<'_>, agency: &str) -> Result<()> {
        if !self.cases.is_empty() {
            let ids: Vec<Option<&str>> = self.cases.iter().map(|c| c.0.as_deref()).collect();
            let ats: Vec<&str> = self.cases.iter().map(|c| c.1).collect();
            let plates: Vec<Option<&str>> =
                self.cases.iter().map(|c| c.2.plate.as_deref()).collect();
            let items: Vec<String> = self.cases.iter().map(|c| set_text(&c.2.items)).collect();
            let officers: Vec<String> =
                self.cases.iter().map(|c| set_text(&c.2.officers)).collect();
            exec(
                tx,
                "INSERT INTO cases (id, agency, status, opened_at, plate, items, officers) \
                 SELECT i, $2, 'draft', a, p, m, o FROM UNNEST($1::TEXT[], $3::TEXT[], \
                 $4::TEXT[], $5::TEXT[], $6::TEXT[]) AS t(i, a, p, m, o) \
                 ON CONFLICT (id) DO NOTHING",
                &[&ids, &agency, &ats, &plates, &items, &officers],
            )
            .await?;
        }
        if !self.records.is_empty() {
            let r = &self.records;
            let hashes: Vec<&[u8]> = r.iter().map(|e| &e.hash[..]).collect();
            let cases: Vec<Option<&str>> = r.iter().map(|e| e.case_id.as_deref()).collect();
            let kinds: Vec<&str> = r.iter().map(|e| e.kind.as_str()).collect();
            let sup: Vec<Option<&str>> = r.iter().map(|e| e.supersedes.as_deref()).collect();
            let bodies: Vec<&str> = r.iter().map(|e| e.body.as_str()).collect();
            exec(
                tx,
                "INSERT INTO records (entry_hash, case_id, agency, kind, supersedes, body) \
                 SELECT h, c, $3, k, s, b FROM UNNEST($1::BYTEA[], $2::TEXT[], $4::TEXT[], \
                 $5::TEXT[], $6::TEXT[]) AS t(h, c, k, s, b)",
                &[&hashes, &cases, &agency, &kinds, &sup, &bodies],
            )
            .await?;
        }
        if !self.evidence.is_empty() {
            let v = &self.evidence;
            let hashes: Vec<&[u8]> = v.iter().map(|e| &e.0.hash[..]).collect();
            let cases: Vec<Option<&str>> = v.iter().map(|e| e.0.case_id.as_deref()).collect();
            let shas: Vec<Option<&str>> = v.iter().map(|e| e.1.as_deref()).collect();
            let sizes: Vec<Option<i64>> = v.iter().map(|e| e.2).collect();
            let bodies: Vec<&str> = v.iter().map(|e| e.0.body.as_str()).collect();
            exec(
                tx,
                "INSERT INTO evidence (entry_hash, case_id, agency, sha256, size, body) \
                 SELECT h, c, $3, s, z, b FROM UNNEST($1::BYTEA[], $2::TEXT[], $4::TEXT[], \
                 $5::BIGINT[], $6::TEXT[]) AS t(h, c, s, z, b)",
                &[&hashes, &cases, &agency, &shas, &sizes, &bodies],
            )
            .await?;
        }
        *self = PendingRows::default();
        Ok(())
    }
}

/// Materialise a batch's accepted entries (refused ones are only logged). Inserts are gathered
/// and written a table at a time; before any update (finalize, amend, void) the rows gathered so
/// far are written, so the result is the same as applying the entries one by one in order.
pub(super) async fn materialise_all(tx: &Tx<'_>, entries: &[NewEntry]) -> Result<()> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    let agency = first.agency.as_str();
    let mut pending = PendingRows::default();
    for e in entries.iter().filter(|e| e.refusal.is_none()) {
        match e.kind.as_str() {
            "case.open" => {
                let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
                pending
                    .cases
                    .push((&e.case_id, e.at.as_str(), opening_index(e, &body)));
            }
            "record.create" => pending.records.push(e),
            "evidence.add" => {
                let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
                pending.evidence.push((
                    e,
                    body.get("sha256")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    body.get("size").and_then(|v| v.as_i64()),
                ));
            }
            _ => {
                pending.flush(tx, agency).await?;
                materialise(tx, e).await?;
            }
        }
    }
    pending.flush(tx, agency).await
}
