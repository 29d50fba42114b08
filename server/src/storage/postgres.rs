//! PostgreSQL backend: for agencies that run several server replicas on one database.
//!
//! `tokio-postgres` through a `deadpool-postgres` pool. The schema is created under an advisory lock
//! (two replicas starting together do not race) and versioned in `schema_version`. A batch append
//! locks the log's row (`SELECT … FOR UPDATE`), so concurrent pushes to different replicas are
//! serialised into one log.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use roadside_core::model::OfficerCertificate;
use tokio_postgres::{NoTls, Row};

use super::*;
use crate::error::{ApiError, Result};
use roadside_core::day::format_day;

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

fn officer_of(r: &Row) -> Result<OfficerCertificate> {
    Ok(OfficerCertificate {
        certificate_no: r.get(0),
        name: r.get(1),
        agency: r.get(2),
        role: parse_role(r.get(3))?,
        valid_from: day_from_db(r.get(4))?,
        valid_to: day_from_db(r.get(5))?,
        revoked_on: r.get::<_, Option<&str>>(6).map(day_from_db).transpose()?,
    })
}

const OFFICER_COLUMNS: &str =
    "certificate_no, name, agency, role, valid_from, valid_to, revoked_on";
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

async fn read_tiles_with(
    client: &impl deadpool_postgres::GenericClient,
    keys: &[TileKey],
) -> Result<TileSet> {
    let mut set = TileSet::default();
    if keys.is_empty() {
        return Ok(set);
    }
    // A key whose index no row can have is not asked for.
    let (levels, idxs): (Vec<i32>, Vec<i64>) = keys
        .iter()
        .filter_map(|k| Some((i32::from(k.0), lookup_i64(k.1)?)))
        .unzip();
    if idxs.is_empty() {
        return Ok(set);
    }
    let statement = client
        .prepare_cached(
            "SELECT t.level, t.idx, t.data FROM log_tiles t \
             JOIN UNNEST($1::INTEGER[], $2::BIGINT[]) AS k(level, idx) \
             ON t.level = k.level AND t.idx = k.idx",
        )
        .await?;
    let rows = client.query(&statement, &[&levels, &idxs]).await?;
    for r in rows {
        let level: i32 = r.get(0);
        let level =
            u8::try_from(level).map_err(|_| ApiError::storage("tile level out of range"))?;
        set.tiles.insert((level, u64_of(r.get(1))?), r.get(2));
    }
    Ok(set)
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

async fn materialise(tx: &Tx<'_>, e: &NewEntry) -> Result<()> {
    let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
    let hash = &e.hash[..];
    let target = e.supersedes.as_deref().and_then(|s| hex::decode(s).ok());
    match e.kind.as_str() {
        "case.open" => {
            exec(
                tx,
                "INSERT INTO cases (id, agency, status, opened_at) VALUES ($1, $2, 'draft', $3) \
                 ON CONFLICT (id) DO NOTHING",
                &[&e.case_id, &e.agency, &e.at],
            )
            .await?;
        }
        "case.finalize" => {
            exec(
                tx,
                "UPDATE cases SET status = 'finalized' WHERE id = $1 AND agency = $2",
                &[&e.case_id, &e.agency],
            )
            .await?;
        }
        "record.create" | "record.amend" => {
            exec(
                tx,
                "INSERT INTO records (entry_hash, case_id, agency, kind, supersedes, body) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &hash,
                    &e.case_id,
                    &e.agency,
                    &e.kind,
                    &e.supersedes,
                    &e.body,
                ],
            )
            .await?;
            if let Some(target) = &target {
                exec(
                    tx,
                    "UPDATE records SET superseded_by = $1 WHERE entry_hash = $2 AND agency = $3",
                    &[&hash, target, &e.agency],
                )
                .await?;
            }
        }
        "evidence.add" => {
            let sha = body.get("sha256").and_then(|v| v.as_str());
            let size = body.get("size").and_then(|v| v.as_i64());
            exec(
                tx,
                "INSERT INTO evidence (entry_hash, case_id, agency, sha256, size, body) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&hash, &e.case_id, &e.agency, &sha, &size, &e.body],
            )
            .await?;
        }
        "entry.void" => {
            if let Some(target) = &target {
                exec(
                    tx,
                    "UPDATE records SET superseded_by = $1 WHERE entry_hash = $2 AND agency = $3",
                    &[&hash, target, &e.agency],
                )
                .await?;
                exec(
                    tx,
                    "UPDATE evidence SET voided_by = $1 WHERE entry_hash = $2 AND agency = $3",
                    &[&hash, target, &e.agency],
                )
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Insert a batch's entries (and the refusals among them) in one statement each: one round trip
/// instead of one per entry.
async fn insert_entries(tx: &Tx<'_>, entries: &[NewEntry], checkpoint_size: i64) -> Result<()> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    let hashes: Vec<&[u8]> = entries.iter().map(|e| &e.hash[..]).collect();
    let seqs = entries
        .iter()
        .map(|e| i64_of(e.seq))
        .collect::<Result<Vec<_>>>()?;
    let leaves = entries
        .iter()
        .map(|e| i64_of(e.leaf_index))
        .collect::<Result<Vec<_>>>()?;
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    let cases: Vec<Option<&str>> = entries.iter().map(|e| e.case_id.as_deref()).collect();
    let ats: Vec<&str> = entries.iter().map(|e| e.at.as_str()).collect();
    let officers: Vec<String> = entries.iter().map(|e| e.officers.join(",")).collect();
    let bytes: Vec<&[u8]> = entries.iter().map(|e| e.bytes.as_slice()).collect();
    let sigs: Vec<&[u8]> = entries.iter().map(|e| e.sig.as_slice()).collect();
    // One device per batch, so one agency and one device id.
    exec(tx,
        "INSERT INTO entries (hash, device_id, seq, leaf_index, checkpoint_size, agency, kind, \
         case_id, at, officers, bytes, sig) \
         SELECT h, $2, s, l, $5, $6, k, c, a, o, b, g FROM UNNEST($1::BYTEA[], $3::BIGINT[], \
         $4::BIGINT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::BYTEA[], $12::BYTEA[]) \
         AS t(h, s, l, k, c, a, o, b, g)",
        &[
            &hashes,
            &first.device_id,
            &seqs,
            &leaves,
            &checkpoint_size,
            &first.agency,
            &kinds,
            &cases,
            &ats,
            &officers,
            &bytes,
            &sigs,
        ],
    )
    .await?;
    let refused: Vec<(&[u8], &str, &str)> = entries
        .iter()
        .filter_map(|e| {
            e.refusal
                .as_ref()
                .map(|r| (&e.hash[..], r.code.as_str(), r.message.as_str()))
        })
        .collect();
    if !refused.is_empty() {
        let hashes: Vec<&[u8]> = refused.iter().map(|r| r.0).collect();
        let codes: Vec<&str> = refused.iter().map(|r| r.1).collect();
        let messages: Vec<&str> = refused.iter().map(|r| r.2).collect();
        exec(
            tx,
            "INSERT INTO entry_refusals (entry_hash, code, message) \
             SELECT * FROM UNNEST($1::BYTEA[], $2::TEXT[], $3::TEXT[])",
            &[&hashes, &codes, &messages],
        )
        .await?;
    }
    Ok(())
}

/// Rows to insert for a run of entries, written together.
#[derive(Default)]
struct PendingRows<'a> {
    cases: Vec<(&'a Option<String>, &'a str)>,
    records: Vec<&'a NewEntry>,
    evidence: Vec<(&'a NewEntry, Option<String>, Option<i64>)>,
}

impl PendingRows<'_> {
    /// Write the pending rows: one statement per table.
    async fn flush(&mut self, tx: &Tx<'_>, agency: &str) -> Result<()> {
        if !self.cases.is_empty() {
            let ids: Vec<Option<&str>> = self.cases.iter().map(|c| c.0.as_deref()).collect();
            let ats: Vec<&str> = self.cases.iter().map(|c| c.1).collect();
            exec(
                tx,
                "INSERT INTO cases (id, agency, status, opened_at) \
                 SELECT i, $2, 'draft', a FROM UNNEST($1::TEXT[], $3::TEXT[]) AS t(i, a) \
                 ON CONFLICT (id) DO NOTHING",
                &[&ids, &agency, &ats],
            )
            .await?;
        }
        if !self.records.is_empty() {
            let r = &self.records;
            let hashes: Vec<&[u8]> = r.iter().map(|e| &e.hash[..]).collect();
            let cases: Vec<Option<&str>> = r.iter().map(|e| e.case_id.as_deref()).collect();
            let kinds: Vec<&str> = r.iter().map(|e| e.kind.as_str()).collect();
            let sup: Vec<Option<&str>> = r.iter().map(|e| e.supersedes.as_deref()).collect();
            let bodies: Vec<&str> = r.iter().map(|e| e.body.as_str()).collect();
            exec(
                tx,
                "INSERT INTO records (entry_hash, case_id, agency, kind, supersedes, body) \
                 SELECT h, c, $3, k, s, b FROM UNNEST($1::BYTEA[], $2::TEXT[], $4::TEXT[], \
                 $5::TEXT[], $6::TEXT[]) AS t(h, c, k, s, b)",
                &[&hashes, &cases, &agency, &kinds, &sup, &bodies],
            )
            .await?;
        }
        if !self.evidence.is_empty() {
            let v = &self.evidence;
            let hashes: Vec<&[u8]> = v.iter().map(|e| &e.0.hash[..]).collect();
            let cases: Vec<Option<&str>> = v.iter().map(|e| e.0.case_id.as_deref()).collect();
            let shas: Vec<Option<&str>> = v.iter().map(|e| e.1.as_deref()).collect();
            let sizes: Vec<Option<i64>> = v.iter().map(|e| e.2).collect();
            let bodies: Vec<&str> = v.iter().map(|e| e.0.body.as_str()).collect();
            exec(
                tx,
                "INSERT INTO evidence (entry_hash, case_id, agency, sha256, size, body) \
                 SELECT h, c, $3, s, z, b FROM UNNEST($1::BYTEA[], $2::TEXT[], $4::TEXT[], \
                 $5::BIGINT[], $6::TEXT[]) AS t(h, c, s, z, b)",
                &[&hashes, &cases, &agency, &shas, &sizes, &bodies],
            )
            .await?;
        }
        *self = PendingRows::default();
        Ok(())
    }
}

/// Materialise a batch's accepted entries (refused ones are only logged). Inserts are gathered
/// and written a table at a time; before any update (finalize, amend, void) the rows gathered so
/// far are written, so the result is the same as applying the entries one by one in order.
async fn materialise_all(tx: &Tx<'_>, entries: &[NewEntry]) -> Result<()> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    let agency = first.agency.as_str();
    let mut pending = PendingRows::default();
    for e in entries.iter().filter(|e| e.refusal.is_none()) {
        match e.kind.as_str() {
            "case.open" => pending.cases.push((&e.case_id, e.at.as_str())),
            "record.create" => pending.records.push(e),
            "evidence.add" => {
                let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
                pending.evidence.push((
                    e,
                    body.get("sha256")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    body.get("size").and_then(|v| v.as_i64()),
                ));
            }
            _ => {
                pending.flush(tx, agency).await?;
                materialise(tx, e).await?;
            }
        }
    }
    pending.flush(tx, agency).await
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

    async fn upsert_agency(&self, a: &Agency) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO agencies (code, name, parent) VALUES ($1, $2, $3) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent",
                &[&a.code, &a.name, &a.parent],
            )
            .await?;
        Ok(())
    }

    async fn agencies(&self) -> Result<Vec<Agency>> {
        let rows = self
            .pool
            .get()
            .await?
            .query("SELECT code, name, parent FROM agencies ORDER BY code", &[])
            .await?;
        Ok(rows
            .iter()
            .map(|r| Agency {
                code: r.get(0),
                name: r.get(1),
                parent: r.get(2),
            })
            .collect())
    }

    async fn put_officer(&self, o: &OfficerCertificate) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO officers (certificate_no, name, agency, role, valid_from, valid_to, revoked_on) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (certificate_no) DO UPDATE SET \
                 name = excluded.name, agency = excluded.agency, role = excluded.role, \
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to, revoked_on = excluded.revoked_on",
                &[
                    &o.certificate_no,
                    &o.name,
                    &o.agency,
                    &role_str(o.role),
                    &format_day(o.valid_from),
                    &format_day(o.valid_to),
                    &o.revoked_on.map(format_day),
                ],
            )
            .await?;
        Ok(())
    }

    async fn officer(&self, certificate_no: &str) -> Result<Option<OfficerCertificate>> {
        let sql = format!("SELECT {OFFICER_COLUMNS} FROM officers WHERE certificate_no = $1");
        self.pool
            .get()
            .await?
            .query_opt(&sql, &[&certificate_no])
            .await?
            .as_ref()
            .map(officer_of)
            .transpose()
    }

    async fn officers(&self, agencies: &[String]) -> Result<Vec<OfficerCertificate>> {
        let sql = format!(
            "SELECT {OFFICER_COLUMNS} FROM officers WHERE agency = ANY($1) ORDER BY agency, certificate_no"
        );
        let rows = self.pool.get().await?.query(&sql, &[&agencies]).await?;
        rows.iter().map(officer_of).collect()
    }

    async fn officers_by_certificate(&self, certs: &[String]) -> Result<Vec<OfficerCertificate>> {
        let sql = format!(
            "SELECT {OFFICER_COLUMNS} FROM officers WHERE certificate_no = ANY($1) ORDER BY agency, certificate_no"
        );
        let rows = self.pool.get().await?.query(&sql, &[&certs]).await?;
        rows.iter().map(officer_of).collect()
    }

    async fn create_account(&self, a: &Account) -> Result<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "INSERT INTO accounts (login, agency, role, certificate_no, password_hash, disabled) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (login) DO NOTHING",
                &[&a.login, &a.agency, &role_str(a.role), &a.certificate_no, &a.password_hash, &a.disabled],
            )
            .await?;
        Ok(n == 1)
    }

    async fn account(&self, login: &str) -> Result<Option<Account>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT login, agency, role, certificate_no, password_hash, disabled FROM accounts WHERE login = $1",
                &[&login],
            )
            .await?;
        row.map(|r| {
            Ok(Account {
                login: r.get(0),
                agency: r.get(1),
                role: parse_role(r.get(2))?,
                certificate_no: r.get(3),
                password_hash: r.get(4),
                disabled: r.get(5),
            })
        })
        .transpose()
    }

    async fn create_session(&self, token_hash: &[u8; 32], s: &Session) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO sessions (token_hash, login, agency, role, expires_at) VALUES ($1, $2, $3, $4, $5)",
                &[&&token_hash[..], &s.login, &s.agency, &role_str(s.role), &s.expires_at],
            )
            .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT login, agency, role, expires_at FROM sessions WHERE token_hash = $1",
                &[&&token_hash[..]],
            )
            .await?;
        row.map(|r| {
            Ok(Session {
                login: r.get(0),
                agency: r.get(1),
                role: parse_role(r.get(2))?,
                expires_at: r.get(3),
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "DELETE FROM sessions WHERE token_hash = $1",
                &[&&token_hash[..]],
            )
            .await?;
        Ok(())
    }

    async fn create_enrolment_code(&self, c: &EnrolmentCode) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO enrolment_codes (code_hash, agency, certificate_no, created_by, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&&c.code_hash[..], &c.agency, &c.certificate_no, &c.created_by, &c.expires_at],
            )
            .await?;
        Ok(())
    }

    async fn enrol_device(
        &self,
        code_hash: &[u8; 32],
        now: &str,
        device: Device,
        token_hash: &[u8; 32],
    ) -> Result<EnrolOutcome> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let code = tx
            .query_opt(
                "SELECT agency, certificate_no, expires_at, used_at FROM enrolment_codes \
                 WHERE code_hash = $1 FOR UPDATE",
                &[&&code_hash[..]],
            )
            .await?;
        let Some(code) = code else {
            return Ok(EnrolOutcome::CodeUnknown);
        };
        let (agency, certificate_no, expires_at, used_at): (
            String,
            String,
            String,
            Option<String>,
        ) = (code.get(0), code.get(1), code.get(2), code.get(3));
        if used_at.is_some() {
            return Ok(EnrolOutcome::CodeUsed);
        }
        if expires_at.as_str() <= now {
            return Ok(EnrolOutcome::CodeExpired);
        }
        let taken = tx
            .query_opt(
                "SELECT 1 FROM devices WHERE public_key = $1",
                &[&device.public_key],
            )
            .await?
            .is_some();
        if taken {
            return Ok(EnrolOutcome::KeyTaken);
        }
        let device = Device {
            agency,
            certificate_no,
            enrolled_at: now.to_string(),
            ..device
        };
        let inserted = tx
            .execute(
                "INSERT INTO devices (id, public_key, agency, certificate_no, name, token_hash, enrolled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (public_key) DO NOTHING",
                &[&device.id, &device.public_key, &device.agency, &device.certificate_no, &device.name, &&token_hash[..], &now],
            )
            .await?;
        if inserted == 0 {
            return Ok(EnrolOutcome::KeyTaken);
        }
        tx.execute(
            "UPDATE enrolment_codes SET used_at = $1, device_id = $2 WHERE code_hash = $3",
            &[&now, &device.id, &&code_hash[..]],
        )
        .await?;
        tx.commit().await?;
        Ok(EnrolOutcome::Enrolled(Box::new(device)))
    }

    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1");
        self.pool
            .get()
            .await?
            .query_opt(&sql, &[&&token_hash[..]])
            .await?
            .as_ref()
            .map(device_of)
            .transpose()
    }

    async fn devices(&self, agencies: &[String]) -> Result<Vec<Device>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE agency = ANY($1) ORDER BY enrolled_at"
        );
        let rows = self.pool.get().await?.query(&sql, &[&agencies]).await?;
        rows.iter().map(device_of).collect()
    }

    async fn revoke_device(&self, id: &str, agencies: &[String], now: &str) -> Result<bool> {
        let c = self.pool.get().await?;
        let found = c
            .query_opt(
                "SELECT 1 FROM devices WHERE id = $1 AND agency = ANY($2)",
                &[&id, &agencies],
            )
            .await?
            .is_some();
        if found {
            c.execute(
                "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &[&now, &id],
            )
            .await?;
        }
        Ok(found)
    }

    async fn commit_batch(
        &self,
        device_id: &str,
        seqs: Vec<u64>,
        plan: Planner,
    ) -> Result<BatchPlan> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The device's row first, locked: its pushes (from any replica) queue here, and its head
        // and stored entries are read before the log's lock is taken. Every append takes the two
        // locks in this order.
        let device_stmt = tx
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 FOR UPDATE"
            ))
            .await?;
        let device = device_of(&tx.query_one(&device_stmt, &[&device_id]).await?)?;
        let wanted = seqs
            .iter()
            .filter(|s| **s <= device.head_seq)
            .map(|s| i64_of(*s))
            .collect::<Result<Vec<i64>>>()?;
        let mut existing = HashMap::new();
        let mut refusals = HashMap::new();
        if !wanted.is_empty() {
            let stored = tx
                .prepare_cached(
                    "SELECT e.seq, e.hash, e.leaf_index, e.checkpoint_size, r.code, r.message \
                     FROM entries e LEFT JOIN entry_refusals r ON r.entry_hash = e.hash \
                     WHERE e.device_id = $1 AND e.seq = ANY($2)",
                )
                .await?;
            let rows = tx.query(&stored, &[&device_id, &wanted]).await?;
            for r in rows {
                let hash: Vec<u8> = r.get(1);
                let (code, message): (Option<String>, Option<String>) = (r.get(4), r.get(5));
                if let (Some(code), Some(message)) = (code, message) {
                    refusals.insert(u64_of(r.get(0))?, crate::ingest::Refusal { code, message });
                }
                existing.insert(
                    u64_of(r.get(0))?,
                    StoredEntry {
                        hash: hash32(&hash)?,
                        leaf_index: u64_of(r.get(2))?,
                        checkpoint_size: u64_of(r.get(3))?,
                    },
                );
            }
        }
        // The log's lock: every append, from any replica, queues here. From here to the commit,
        // as few round trips as possible.
        let lock = tx
            .prepare_cached("SELECT size FROM log_state WHERE id = 1 FOR UPDATE")
            .await?;
        let size: i64 = tx.query_one(&lock, &[]).await?.get(0);
        let tree_size = u64_of(size)?;
        let tiles = read_tiles_with(&tx, &crate::tlog::edge_tiles(tree_size)).await?;
        let plan = plan(BatchSnapshot {
            device,
            tree_size,
            existing,
            refusals,
            tiles,
        })?;
        if plan.entries.is_empty() {
            return Ok(plan);
        }
        let new_size = i64_of(plan.new_size)?;
        insert_entries(&tx, &plan.entries, new_size).await?;
        materialise_all(&tx, &plan.entries).await?;
        // The log's own rows, pipelined: sent together, one round trip for all of them.
        let upsert_tile = tx
            .prepare_cached(
                "INSERT INTO log_tiles (level, idx, data) VALUES ($1, $2, $3) \
                 ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
            )
            .await?;
        let set_head = tx
            .prepare_cached("UPDATE devices SET head_seq = $1, head_hash = $2 WHERE id = $3")
            .await?;
        let set_size = tx
            .prepare_cached("UPDATE log_state SET size = $1 WHERE id = 1")
            .await?;
        let add_checkpoint = tx
            .prepare_cached("INSERT INTO checkpoints (size, note) VALUES ($1, $2)")
            .await?;
        let tile_rows = plan
            .tiles
            .iter()
            .map(|((level, idx), data)| Ok((i32::from(*level), i64_of(*idx)?, data)))
            .collect::<Result<Vec<_>>>()?;
        let head = plan
            .head
            .map(|(seq, hash)| Ok::<_, ApiError>((i64_of(seq)?, hash)))
            .transpose()?;
        type Param<'p> = &'p (dyn tokio_postgres::types::ToSql + Sync);
        let head_hash = head.as_ref().map(|(_, h)| &h[..]);
        let mut writes: Vec<(&tokio_postgres::Statement, Vec<Param<'_>>)> = Vec::new();
        for (level, idx, data) in &tile_rows {
            writes.push((&upsert_tile, vec![level, idx, *data]));
        }
        if let (Some((seq, _)), Some(hash)) = (&head, &head_hash) {
            writes.push((&set_head, vec![seq, hash, &device_id]));
        }
        writes.push((&set_size, vec![&new_size]));
        if let Some(note) = &plan.checkpoint {
            writes.push((&add_checkpoint, vec![&new_size, note]));
        }
        let add_recovered = tx
            .prepare_cached(
                "INSERT INTO log_recovered (entry_hash, device_id, seq, leaf_index, old_origin, \
                 old_leaf_index, old_tree_size, old_checkpoint, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .await?;
        let recovered_rows = plan
            .recovered
            .iter()
            .map(|r| {
                Ok((
                    hex::decode(&r.entry_hash)
                        .map_err(|_| ApiError::storage("recovered entry hash is not hex"))?,
                    i64_of(r.seq)?,
                    i64_of(r.leaf_index)?,
                    i64_of(r.old_leaf_index)?,
                    i64_of(r.old_tree_size)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        for (r, (hash, seq, leaf, old_leaf, old_size)) in plan.recovered.iter().zip(&recovered_rows)
        {
            writes.push((
                &add_recovered,
                vec![
                    hash,
                    &r.device_id,
                    seq,
                    leaf,
                    &r.old_origin,
                    old_leaf,
                    old_size,
                    &r.old_checkpoint,
                    &r.recorded_at,
                ],
            ));
        }
        futures_util::future::try_join_all(
            writes
                .iter()
                .map(|(statement, params)| tx.execute(*statement, params)),
        )
        .await?;
        crate::crash::point("push.commit");
        tx.commit().await?;
        Ok(plan)
    }

    async fn tree_size(&self) -> Result<u64> {
        let size: i64 = self
            .pool
            .get()
            .await?
            .query_one("SELECT size FROM log_state WHERE id = 1", &[])
            .await?
            .get(0);
        u64_of(size)
    }

    async fn read_tiles(&self, keys: &[TileKey]) -> Result<TileSet> {
        let client = self.pool.get().await?;
        read_tiles_with(&client, keys).await
    }

    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<(u64, String)>> {
        let c = self.pool.get().await?;
        let row = match size {
            Some(s) => {
                let Some(s) = lookup_i64(s) else {
                    return Ok(None);
                };
                c.query_opt("SELECT size, note FROM checkpoints WHERE size = $1", &[&s])
                    .await?
            }
            None => {
                c.query_opt(
                    "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                    &[],
                )
                .await?
            }
        };
        row.map(|r| Ok((u64_of(r.get(0))?, r.get(1)))).transpose()
    }

    async fn leaves(&self, start: u64, count: u64) -> Result<Vec<[u8; 32]>> {
        let Some((start, end)) = leaf_range(start, count) else {
            return Ok(Vec::new());
        };
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT hash FROM entries WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
                &[&start, &end],
            )
            .await?;
        rows.iter().map(|r| hash32(r.get::<_, &[u8]>(0))).collect()
    }

    async fn entry_position(&self, hash: &[u8; 32]) -> Result<Option<(StoredEntry, String)>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT leaf_index, checkpoint_size, agency FROM entries WHERE hash = $1",
                &[&&hash[..]],
            )
            .await?;
        row.map(|r| {
            Ok((
                StoredEntry {
                    hash: *hash,
                    leaf_index: u64_of(r.get(0))?,
                    checkpoint_size: u64_of(r.get(1))?,
                },
                r.get(2),
            ))
        })
        .transpose()
    }

    async fn recovered_entries(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RecoveredEntry>> {
        let after = after.map(i64_of).transpose()?.unwrap_or(-1);
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT entry_hash, device_id, seq, leaf_index, old_origin, old_leaf_index, \
                 old_tree_size, old_checkpoint, recorded_at FROM log_recovered \
                 WHERE leaf_index > $1 ORDER BY leaf_index LIMIT $2",
                &[&after, &i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let hash: Vec<u8> = r.get(0);
                Ok(RecoveredEntry {
                    entry_hash: hex::encode(hash32(&hash)?),
                    device_id: r.get(1),
                    seq: u64_of(r.get(2))?,
                    leaf_index: u64_of(r.get(3))?,
                    old_origin: r.get(4),
                    old_leaf_index: u64_of(r.get(5))?,
                    old_tree_size: u64_of(r.get(6))?,
                    old_checkpoint: r.get(7),
                    recorded_at: r.get(8),
                })
            })
            .collect()
    }

    async fn cases(&self, agencies: &[String]) -> Result<Vec<CaseRow>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT c.id, c.agency, c.status, c.opened_at, \
                 (SELECT COUNT(*) FROM records r WHERE r.case_id = c.id AND r.agency = c.agency), \
                 (SELECT COUNT(*) FROM evidence v WHERE v.case_id = c.id AND v.agency = c.agency) \
                 FROM cases c WHERE c.agency = ANY($1) ORDER BY c.opened_at DESC",
                &[&agencies],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(CaseRow {
                    id: r.get(0),
                    agency: r.get(1),
                    status: r.get(2),
                    opened_at: r.get(3),
                    records: u64_of(r.get(4))?,
                    evidence: u64_of(r.get(5))?,
                })
            })
            .collect()
    }
    // ---- Reference bundles (crate::bundles) ----

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

    // ---- History (first-offence query) ----

    async fn prior_cases(
        &self,
        agencies: &[String],
        query: &HistoryQuery,
    ) -> Result<Vec<PriorCase>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT c.id, c.agency, c.status, c.opened_at, e.bytes \
                 FROM entries e JOIN cases c ON c.id = e.case_id AND c.agency = e.agency \
                 WHERE e.kind = 'case.open' AND c.opened_at >= $1 AND c.agency = ANY($2) \
                 AND NOT EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash) \
                 ORDER BY c.opened_at DESC",
                &[&query.since, &agencies],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let bytes: Vec<u8> = r.get(4);
                let (plate, violations) = opening_matches(&bytes, query)?;
                Some(PriorCase {
                    case: r.get(0),
                    agency: r.get(1),
                    opened_at: r.get(3),
                    status: r.get(2),
                    plate,
                    violations,
                })
            })
            .collect())
    }

    // ---- Media uploads (tus) and stored media objects ----

    async fn evidence_sizes(&self, agencies: &[String], sha256: &str) -> Result<Vec<u64>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT DISTINCT size FROM evidence WHERE sha256 = $1 AND size IS NOT NULL \
                 AND agency = ANY($2) ORDER BY size",
                &[&sha256, &agencies],
            )
            .await?;
        rows.iter().map(|r| u64_of(r.get(0))).collect()
    }

    async fn create_upload(&self, u: &MediaUpload) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO media_uploads (id, agency, device_id, sha256, length, upload_offset, \
                 hash_state, parts, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &u.id,
                    &u.agency,
                    &u.device_id,
                    &u.sha256,
                    &i64_of(u.length)?,
                    &i64_of(u.offset)?,
                    &u.hash_state,
                    &parts_text(&u.parts),
                    &u.created_at,
                    &u.expires_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn upload(&self, id: &str) -> Result<Option<MediaUpload>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE id = $1");
        let row = self.pool.get().await?.query_opt(&sql, &[&id]).await?;
        row.as_ref().map(upload_of).transpose()
    }

    async fn open_upload(
        &self,
        agency: &str,
        sha256: &str,
        now: &str,
    ) -> Result<Option<MediaUpload>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE agency = $1 AND sha256 = $2 \
             AND (expires_at > $3 OR upload_offset = length) ORDER BY created_at DESC LIMIT 1"
        );
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&agency, &sha256, &now])
            .await?;
        row.as_ref().map(upload_of).transpose()
    }

    async fn advance_upload(
        &self,
        id: &str,
        from: u64,
        to: u64,
        hash_state: &[u8],
        expires_at: &str,
        part: Option<&str>,
    ) -> Result<bool> {
        let part = part
            .map(|p| parts_text(&[p.to_string()]))
            .unwrap_or_default();
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE media_uploads SET upload_offset = $1, hash_state = $2, expires_at = $3, \
                 parts = parts || $4 WHERE id = $5 AND upload_offset = $6",
                &[
                    &i64_of(to)?,
                    &hash_state,
                    &expires_at,
                    &part,
                    &id,
                    &i64_of(from)?,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute("DELETE FROM media_uploads WHERE id = $1", &[&id])
            .await?;
        Ok(n == 1)
    }

    async fn expired_uploads(&self, now: &str, limit: u32) -> Result<Vec<MediaUpload>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE expires_at <= $1 \
             AND upload_offset < length ORDER BY expires_at LIMIT $2"
        );
        let rows = self
            .pool
            .get()
            .await?
            .query(&sql, &[&now, &i64::from(limit)])
            .await?;
        rows.iter().map(upload_of).collect()
    }

    async fn complete_uploads(&self, limit: u32) -> Result<Vec<MediaUpload>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE upload_offset = length \
             ORDER BY created_at LIMIT $1"
        );
        let rows = self
            .pool
            .get()
            .await?
            .query(&sql, &[&i64::from(limit)])
            .await?;
        rows.iter().map(upload_of).collect()
    }

    async fn restart_upload(&self, id: &str, hash_state: &[u8], expires_at: &str) -> Result<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE media_uploads SET upload_offset = 0, hash_state = $1, parts = '', \
                 expires_at = $2 WHERE id = $3 AND upload_offset = length",
                &[&hash_state, &expires_at, &id],
            )
            .await?;
        Ok(n == 1)
    }

    async fn finish_upload(&self, id: &str, o: &MediaObject) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO media_objects (sha256, agency, size, stored_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256, agency) DO NOTHING",
            &[&o.sha256, &o.agency, &i64_of(o.size)?, &o.stored_at],
        )
        .await?;
        tx.execute("DELETE FROM media_uploads WHERE id = $1", &[&id])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn media_object(&self, agencies: &[String], sha256: &str) -> Result<Option<MediaObject>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT sha256, agency, size, stored_at FROM media_objects WHERE sha256 = $1 \
                 AND agency = ANY($2) ORDER BY stored_at LIMIT 1",
                &[&sha256, &agencies],
            )
            .await?;
        row.map(|r| {
            Ok(MediaObject {
                sha256: r.get(0),
                agency: r.get(1),
                size: u64_of(r.get(2))?,
                stored_at: r.get(3),
            })
        })
        .transpose()
    }

    // ---- Self-audit (crate::audit) ----

    async fn audit_entries(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT e.hash, e.device_id, e.seq, e.leaf_index, e.agency, e.kind, e.case_id, e.at, \
                 e.officers, e.bytes, e.sig, \
                 EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash) \
                 FROM entries e WHERE e.leaf_index >= $1 AND e.leaf_index < $2 ORDER BY e.leaf_index",
                &[&i64_of(from)?, &i64_of(to)?],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    hash: r.get(0),
                    device_id: r.get(1),
                    seq: r.get(2),
                    leaf_index: u64_of(r.get(3))?,
                    agency: r.get(4),
                    kind: r.get(5),
                    case_id: r.get(6),
                    at: r.get(7),
                    officers: r.get(8),
                    bytes: r.get(9),
                    sig: r.get(10),
                    refused: r.get(11),
                })
            })
            .collect()
    }

    async fn audit_devices(&self) -> Result<Vec<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id");
        let rows = self.pool.get().await?.query(&sql, &[]).await?;
        rows.iter().map(device_of).collect()
    }

    async fn audit_cases(&self) -> Result<Vec<AuditCase>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT id, agency, status, opened_at FROM cases ORDER BY id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditCase {
                id: r.get(0),
                agency: r.get(1),
                status: r.get(2),
                opened_at: r.get(3),
            })
            .collect())
    }

    async fn audit_rows(
        &self,
        hashes: &[[u8; 32]],
    ) -> Result<(Vec<AuditRecord>, Vec<AuditEvidence>)> {
        let keys: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
        let c = self.pool.get().await?;
        let records = c
            .query(
                "SELECT entry_hash, case_id, agency, kind, supersedes, superseded_by, body \
                 FROM records WHERE entry_hash = ANY($1)",
                &[&keys],
            )
            .await?
            .iter()
            .map(|r| AuditRecord {
                entry_hash: r.get(0),
                case_id: r.get(1),
                agency: r.get(2),
                kind: r.get(3),
                supersedes: r.get(4),
                superseded_by: r.get(5),
                body: r.get(6),
            })
            .collect();
        let evidence = c
            .query(
                "SELECT entry_hash, case_id, agency, sha256, size, voided_by, body \
                 FROM evidence WHERE entry_hash = ANY($1)",
                &[&keys],
            )
            .await?
            .iter()
            .map(|r| AuditEvidence {
                entry_hash: r.get(0),
                case_id: r.get(1),
                agency: r.get(2),
                sha256: r.get(3),
                size: r.get(4),
                voided_by: r.get(5),
                body: r.get(6),
            })
            .collect();
        Ok((records, evidence))
    }

    async fn audit_orphan_rows(&self) -> Result<Vec<AuditOrphan>> {
        let rows = self.pool.get().await?.query(AUDIT_ORPHANS_SQL, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| AuditOrphan {
                table: r.get(0),
                entry_hash: r.get(1),
                agency: r.get(2),
                case_id: r.get(3),
            })
            .collect())
    }

    async fn audit_marks(&self) -> Result<Vec<AuditMark>> {
        let rows = self.pool.get().await?.query(AUDIT_MARKS_SQL, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| AuditMark {
                table: r.get(0),
                entry_hash: r.get(1),
                by: r.get(2),
            })
            .collect())
    }

    async fn put_audit_holds(&self, holds: &[AuditHold]) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute("DELETE FROM audit_holds", &[]).await?;
        let insert = tx
            .prepare(
                "INSERT INTO audit_holds (code, agency, case_id, entry_hash, detail, found_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await?;
        for h in holds {
            tx.execute(
                &insert,
                &[
                    &h.code,
                    &h.agency,
                    &h.case_id,
                    &h.entry_hash,
                    &h.detail,
                    &h.found_at,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_holds(&self, agencies: &[String]) -> Result<Vec<AuditHold>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT code, agency, case_id, entry_hash, detail, found_at FROM audit_holds \
                 WHERE agency IS NULL OR agency = ANY($1) ORDER BY id",
                &[&agencies],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditHold {
                code: r.get(0),
                agency: r.get(1),
                case_id: r.get(2),
                entry_hash: r.get(3),
                detail: r.get(4),
                found_at: r.get(5),
            })
            .collect())
    }
}

// ---- Media uploads: row mapping ----

const UPLOAD_COLUMNS: &str = "id, agency, device_id, sha256, length, upload_offset, hash_state, \
     parts, created_at, expires_at";

fn upload_of(r: &Row) -> Result<MediaUpload> {
    let parts: String = r.get(7);
    Ok(MediaUpload {
        id: r.get(0),
        agency: r.get(1),
        device_id: r.get(2),
        sha256: r.get(3),
        length: u64_of(r.get(4))?,
        offset: u64_of(r.get(5))?,
        hash_state: r.get(6),
        parts: parts_of(&parts),
        created_at: r.get(8),
        expires_at: r.get(9),
    })
}
