//! SQLite: reference bundles.

use super::*;

#[async_trait]
impl BundleStore for SqliteStorage {
    async fn latest_bundle(&self, agency: &str) -> Result<Option<StoredBundle>> {
        let agency = agency.to_string();
        self.read(move |c| {
            let row: Option<(i64, Vec<u8>, Vec<u8>, String)> = c
                .query_row(
                    "SELECT version, manifest, signature, created_at FROM bundles \
                     WHERE agency = ?1 ORDER BY version DESC LIMIT 1",
                    [&agency],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            row.map(|(version, manifest, signature, created_at)| {
                Ok(StoredBundle {
                    agency: agency.clone(),
                    version: u64_of(version)?,
                    manifest,
                    signature,
                    created_at,
                })
            })
            .transpose()
        })
        .await
    }

    async fn bundles(&self, agency: &str) -> Result<Vec<StoredBundle>> {
        let agency = agency.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT version, manifest, signature, created_at FROM bundles \
                 WHERE agency = ?1 ORDER BY version",
            )?;
            let rows = stmt.query_map([&agency], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            rows.map(|r| {
                let (version, manifest, signature, created_at) = r?;
                Ok(StoredBundle {
                    agency: agency.clone(),
                    version: u64_of(version)?,
                    manifest,
                    signature,
                    created_at,
                })
            })
            .collect()
        })
        .await
    }

    async fn put_bundle(
        &self,
        bundle: &StoredBundle,
        components: &[(String, String, Vec<u8>)],
    ) -> Result<bool> {
        let (b, comps) = (bundle.clone(), components.to_vec());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let newest: Option<i64> = tx.query_row(
                "SELECT MAX(version) FROM bundles WHERE agency = ?1",
                [&b.agency],
                |r| r.get(0),
            )?;
            if u64_of(newest.unwrap_or(0))? + 1 != b.version {
                return Ok(false);
            }
            for (name, sha256, bytes) in &comps {
                tx.execute(
                    "INSERT INTO bundle_components (agency, name, sha256, bytes) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    params![b.agency, name, sha256, bytes],
                )?;
            }
            tx.execute(
                "INSERT INTO bundles (agency, version, manifest, signature, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    b.agency,
                    i64_of(b.version)?,
                    b.manifest,
                    b.signature,
                    b.created_at
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn bundle_component(
        &self,
        agency: &str,
        name: &str,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>> {
        let (agency, name, sha256) = (agency.to_string(), name.to_string(), sha256.to_string());
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT bytes FROM bundle_components WHERE agency = ?1 AND name = ?2 AND sha256 = ?3",
                params![agency, name, sha256],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }
}
