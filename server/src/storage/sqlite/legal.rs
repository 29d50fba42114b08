//! SQLite: the review entries of the 法制审核 queue, and 备案 filings.

use super::*;

const REVIEW_SELECT: &str =
    "SELECT e.hash, e.kind, e.case_id, e.agency, e.at, e.leaf_index, e.bytes, e.sig \
     FROM entries e WHERE e.kind IN ('review.request', 'review.opinion') AND e.case_id IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash)";

fn review_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ReviewEntry, i64)> {
    Ok((
        ReviewEntry {
            hash: hex::encode(r.get::<_, Vec<u8>>(0)?),
            kind: r.get(1)?,
            case_id: r.get(2)?,
            agency: r.get(3)?,
            at: r.get(4)?,
            leaf_index: 0,
            bytes: r.get(6)?,
            sig: r.get(7)?,
        },
        r.get(5)?,
    ))
}

fn finish(rows: Vec<(ReviewEntry, i64)>) -> Result<Vec<ReviewEntry>> {
    rows.into_iter()
        .map(|(mut e, leaf)| {
            e.leaf_index = u64_of(leaf)?;
            Ok(e)
        })
        .collect()
}

#[async_trait]
impl LegalStore for SqliteStorage {
    async fn review_entries(&self, agencies: &[String]) -> Result<Vec<ReviewEntry>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "{REVIEW_SELECT} AND e.agency IN ({}) ORDER BY e.leaf_index",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(keys.iter()), review_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            finish(rows)
        })
        .await
    }

    async fn case_review_entries(&self, case_id: &str) -> Result<Vec<ReviewEntry>> {
        let case_id = case_id.to_string();
        self.read(move |c| {
            let sql = format!("{REVIEW_SELECT} AND e.case_id = ?1 ORDER BY e.leaf_index");
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt
                .query_map([&case_id], review_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            finish(rows)
        })
        .await
    }

    async fn filings(&self, agencies: &[String]) -> Result<Vec<Filing>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT decision_hash, case_id, agency, filed_on, filed_by, recorded_at, note \
                 FROM filings WHERE agency IN ({}) ORDER BY filed_on, decision_hash",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(keys.iter()), |r| {
                    Ok(Filing {
                        decision_hash: r.get(0)?,
                        case_id: r.get(1)?,
                        agency: r.get(2)?,
                        filed_on: r.get(3)?,
                        filed_by: r.get(4)?,
                        recorded_at: r.get(5)?,
                        note: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn put_filing(&self, f: &Filing) -> Result<bool> {
        let f = f.clone();
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO filings (decision_hash, case_id, agency, filed_on, filed_by, recorded_at, note) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                params![f.decision_hash, f.case_id, f.agency, f.filed_on, f.filed_by, f.recorded_at, f.note],
            )?;
            Ok(n == 1)
        })
        .await
    }
}
