//! PostgreSQL backend: for agencies that run several server replicas on one database.
//!
//! `tokio-postgres` through a `deadpool-postgres` pool. The schema is created under an advisory lock
//! (two replicas starting together do not race) and versioned in `schema_version`. A batch append
//! locks the log's row (`SELECT … FOR UPDATE`), so concurrent pushes to different replicas are
//! serialised into one log.
//!
//! One file per area, each implementing that area's trait (`accounts.rs` → [`AccountStore`], …);
//! this one holds the pool, the schema and the row mappings the areas share.

mod accounts;
mod audit;
mod bundles;
mod cases;
mod devices;
mod log;
mod media;
mod settings;

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use roadside_core::model::OfficerCertificate;
use tokio_postgres::{NoTls, Row};

use crate::error::{ApiError, Result};
use crate::storage::*;

const SCHEMA_V1: &str = r#"
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE agencies (code TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT);
CREATE TABLE officers (
    certificate_no TEXT PRIMARY KEY, name TEXT NOT NULL, agency TEXT NOT NULL, role TEXT NOT NULL,
    valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, revoked_on TEXT);
CREATE INDEX officers_agency ON officers (agency);
CREATE TABLE accounts (
    login TEXT PRIMARY KEY, agency TEXT NOT NULL, role TEXT NOT NULL, certificate_no TEXT,
    password_hash TEXT NOT NULL, disabled BOOLEAN NOT NULL DEFAULT FALSE);
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY, login TEXT NOT NULL, agency TEXT NOT NULL, role TEXT NOT NULL,
    expires_at TEXT NOT NULL);
CREATE TABLE enrolment_codes (
    code_hash BYTEA PRIMARY KEY, agency TEXT NOT NULL, certificate_no TEXT NOT NULL,
    created_by TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT, device_id TEXT);
CREATE TABLE devices (
    id TEXT PRIMARY KEY, public_key TEXT NOT NULL UNIQUE, agency TEXT NOT NULL,
    certificate_no TEXT NOT NULL, name TEXT NOT NULL, token_hash BYTEA NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL, revoked_at TEXT, head_seq BIGINT NOT NULL DEFAULT 0, head_hash BYTEA);
CREATE TABLE entries (
    hash BYTEA PRIMARY KEY, device_id TEXT NOT NULL, seq BIGINT NOT NULL,
    leaf_index BIGINT NOT NULL UNIQUE, checkpoint_size BIGINT NOT NULL, agency TEXT NOT NULL,
    kind TEXT NOT NULL, case_id TEXT, at TEXT NOT NULL, officers TEXT NOT NULL,
    bytes BYTEA NOT NULL, sig BYTEA NOT NULL, UNIQUE (device_id, seq));
CREATE TABLE cases (
    id TEXT PRIMARY KEY, agency TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT);
CREATE INDEX cases_agency ON cases (agency);
CREATE TABLE records (
    entry_hash BYTEA PRIMARY KEY, case_id TEXT, agency TEXT NOT NULL, kind TEXT NOT NULL,
    supersedes TEXT, superseded_by BYTEA, body TEXT NOT NULL);
CREATE TABLE evidence (
    entry_hash BYTEA PRIMARY KEY, case_id TEXT, agency TEXT NOT NULL, sha256 TEXT,
    size BIGINT, voided_by BYTEA, body TEXT NOT NULL);
CREATE TABLE log_state (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL);
INSERT INTO log_state (id, size) VALUES (1, 0);
CREATE TABLE log_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, data BYTEA NOT NULL,
    PRIMARY KEY (level, idx));
CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL);
"#;

/// Version 2: resumable media uploads and the media objects each agency holds.
const SCHEMA_V2_MEDIA: &str = r#"
CREATE TABLE media_uploads (
    id TEXT PRIMARY KEY, agency TEXT NOT NULL, device_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    length BIGINT NOT NULL, upload_offset BIGINT NOT NULL, hash_state BYTEA NOT NULL,
    parts TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE INDEX media_uploads_expires ON media_uploads (expires_at);
CREATE INDEX media_uploads_sha256 ON media_uploads (sha256, agency);
CREATE TABLE media_objects (
    sha256 TEXT NOT NULL, agency TEXT NOT NULL, size BIGINT NOT NULL, stored_at TEXT NOT NULL,
    PRIMARY KEY (sha256, agency));
CREATE INDEX evidence_sha256 ON evidence (sha256);
"#;

/// Reference bundles (`crate::bundles`): created if missing, independent of the numbered versions.
const SCHEMA_BUNDLES: &str = r#"
CREATE TABLE IF NOT EXISTS bundles (
    agency TEXT NOT NULL, version BIGINT NOT NULL, manifest BYTEA NOT NULL, signature BYTEA NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (agency, version));
CREATE TABLE IF NOT EXISTS bundle_components (
    agency TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, bytes BYTEA NOT NULL,
    PRIMARY KEY (agency, name, sha256));
"#;

impl PgStorage {
    /// The bundle tables, under the schema lock (two replicas starting together do not race).
    async fn migrate_bundles(&self) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = client.batch_execute(SCHEMA_BUNDLES).await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        Ok(result?)
    }
}

