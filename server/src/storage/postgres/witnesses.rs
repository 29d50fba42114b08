//! PostgreSQL: witnesses' cosignatures and alarms.

use super::*;

#[async_trait]
impl WitnessStore for PgStorage {
    async fn put_witness_cosignature(&self, c: &WitnessCosignature) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO witness_cosignatures \
                 (witness, checkpoint_sha256, origin, size, line, signed_at, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[
                    &c.witness,
                    &c.checkpoint_sha256,
                    &c.origin,
                    &i64_of(c.size)?,
                    &c.line,
                    &i64_of(c.signed_at)?,
                    &c.received_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn witness_cosignatures(
        &self,
        checkpoint_sha256: &str,
    ) -> Result<Vec<WitnessCosignature>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT witness, checkpoint_sha256, origin, size, line, signed_at, received_at \
                 FROM witness_cosignatures WHERE checkpoint_sha256 = $1 ORDER BY witness",
                &[&checkpoint_sha256],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WitnessCosignature {
                    witness: r.get(0),
                    checkpoint_sha256: r.get(1),
                    origin: r.get(2),
                    size: u64_of(r.get(3))?,
                    line: r.get(4),
                    signed_at: u64_of(r.get(5))?,
                    received_at: r.get(6),
                })
            })
            .collect()
    }

    async fn witness_cosigned_size(&self, witness: &str, origin: &str) -> Result<Option<u64>> {
        let size: Option<i64> = self
            .pool
            .get()
            .await?
            .query_one(
                "SELECT MAX(size) FROM witness_cosignatures WHERE witness = $1 AND origin = $2",
                &[&witness, &origin],
            )
            .await?
            .get(0);
        size.map(u64_of).transpose()
    }

    async fn put_witness_alarm(&self, a: &WitnessAlarm) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO witness_alarms \
                 (witness, checkpoint_sha256, code, size, witness_size, message, checkpoint, detected_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                &[
                    &a.witness,
                    &a.checkpoint_sha256,
                    &a.code,
                    &i64_of(a.size)?,
                    &a.witness_size.map(i64_of).transpose()?,
                    &a.message,
                    &a.checkpoint,
                    &a.detected_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn witness_alarms(&self) -> Result<Vec<WitnessAlarm>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT witness, checkpoint_sha256, code, size, witness_size, message, checkpoint, \
                 detected_at FROM witness_alarms ORDER BY detected_at DESC, witness, code",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WitnessAlarm {
                    witness: r.get(0),
                    checkpoint_sha256: r.get(1),
                    code: r.get(2),
                    size: u64_of(r.get(3))?,
                    witness_size: r.get::<_, Option<i64>>(4).map(u64_of).transpose()?,
                    message: r.get(5),
                    checkpoint: r.get(6),
                    detected_at: r.get(7),
                })
            })
            .collect()
    }
}
