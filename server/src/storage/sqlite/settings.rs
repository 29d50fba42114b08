//! SQLite: server-wide settings.

use super::*;

#[async_trait]
impl SettingsStore for SqliteStorage {
    async fn setting_or_insert(&self, name: &str, default: &str) -> Result<String> {
        let (name, default) = (name.to_string(), default.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![name, default],
            )?;
            Ok(
                c.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn setting(&self, name: &str) -> Result<Option<String>> {
        let name = name.to_string();
        self.read(move |c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let prefix = prefix.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT name, value FROM settings WHERE substr(name, 1, length(?1)) = ?1 \
                 ORDER BY name",
            )?;
            let rows = stmt
                .query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn erase_settings(&self, settings: &[(String, String)]) -> Result<u64> {
        let settings = settings.to_vec();
        self.write(move |c| {
            let secure: i64 = c.pragma_query_value(None, "secure_delete", |r| r.get(0))?;
            c.pragma_update(None, "secure_delete", "ON")?;
            let erased = (|| {
                let tx = c.transaction()?;
                let mut n = 0u64;
                for (name, value) in &settings {
                    n += tx.execute(
                        "DELETE FROM settings WHERE name = ?1 AND value = ?2",
                        params![name, value],
                    )? as u64;
                }
                tx.commit()?;
                Ok::<_, ApiError>(n)
            })();
            c.pragma_update(None, "secure_delete", secure)?;
            let n = erased?;
            // The zeroed pages go into the database file and the WAL, which held the page images
            // before, is emptied.
            let (busy, _, _): (i64, i64, i64) =
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            if busy != 0 {
                tracing::warn!(
                    "WAL not truncated after erasing settings (readers busy); \
                     the next idle checkpoint truncates it"
                );
            }
            Ok(n)
        })
        .await
    }
}
