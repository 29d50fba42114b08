//! PostgreSQL backend: for agencies that run several server replicas on one database.
//!
//! `tokio-postgres` through a `deadpool-postgres` pool. The schema is created under an advisory
//! lock (two replicas starting together do not race) and versioned in `schema_version`
//! ([`migrate`]). A batch append locks the log's row (`SELECT … FOR UPDATE`), so concurrent pushes
//! to different replicas are serialised into one log.
//!
//! One file per area, each implementing that area's trait (`accounts.rs` → [`AccountStore`], …);
//! this one holds the pool, the schema's upgrade and the row mappings the areas share.

mod accounts;
mod audit;
mod bundles;
mod case_reviews;
mod cases;
mod devices;
mod legal;
mod log;
mod media;
mod numbers;
mod publications;
mod settings;
mod witnesses;

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use roadside_core::model::OfficerCertificate;
use tokio_postgres::{NoTls, Row};

use crate::error::{ApiError, Result};
use crate::storage::migrate;
use crate::storage::*;

/// Advisory lock key for schema creation ("roadside" in ASCII).
const MIGRATION_LOCK: i64 = 0x726f_6164_7369_6465;

pub struct PgStorage {
    pool: Pool,
    commits: CommitObservers,
}

impl PgStorage {
    /// Connect and create or upgrade the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            ApiError::internal("DATABASE_URL_INVALID", format!("数据库地址无效：{e}"))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| ApiError::internal("DATABASE_POOL_FAILED", e.to_string()))?;
        let storage = PgStorage {
            pool,
            commits: CommitObservers::default(),
        };
        storage.migrate().await?;
        Ok(storage)
    }

    /// Create or upgrade the schema ([`migrate`]) under the advisory lock (two replicas starting
    /// together do not race): each version still needed applied in a transaction of its own, which
    /// records it in `schema_version`.
    async fn migrate(&self) -> Result<()> {
        let mut client = self.pool.get().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                )
                .await?;
            let found: Option<i32> = client
                .query_opt("SELECT version FROM schema_version", &[])
                .await?
                .map(|r| r.get(0));
            for m in migrate::pending(found.map_or(0, i64::from), migrate::POSTGRES)? {
                let version = i32::try_from(m.version)
                    .map_err(|_| ApiError::storage("schema version beyond i32"))?;
                let tx = client.transaction().await?;
                tx.batch_execute(m.sql).await?;
                let updated = tx
                    .execute("UPDATE schema_version SET version = $1", &[&version])
                    .await?;
                if updated == 0 {
                    tx.execute(
                        "INSERT INTO schema_version (version) VALUES ($1)",
                        &[&version],
                    )
                    .await?;
                }
                tx.commit().await?;
            }
            Ok(())
        }
        .await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        result
    }
}

const DEVICE_COLUMNS: &str =
    "id, public_key, agency, certificate_no, name, enrolled_at, revoked_at, head_seq, head_hash";

fn device_of(r: &Row) -> Result<Device> {
    let hash: Option<Vec<u8>> = r.get(8);
    Ok(Device {
        id: r.get(0),
        public_key: r.get(1),
        agency: r.get(2),
        certificate_no: r.get(3),
        name: r.get(4),
        enrolled_at: r.get(5),
        revoked_at: r.get(6),
        head_seq: u64_of(r.get(7))?,
        head_hash: hash.as_deref().map(hash32).transpose()?,
    })
}

/// A transaction from the pool: its statements are prepared once per connection and cached
/// (`prepare_cached`), so each costs one round trip instead of two (parse, then execute) — most of
/// them run while the log's lock is held.
type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Runs one statement with a cached prepared statement.
async fn exec(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

#[async_trait]
impl Storage for PgStorage {
    fn backend(&self) -> &'static str {
        "postgresql"
    }

    async fn ping(&self) -> Result<()> {
        self.pool.get().await?.execute("SELECT 1", &[]).await?;
        Ok(())
    }
}
