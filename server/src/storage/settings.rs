//! Server-wide settings (`name` → `value`): the log key each origin was first signed with, the
//! rollovers declared, keys an earlier version kept in the database.

use async_trait::async_trait;

use crate::error::Result;

/// Server-wide settings.
#[async_trait]
pub trait SettingsStore: Send + Sync + 'static {
    /// A server-wide setting; stores `default` first if there is none (whichever process wins).
    async fn setting_or_insert(&self, name: &str, default: &str) -> Result<String>;
    /// A server-wide setting, if stored.
    async fn setting(&self, name: &str) -> Result<Option<String>>;
    /// The settings whose names start with `prefix`, in byte order of their names.
    async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>>;
    /// Remove the settings `(name, value)`, each only if it still holds that value, in one
    /// transaction, and leave no copy of the values in the database's files: SQLite overwrites the
    /// freed space (`secure_delete`) and truncates its WAL; PostgreSQL rewrites the table
    /// (`VACUUM FULL`). Returns how many rows were removed. (Copies in backups and archived WAL
    /// made before are out of its reach.)
    async fn erase_settings(&self, settings: &[(String, String)]) -> Result<u64>;
}
