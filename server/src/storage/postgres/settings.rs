//! PostgreSQL: server-wide settings.

use super::*;

#[async_trait]
impl SettingsStore for PgStorage {
    async fn setting_or_insert(&self, name: &str, default: &str) -> Result<String> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &default],
        )
        .await?;
        Ok(
            c.query_one("SELECT value FROM settings WHERE name = $1", &[&name])
                .await?
                .get(0),
        )
    }

    async fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .pool
            .get()
            .await?
            .query_opt("SELECT value FROM settings WHERE name = $1", &[&name])
            .await?
            .map(|r| r.get(0)))
    }

    async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .pool
            .get()
            .await?
            .query(
                "SELECT name, value FROM settings WHERE left(name, length($1)) = $1 \
                 ORDER BY name COLLATE \"C\"",
                &[&prefix],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    async fn erase_settings(&self, settings: &[(String, String)]) -> Result<u64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let mut n = 0u64;
        for (name, value) in settings {
            n += tx
                .execute(
                    "DELETE FROM settings WHERE name = $1 AND value = $2",
                    &[name, value],
                )
                .await?;
        }
        tx.commit().await?;
        if n > 0 {
            // The deleted row versions stay in the table's pages until rewritten.
            c.batch_execute("VACUUM FULL settings").await?;
        }
        Ok(n)
    }
}
