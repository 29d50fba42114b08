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
                Some(1) => {}
                Some(v) => {
                    return Err(ApiError::internal(
                        "SCHEMA_TOO_NEW",
                        format!("数据库结构版本 {v} 比本程序新，请升级服务器程序"),
                    ))
                }
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
        valid_from: r.get(4),
        valid_to: r.get(5),
        revoked_on: r.get(6),
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
    let levels: Vec<i32> = keys.iter().map(|k| i32::from(k.0)).collect();
    let idxs = keys
        .iter()
        .map(|k| i64_of(k.1))
        .collect::<Result<Vec<i64>>>()?;
    let rows = client
        .query(
            "SELECT t.level, t.idx, t.data FROM log_tiles t \
             JOIN UNNEST($1::INTEGER[], $2::BIGINT[]) AS k(level, idx) \
             ON t.level = k.level AND t.idx = k.idx",
            &[&levels, &idxs],
        )
        .await?;
    for r in rows {
        let level: i32 = r.get(0);
        let level =
            u8::try_from(level).map_err(|_| ApiError::storage("tile level out of range"))?;
        set.tiles.insert((level, u64_of(r.get(1))?), r.get(2));
    }
    Ok(set)
}

async fn materialise(tx: &tokio_postgres::Transaction<'_>, e: &NewEntry) -> Result<()> {
    let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
    let hash = &e.hash[..];
    let target = e.supersedes.as_deref().and_then(|s| hex::decode(s).ok());
    match e.kind.as_str() {
        "case.open" => {
            tx.execute(
                "INSERT INTO cases (id, agency, status, opened_at) VALUES ($1, $2, 'draft', $3) \
                 ON CONFLICT (id) DO NOTHING",
                &[&e.case_id, &e.agency, &e.at],
            )
            .await?;
        }
        "case.finalize" => {
            tx.execute(
                "UPDATE cases SET status = 'finalized' WHERE id = $1 AND agency = $2",
                &[&e.case_id, &e.agency],
            )
            .await?;
        }
        "record.create" | "record.amend" => {
            tx.execute(
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
                tx.execute(
                    "UPDATE records SET superseded_by = $1 WHERE entry_hash = $2 AND agency = $3",
                    &[&hash, target, &e.agency],
                )
                .await?;
            }
        }
        "evidence.add" => {
            let sha = body.get("sha256").and_then(|v| v.as_str());
            let size = body.get("size").and_then(|v| v.as_i64());
            tx.execute(
                "INSERT INTO evidence (entry_hash, case_id, agency, sha256, size, body) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&hash, &e.case_id, &e.agency, &sha, &size, &e.body],
            )
            .await?;
        }
        "entry.void" => {
            if let Some(target) = &target {
                tx.execute(
                    "UPDATE records SET superseded_by = $1 WHERE entry_hash = $2 AND agency = $3",
                    &[&hash, target, &e.agency],
                )
                .await?;
                tx.execute(
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
                &[&o.certificate_no, &o.name, &o.agency, &role_str(o.role), &o.valid_from, &o.valid_to, &o.revoked_on],
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
        // The log's lock: every append, from any replica, queues here.
        let size: i64 = tx
            .query_one("SELECT size FROM log_state WHERE id = 1 FOR UPDATE", &[])
            .await?
            .get(0);
        let tree_size = u64_of(size)?;
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
        let device = device_of(&tx.query_one(&sql, &[&device_id]).await?)?;
        let wanted = seqs
            .iter()
            .filter(|s| **s <= device.head_seq)
            .map(|s| i64_of(*s))
            .collect::<Result<Vec<i64>>>()?;
        let mut existing = HashMap::new();
        if !wanted.is_empty() {
            let rows = tx
                .query(
                    "SELECT seq, hash, leaf_index, checkpoint_size FROM entries \
                     WHERE device_id = $1 AND seq = ANY($2)",
                    &[&device_id, &wanted],
                )
                .await?;
            for r in rows {
                let hash: Vec<u8> = r.get(1);
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
        let tiles = read_tiles_with(&tx, &crate::tlog::edge_tiles(tree_size)).await?;
        let plan = plan(BatchSnapshot {
            device,
            tree_size,
            existing,
            tiles,
        })?;
        if plan.entries.is_empty() {
            return Ok(plan);
        }
        let insert = tx
            .prepare(
                "INSERT INTO entries (hash, device_id, seq, leaf_index, checkpoint_size, agency, kind, \
                 case_id, at, officers, bytes, sig) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .await?;
        let new_size = i64_of(plan.new_size)?;
        for e in &plan.entries {
            tx.execute(
                &insert,
                &[
                    &&e.hash[..],
                    &e.device_id,
                    &i64_of(e.seq)?,
                    &i64_of(e.leaf_index)?,
                    &new_size,
                    &e.agency,
                    &e.kind,
                    &e.case_id,
                    &e.at,
                    &e.officers.join(","),
                    &e.bytes,
                    &e.sig,
                ],
            )
            .await?;
            materialise(&tx, e).await?;
        }
        for ((level, idx), data) in &plan.tiles {
            tx.execute(
                "INSERT INTO log_tiles (level, idx, data) VALUES ($1, $2, $3) \
                 ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
                &[&i32::from(*level), &i64_of(*idx)?, data],
            )
            .await?;
        }
        if let Some((seq, hash)) = plan.head {
            tx.execute(
                "UPDATE devices SET head_seq = $1, head_hash = $2 WHERE id = $3",
                &[&i64_of(seq)?, &&hash[..], &device_id],
            )
            .await?;
        }
        tx.execute("UPDATE log_state SET size = $1 WHERE id = 1", &[&new_size])
            .await?;
        if let Some(note) = &plan.checkpoint {
            tx.execute(
                "INSERT INTO checkpoints (size, note) VALUES ($1, $2)",
                &[&new_size, note],
            )
            .await?;
        }
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
                c.query_opt(
                    "SELECT size, note FROM checkpoints WHERE size = $1",
                    &[&i64_of(s)?],
                )
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
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT hash FROM entries WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
                &[&i64_of(start)?, &i64_of(start.saturating_add(count))?],
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
}