/// Entries a business check refused (`crate::ingest`): logged and chained, not materialised; the
/// answer is kept to give it again. Created if missing, independent of the numbered versions.
const SCHEMA_REFUSALS: &str = r#"
CREATE TABLE IF NOT EXISTS entry_refusals (
    entry_hash BYTEA PRIMARY KEY, code TEXT NOT NULL, message TEXT NOT NULL);
"#;

impl PgStorage {
    /// The refusals table, under the schema lock.
    async fn migrate_refusals(&self) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = client.batch_execute(SCHEMA_REFUSALS).await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        Ok(result?)
    }
}

/// Findings of the last completed self-audit (`crate::audit`), kept so the history query refuses to
/// answer from rows found wrong. Created if missing, independent of the numbered versions.
const SCHEMA_AUDIT: &str = r#"
CREATE TABLE IF NOT EXISTS audit_holds (
    id BIGSERIAL PRIMARY KEY, code TEXT NOT NULL, agency TEXT, case_id TEXT, entry_hash TEXT,
    detail TEXT NOT NULL, found_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_holds_agency ON audit_holds (agency);
"#;

impl PgStorage {
    /// The audit findings table, under the schema lock.
    async fn migrate_audit(&self) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = client.batch_execute(SCHEMA_AUDIT).await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        Ok(result?)
    }
}

/// Entries brought back after a log rollover (`crate::rollover`), with the receipt of the retired
/// origin they carried. Created if missing, independent of the numbered versions.
const SCHEMA_RECOVERED: &str = r#"
CREATE TABLE IF NOT EXISTS log_recovered (
    entry_hash BYTEA PRIMARY KEY, device_id TEXT NOT NULL, seq BIGINT NOT NULL,
    leaf_index BIGINT NOT NULL UNIQUE, old_origin TEXT NOT NULL, old_leaf_index BIGINT NOT NULL,
    old_tree_size BIGINT NOT NULL, old_checkpoint TEXT NOT NULL, recorded_at TEXT NOT NULL);
"#;

impl PgStorage {
    /// The recovered-entries table, under the schema lock.
    async fn migrate_recovered(&self) -> Result<()> {
        let client = self.pool.get().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = client.batch_execute(SCHEMA_RECOVERED).await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        Ok(result?)
    }
}

/// Advisory lock key for schema creation ("roadside" in ASCII).
const MIGRATION_LOCK: i64 = 0x726f_6164_7369_6465;

pub struct PgStorage {
    pool: Pool,
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
        let storage = PgStorage { pool };
        storage.migrate().await?;
        storage.migrate_bundles().await?;
        storage.migrate_refusals().await?;
        storage.migrate_audit().await?;
        storage.migrate_recovered().await?;
        Ok(storage)
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.pool.get().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = async {
            let tx = client.transaction().await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
            )
            .await?;
            let version: Option<i32> = tx
                .query_opt("SELECT version FROM schema_version", &[])
                .await?
                .map(|r| r.get(0));
            match version {
                None => {
                    tx.batch_execute(SCHEMA_V1).await?;
                    tx.execute("INSERT INTO schema_version (version) VALUES (1)", &[])
                        .await?;
                }
                Some(1) | Some(2) => {}
                Some(v) => {
                    return Err(ApiError::internal(
                        "SCHEMA_TOO_NEW",
                        format!("数据库结构版本 {v} 比本程序新，请升级服务器程序"),
                    ))
                }
            }
            if version.unwrap_or(1) < 2 {
                tx.batch_execute(SCHEMA_V2_MEDIA).await?;
                tx.execute("UPDATE schema_version SET version = 2", &[])
                    .await?;
            }
            tx.commit().await?;
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
