//! SQLite: witnesses' cosignatures and alarms.

use super::*;

fn cosignature_of(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, String, i64, String, i64, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

#[async_trait]
impl WitnessStore for SqliteStorage {
    async fn put_witness_cosignature(&self, c: &WitnessCosignature) -> Result<()> {
        let c = c.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO witness_cosignatures \
                 (witness, checkpoint_sha256, origin, size, line, signed_at, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                params![
                    c.witness,
                    c.checkpoint_sha256,
                    c.origin,
                    i64_of(c.size)?,
                    c.line,
                    i64_of(c.signed_at)?,
                    c.received_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn witness_cosignatures(
        &self,
        checkpoint_sha256: &str,
    ) -> Result<Vec<WitnessCosignature>> {
        let digest = checkpoint_sha256.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT witness, checkpoint_sha256, origin, size, line, signed_at, received_at \
                 FROM witness_cosignatures WHERE checkpoint_sha256 = ?1 ORDER BY witness",
            )?;
            let rows = stmt
                .query_map([&digest], cosignature_of)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(
                    |(witness, checkpoint_sha256, origin, size, line, signed_at, received_at)| {
                        Ok(WitnessCosignature {
                            witness,
                            checkpoint_sha256,
                            origin,
                            size: u64_of(size)?,
                            line,
                            signed_at: u64_of(signed_at)?,
                            received_at,
                        })
                    },
                )
                .collect()
        })
        .await
    }

    async fn witness_cosigned_size(&self, witness: &str, origin: &str) -> Result<Option<u64>> {
        let (witness, origin) = (witness.to_string(), origin.to_string());
        self.read(move |conn| {
            let size: Option<i64> = conn.query_row(
                "SELECT MAX(size) FROM witness_cosignatures WHERE witness = ?1 AND origin = ?2",
                params![witness, origin],
                |r| r.get(0),
            )?;
            size.map(u64_of).transpose()
        })
        .await
    }

    async fn put_witness_alarm(&self, a: &WitnessAlarm) -> Result<()> {
        let a = a.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO witness_alarms \
                 (witness, checkpoint_sha256, code, size, witness_size, message, checkpoint, detected_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                params![
                    a.witness,
                    a.checkpoint_sha256,
                    a.code,
                    i64_of(a.size)?,
                    a.witness_size.map(i64_of).transpose()?,
                    a.message,
                    a.checkpoint,
                    a.detected_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn witness_alarms(&self) -> Result<Vec<WitnessAlarm>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT witness, checkpoint_sha256, code, size, witness_size, message, checkpoint, \
                 detected_at FROM witness_alarms ORDER BY detected_at DESC, witness, code",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(
                    |(
                        witness,
                        checkpoint_sha256,
                        code,
                        size,
                        witness_size,
                        message,
                        checkpoint,
                        detected_at,
                    )| {
                        Ok(WitnessAlarm {
                            witness,
                            checkpoint_sha256,
                            code,
                            size: u64_of(size)?,
                            witness_size: witness_size.map(u64_of).transpose()?,
                            message,
                            checkpoint,
                            detected_at,
                        })
                    },
                )
                .collect()
        })
        .await
    }
}
