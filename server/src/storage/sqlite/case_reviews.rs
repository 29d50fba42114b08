//! SQLite: review rounds, samples and scores.

use super::*;

const ROUND_COLUMNS: &str = "id, agency, year, seed, per_unit, method, drawn_at, drawn_by";

fn round_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReviewRound> {
    Ok(ReviewRound {
        id: r.get(0)?,
        agency: r.get(1)?,
        year: r.get(2)?,
        seed: r.get(3)?,
        per_unit: r.get(4)?,
        method: r.get(5)?,
        drawn_at: r.get(6)?,
        drawn_by: r.get(7)?,
    })
}

#[async_trait]
impl CaseReviewStore for SqliteStorage {
    async fn create_review_round(
        &self,
        round: &ReviewRound,
        samples: &[ReviewSample],
    ) -> Result<bool> {
        let (round, samples) = (round.clone(), samples.to_vec());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                &format!(
                    "INSERT INTO review_rounds ({ROUND_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (agency, year) DO NOTHING"
                ),
                params![
                    round.id,
                    round.agency,
                    round.year,
                    round.seed,
                    round.per_unit,
                    round.method,
                    round.drawn_at,
                    round.drawn_by
                ],
            )?;
            if n == 0 {
                return Ok(false);
            }
            for s in &samples {
                tx.prepare_cached(
                    "INSERT INTO review_samples (round_id, case_id, agency, position, draw_key) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![round.id, s.case_id, s.agency, s.position, s.draw_key])?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn review_rounds(&self, agencies: &[String]) -> Result<Vec<ReviewRound>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut stmt = c.prepare(&format!(
                "SELECT {ROUND_COLUMNS} FROM review_rounds WHERE agency IN ({}) \
                 ORDER BY year DESC, agency",
                in_list(keys.len())
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), round_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn review_round(
        &self,
        agencies: &[String],
        id: &str,
    ) -> Result<Option<(ReviewRound, Vec<ReviewSample>)>> {
        let (keys, id) = (agencies.to_vec(), id.to_string());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(None);
            }
            let sql = format!(
                "SELECT {ROUND_COLUMNS} FROM review_rounds WHERE id = ?1 AND agency IN ({})",
                (2..keys.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let params = std::iter::once(&id).chain(keys.iter());
            let Some(round) = c
                .query_row(&sql, rusqlite::params_from_iter(params), round_row)
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = c.prepare(
                "SELECT case_id, agency, position, draw_key FROM review_samples \
                 WHERE round_id = ?1 ORDER BY agency, position",
            )?;
            let samples = stmt
                .query_map([&id], |r| {
                    Ok(ReviewSample {
                        case_id: r.get(0)?,
                        agency: r.get(1)?,
                        position: r.get(2)?,
                        draw_key: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some((round, samples)))
        })
        .await
    }

    async fn put_review_scores(
        &self,
        round_id: &str,
        case_id: &str,
        scores: &[ReviewScore],
    ) -> Result<()> {
        let (round_id, case_id, scores) =
            (round_id.to_string(), case_id.to_string(), scores.to_vec());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM review_scores WHERE round_id = ?1 AND case_id = ?2",
                params![round_id, case_id],
            )?;
            for s in &scores {
                tx.prepare_cached(
                    "INSERT INTO review_scores (round_id, case_id, item, score, note, by_login, at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![round_id, case_id, s.item, s.score, s.note, s.by, s.at])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn review_scores(&self, round_id: &str) -> Result<Vec<ReviewScore>> {
        let round_id = round_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT case_id, item, score, note, by_login, at FROM review_scores \
                 WHERE round_id = ?1 ORDER BY case_id, item",
            )?;
            let rows = stmt.query_map([&round_id], |r| {
                Ok(ReviewScore {
                    case_id: r.get(0)?,
                    item: r.get(1)?,
                    score: r.get(2)?,
                    note: r.get(3)?,
                    by: r.get(4)?,
                    at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}
