//! PostgreSQL: the review entries of the 法制审核 queue, and 备案 filings.

use super::*;

const REVIEW_SELECT: &str =
    "SELECT e.hash, e.kind, e.case_id, e.agency, e.at, e.leaf_index, e.bytes, e.sig \
     FROM entries e WHERE e.kind IN ('review.request', 'review.opinion') AND e.case_id IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash)";

fn review_of(r: &Row) -> Result<ReviewEntry> {
    Ok(ReviewEntry {
        hash: hex::encode(r.get::<_, Vec<u8>>(0)),
        kind: r.get(1),
        case_id: r.get(2),
        agency: r.get(3),
        at: r.get(4),
        leaf_index: u64_of(r.get(5))?,
        bytes: r.get(6),
        sig: r.get(7),
    })
}

#[async_trait]
impl LegalStore for PgStorage {
    async fn review_entries(&self, agencies: &[String]) -> Result<Vec<ReviewEntry>> {
        let sql = format!("{REVIEW_SELECT} AND e.agency = ANY($1) ORDER BY e.leaf_index");
        let rows = self.pool.get().await?.query(&sql, &[&agencies]).await?;
        rows.iter().map(review_of).collect()
    }

    async fn case_review_entries(&self, case_id: &str) -> Result<Vec<ReviewEntry>> {
        let sql = format!("{REVIEW_SELECT} AND e.case_id = $1 ORDER BY e.leaf_index");
        let rows = self.pool.get().await?.query(&sql, &[&case_id]).await?;
        rows.iter().map(review_of).collect()
    }

    async fn filings(&self, agencies: &[String]) -> Result<Vec<Filing>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT decision_hash, case_id, agency, filed_on, filed_by, recorded_at, note \
                 FROM filings WHERE agency = ANY($1) ORDER BY filed_on, decision_hash",
                &[&agencies],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Filing {
                decision_hash: r.get(0),
                case_id: r.get(1),
                agency: r.get(2),
                filed_on: r.get(3),
                filed_by: r.get(4),
                recorded_at: r.get(5),
                note: r.get(6),
            })
            .collect())
    }

    async fn put_filing(&self, f: &Filing) -> Result<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "INSERT INTO filings (decision_hash, case_id, agency, filed_on, filed_by, recorded_at, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[&f.decision_hash, &f.case_id, &f.agency, &f.filed_on, &f.filed_by, &f.recorded_at, &f.note],
            )
            .await?;
        Ok(n == 1)
    }
}
