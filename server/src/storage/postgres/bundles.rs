//! PostgreSQL: reference bundles.

use super::*;

#[async_trait]
impl BundleStore for PgStorage {
    async fn latest_bundle(&self, agency: &str) -> Result<Option<StoredBundle>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT version, manifest, signature, created_at FROM bundles \
                 WHERE agency = $1 ORDER BY version DESC LIMIT 1",
                &[&agency],
            )
            .await?;
        row.map(|r| {
            Ok(StoredBundle {
                agency: agency.to_string(),
                version: u64_of(r.get(0))?,
                manifest: r.get(1),
                signature: r.get(2),
                created_at: r.get(3),
            })
        })
        .transpose()
    }

    async fn bundles(&self, agency: &str) -> Result<Vec<StoredBundle>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT version, manifest, signature, created_at FROM bundles \
                 WHERE agency = $1 ORDER BY version",
                &[&agency],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredBundle {
                    agency: agency.to_string(),
                    version: u64_of(r.get(0))?,
                    manifest: r.get(1),
                    signature: r.get(2),
                    created_at: r.get(3),
                })
            })
            .collect()
    }

    async fn put_bundle(
        &self,
        bundle: &StoredBundle,
        components: &[(String, String, Vec<u8>)],
    ) -> Result<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let newest: Option<i64> = tx
            .query_one(
                "SELECT MAX(version) FROM bundles WHERE agency = $1",
                &[&bundle.agency],
            )
            .await?
            .get(0);
        if u64_of(newest.unwrap_or(0))? + 1 != bundle.version {
            return Ok(false);
        }
        for (name, sha256, bytes) in components {
            tx.execute(
                "INSERT INTO bundle_components (agency, name, sha256, bytes) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&bundle.agency, name, sha256, bytes],
            )
            .await?;
        }
        // A replica that publishes the same version concurrently waits on the key, then inserts
        // nothing: it lost, and re-reads.
        let inserted = tx
            .execute(
                "INSERT INTO bundles (agency, version, manifest, signature, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agency, version) DO NOTHING",
                &[
                    &bundle.agency,
                    &i64_of(bundle.version)?,
                    &bundle.manifest,
                    &bundle.signature,
                    &bundle.created_at,
                ],
            )
            .await?;
        if inserted != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn bundle_component(
        &self,
        agency: &str,
        name: &str,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT bytes FROM bundle_components WHERE agency = $1 AND name = $2 AND sha256 = $3",
                &[&agency, &name, &sha256],
            )
            .await?
            .map(|r| r.get(0)))
    }
}
