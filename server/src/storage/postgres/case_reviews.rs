//! PostgreSQL: review rounds, samples and scores.

use super::*;

const ROUND_COLUMNS: &str = "id, agency, year, seed, per_unit, method, drawn_at, drawn_by";

fn round_of(r: &Row) -> Result<ReviewRound> {
    Ok(ReviewRound {
        id: r.get(0),
        agency: r.get(1),
        year: r.get(2),
        seed: r.get(3),
        per_unit: u32::try_from(r.get::<_, i32>(4))
            .map_err(|_| ApiError::storage("review_rounds.per_unit is negative"))?,
        method: r.get(5),
        drawn_at: r.get(6),
        drawn_by: r.get(7),
    })
}

#[async_trait]
impl CaseReviewStore for PgStorage {
    async fn create_review_round(
        &self,
        round: &ReviewRound,
        samples: &[ReviewSample],
    ) -> Result<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let per_unit = i32::try_from(round.per_unit)
            .map_err(|_| ApiError::bad_request("REVIEW_PER_UNIT", "每单位抽取件数过大"))?;
        let n = exec(
            &tx,
            &format!(
                "INSERT INTO review_rounds ({ROUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (agency, year) DO NOTHING"
            ),
            &[
                &round.id,
                &round.agency,
                &round.year,
                &round.seed,
                &per_unit,
                &round.method,
                &round.drawn_at,
                &round.drawn_by,
            ],
        )
        .await?;
        if n == 0 {
            return Ok(false);
        }
        for s in samples {
            let position = i32::try_from(s.position)
                .map_err(|_| ApiError::storage("review sample position out of range"))?;
            exec(
                &tx,
                "INSERT INTO review_samples (round_id, case_id, agency, position, draw_key) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&round.id, &s.case_id, &s.agency, &position, &s.draw_key],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn review_rounds(&self, agencies: &[String]) -> Result<Vec<ReviewRound>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                &format!(
                    "SELECT {ROUND_COLUMNS} FROM review_rounds WHERE agency = ANY($1) \
                     ORDER BY year DESC, agency"
                ),
                &[&agencies],
            )
            .await?;
        rows.iter().map(round_of).collect()
    }

    async fn review_round(
        &self,
        agencies: &[String],
        id: &str,
    ) -> Result<Option<(ReviewRound, Vec<ReviewSample>)>> {
        let client = self.pool.get().await?;
        let Some(row) = client
            .query_opt(
                &format!(
                    "SELECT {ROUND_COLUMNS} FROM review_rounds WHERE id = $1 AND agency = ANY($2)"
                ),
                &[&id, &agencies],
            )
            .await?
        else {
            return Ok(None);
        };
        let round = round_of(&row)?;
        let rows = client
            .query(
                "SELECT case_id, agency, position, draw_key FROM review_samples \
                 WHERE round_id = $1 ORDER BY agency, position",
                &[&id],
            )
            .await?;
        let samples = rows
            .iter()
            .map(|r| {
                Ok(ReviewSample {
                    case_id: r.get(0),
                    agency: r.get(1),
                    position: u32::try_from(r.get::<_, i32>(2))
                        .map_err(|_| ApiError::storage("review sample position is negative"))?,
                    draw_key: r.get(3),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((round, samples)))
    }

    async fn put_review_scores(
        &self,
        round_id: &str,
        case_id: &str,
        scores: &[ReviewScore],
    ) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        exec(
            &tx,
            "DELETE FROM review_scores WHERE round_id = $1 AND case_id = $2",
            &[&round_id, &case_id],
        )
        .await?;
        for s in scores {
            let score = i32::try_from(s.score)
                .map_err(|_| ApiError::bad_request("REVIEW_SCORE_RANGE", "分值过大"))?;
            exec(
                &tx,
                "INSERT INTO review_scores (round_id, case_id, item, score, note, by_login, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&round_id, &case_id, &s.item, &score, &s.note, &s.by, &s.at],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn review_scores(&self, round_id: &str) -> Result<Vec<ReviewScore>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT case_id, item, score, note, by_login, at FROM review_scores \
                 WHERE round_id = $1 ORDER BY case_id, item",
                &[&round_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ReviewScore {
                    case_id: r.get(0),
                    item: r.get(1),
                    score: u32::try_from(r.get::<_, i32>(2))
                        .map_err(|_| ApiError::storage("review score is negative"))?,
                    note: r.get(3),
                    by: r.get(4),
                    at: r.get(5),
                })
            })
            .collect()
    }
}
