//! SQLite backend: the embedded default. One writer connection (every write a transaction, the
//! batch append `BEGIN IMMEDIATE`) and a few reader connections, WAL mode. Blocking calls run on
//! tokio's blocking pool. Schema versioned through `PRAGMA user_version`. WAL checkpoints run on a
//! thread of their own ([`Checkpointer`]), never inside a push.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use roadside_core::model::OfficerCertificate;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::*;
use crate::error::{ApiError, Result};
use roadside_core::day::format_day;

const READERS: usize = 4;

const SCHEMA_V1: &str = r#"
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE agencies (code TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT);
CREATE TABLE officers (
    certificate_no TEXT PRIMARY KEY, name TEXT NOT NULL, agency TEXT NOT NULL, role TEXT NOT NULL,
    valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, revoked_on TEXT);
CREATE INDEX officers_agency ON officers (agency);
CREATE TABLE accounts (
    login TEXT PRIMARY KEY, agency TEXT NOT NULL, role TEXT NOT NULL, certificate_no TEXT,
    password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY, login TEXT NOT NULL, agency TEXT NOT NULL, role TEXT NOT NULL,
    expires_at TEXT NOT NULL);
CREATE TABLE enrolment_codes (
    code_hash BLOB PRIMARY KEY, agency TEXT NOT NULL, certificate_no TEXT NOT NULL,
    created_by TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT, device_id TEXT);
CREATE TABLE devices (
    id TEXT PRIMARY KEY, public_key TEXT NOT NULL UNIQUE, agency TEXT NOT NULL,
    certificate_no TEXT NOT NULL, name TEXT NOT NULL, token_hash BLOB NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL, revoked_at TEXT, head_seq INTEGER NOT NULL DEFAULT 0, head_hash BLOB);
CREATE TABLE entries (
    hash BLOB PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL UNIQUE, checkpoint_size INTEGER NOT NULL, agency TEXT NOT NULL,
    kind TEXT NOT NULL, case_id TEXT, at TEXT NOT NULL, officers TEXT NOT NULL,
    bytes BLOB NOT NULL, sig BLOB NOT NULL, UNIQUE (device_id, seq));
CREATE TABLE cases (
    id TEXT PRIMARY KEY, agency TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT);
CREATE INDEX cases_agency ON cases (agency);
CREATE TABLE records (
    entry_hash BLOB PRIMARY KEY, case_id TEXT, agency TEXT NOT NULL, kind TEXT NOT NULL,
    supersedes TEXT, superseded_by BLOB, body TEXT NOT NULL);
CREATE TABLE evidence (
    entry_hash BLOB PRIMARY KEY, case_id TEXT, agency TEXT NOT NULL, sha256 TEXT,
    size INTEGER, voided_by BLOB, body TEXT NOT NULL);
CREATE TABLE log_state (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);
INSERT INTO log_state (id, size) VALUES (1, 0);
CREATE TABLE log_tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (level, idx));
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
"#;

/// Version 2: resumable media uploads and the media objects each agency holds.
const SCHEMA_V2_MEDIA: &str = r#"
CREATE TABLE media_uploads (
    id TEXT PRIMARY KEY, agency TEXT NOT NULL, device_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    length INTEGER NOT NULL, upload_offset INTEGER NOT NULL, hash_state BLOB NOT NULL,
    parts TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE INDEX media_uploads_expires ON media_uploads (expires_at);
CREATE INDEX media_uploads_sha256 ON media_uploads (sha256, agency);
CREATE TABLE media_objects (
    sha256 TEXT NOT NULL, agency TEXT NOT NULL, size INTEGER NOT NULL, stored_at TEXT NOT NULL,
    PRIMARY KEY (sha256, agency));
CREATE INDEX evidence_sha256 ON evidence (sha256);
"#;

/// Reference bundles (`crate::bundles`): created if missing, independent of the numbered versions.
const SCHEMA_BUNDLES: &str = r#"
CREATE TABLE IF NOT EXISTS bundles (
    agency TEXT NOT NULL, version INTEGER NOT NULL, manifest BLOB NOT NULL, signature BLOB NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (agency, version));
CREATE TABLE IF NOT EXISTS bundle_components (
    agency TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, bytes BLOB NOT NULL,
    PRIMARY KEY (agency, name, sha256));
"#;

/// Entries a business check refused (`crate::ingest`): logged and chained, not materialised; the
/// answer is kept to give it again. Created if missing, independent of the numbered versions.
const SCHEMA_REFUSALS: &str = r#"
CREATE TABLE IF NOT EXISTS entry_refusals (
    entry_hash BLOB PRIMARY KEY, code TEXT NOT NULL, message TEXT NOT NULL);
"#;

/// Findings of the last completed self-audit (`crate::audit`), kept so the history query refuses to
/// answer from rows found wrong. Created if missing, independent of the numbered versions.
const SCHEMA_AUDIT: &str = r#"
CREATE TABLE IF NOT EXISTS audit_holds (
    id INTEGER PRIMARY KEY, code TEXT NOT NULL, agency TEXT, case_id TEXT, entry_hash TEXT,
    detail TEXT NOT NULL, found_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_holds_agency ON audit_holds (agency);
"#;

/// Entries brought back after a log rollover (`crate::rollover`), with the receipt of the retired
/// origin they carried. Created if missing, independent of the numbered versions.
const SCHEMA_RECOVERED: &str = r#"
CREATE TABLE IF NOT EXISTS log_recovered (
    entry_hash BLOB PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL UNIQUE, old_origin TEXT NOT NULL, old_leaf_index INTEGER NOT NULL,
    old_tree_size INTEGER NOT NULL, old_checkpoint TEXT NOT NULL, recorded_at TEXT NOT NULL);
"#;

/// The SQLite storage.
pub struct SqliteStorage {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: String,
    checkpointer: Checkpointer,
}

/// WAL checkpoints, off the request path. SQLite's own automatic checkpoint runs inside the commit
/// that crosses its threshold, so one push in every few dozen paid for copying the whole WAL into
/// the database (40–500 ms; the push-latency tail). The writer connection has it turned off
/// (`wal_autocheckpoint = 0`); this thread, on a connection of its own, runs a `PASSIVE`
/// checkpoint (which never blocks the writer or readers) at most every [`CHECKPOINT_EVERY`] after
/// writes. Once the database has been idle for [`TRUNCATE_AFTER_IDLE`] it copies with `PASSIVE`
/// again and, only if that copied the whole WAL, runs a `TRUNCATE` (which holds off new writers
/// while it waits, at most 20 ms, for readers) so the WAL file shrinks back. A checkpoint that fails is
/// logged and tried again at the next round; the WAL stays valid in the meantime (SQLite recovers
/// from it on open).
struct Checkpointer {
    shared: Arc<CheckpointShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct CheckpointState {
    /// Writes committed since the last checkpoint.
    pending: u64,
    last_write: Option<Instant>,
    stop: bool,
}

#[derive(Default)]
struct CheckpointShared {
    state: Mutex<CheckpointState>,
    wake: Condvar,
}

/// Shortest interval between two checkpoints while writes keep coming.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Idle time after which the WAL file is truncated.
const TRUNCATE_AFTER_IDLE: Duration = Duration::from_secs(5);

impl Checkpointer {
    fn start(path: &str) -> Result<Self> {
        let conn = connect(path)?;
        // A TRUNCATE waits for readers on older snapshots and holds off new writers meanwhile:
        // give up quickly instead (it is tried again after the next idle period).
        conn.busy_timeout(Duration::from_millis(20))?;
        let shared = Arc::new(CheckpointShared::default());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &thread_shared))
            .map_err(|e| {
                ApiError::internal("CHECKPOINTER_FAILED", format!("无法启动检查点线程：{e}"))
            })?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// A write was committed.
    fn wrote(&self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.pending += 1;
            st.last_write = Some(Instant::now());
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.stop = true;
        }
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn checkpoint_loop(conn: &Connection, shared: &CheckpointShared) {
    // Whether the WAL file is known to be empty (truncated) since the last write.
    let mut truncated = false;
    let mut last_checkpoint: Option<Instant> = None;
    loop {
        let mode = {
            let Ok(mut st) = shared.state.lock() else {
                return;
            };
            loop {
                if st.stop {
                    return;
                }
                let since_checkpoint = last_checkpoint.map_or(Duration::MAX, |t| t.elapsed());
                let idle_for = st.last_write.map_or(TRUNCATE_AFTER_IDLE, |t| t.elapsed());
                let timeout = if st.pending > 0 {
                    if since_checkpoint >= CHECKPOINT_EVERY {
                        st.pending = 0;
                        truncated = false;
                        break "PASSIVE";
                    }
                    Some(CHECKPOINT_EVERY - since_checkpoint)
                } else if !truncated {
                    // Idle long enough, and (after a TRUNCATE that met a reader) not retried sooner.
                    let waited = idle_for.min(since_checkpoint);
                    if waited >= TRUNCATE_AFTER_IDLE {
                        break "TRUNCATE";
                    }
                    Some(TRUNCATE_AFTER_IDLE - waited)
                } else {
                    None
                };
                st = match timeout {
                    Some(t) => match shared.wake.wait_timeout(st, t) {
                        Ok((st, _)) => st,
                        Err(_) => return,
                    },
                    None => match shared.wake.wait(st) {
                        Ok(st) => st,
                        Err(_) => return,
                    },
                };
            }
        };
        let started = Instant::now();
        let checkpoint = |mode: &str| {
            conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
        };
        // The copying is always done by a PASSIVE checkpoint, which never blocks a writer. A
        // TRUNCATE (which holds off new writers while it runs) follows only once that copied the
        // whole WAL, so all it has left to do is wait for readers and cut the file.
        let result = checkpoint("PASSIVE").and_then(|passive| match (mode, passive) {
            ("TRUNCATE", (0, frames, copied)) if frames == copied => checkpoint("TRUNCATE"),
            ("TRUNCATE", _) => Ok((1, passive.1, passive.2)),
            _ => Ok(passive),
        });
        last_checkpoint = Some(Instant::now());
        match result {
            Ok((busy, wal_frames, copied)) => {
                tracing::debug!(
                    mode,
                    busy,
                    wal_frames,
                    copied,
                    ms = started.elapsed().as_millis() as u64,
                    "WAL checkpoint"
                );
                // A TRUNCATE that met a reader or a write retries after the next idle period.
                truncated = mode == "TRUNCATE" && busy == 0;
            }
            Err(e) => tracing::warn!(mode, error = %e, "WAL checkpoint failed; will retry"),
        }
    }
}
/// Page cache per connection, KiB (SQLite's default is 2,000 KiB): the indexes a push touches stay
/// in memory. A ceiling, not an allocation.
const CACHE_KIB: i64 = 32 * 1024;

/// Durability: WAL with `synchronous = FULL`: the WAL is synced at every commit, so a commit that
/// answered a push survives a power cut or OS crash too. The log signs a checkpoint and hands out
/// receipts inside that commit; with `NORMAL` a power cut could lose signed checkpoints, and the log
/// could then sign a different tree of the same size — a fork every device holding a receipt would
/// see. Measured cost: about 10–20 ms more per push of 500 entries (BENCHMARKS.md).
fn connect(path: &str) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Checkpoints are the Checkpointer's (a reader never commits, so this only matters for the
    // writer; set on every connection so none checkpoints inside a request).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

fn poisoned<T>(_: T) -> ApiError {
    ApiError::internal("STORAGE_POISONED", "数据库连接锁已损坏")
}

/// The database file and its `-wal` and `-shm` files are the server's alone: a missing directory
/// is created 0700 and a new database file 0600 (SQLite gives the `-wal` and `-shm` files the
/// database file's mode); an existing file that others can read is made 0600.
fn private_files(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |p: &Path, e: std::io::Error| {
        ApiError::internal(
            "DATA_DIR_FAILED",
            format!("无法准备数据库文件 {}：{e}", p.display()),
        )
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            crate::keys::create_private_dir(dir).map_err(|e| failed(dir, e))?;
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| failed(path, e))?;
    let name = path.as_os_str().to_string_lossy();
    for file in [
        path.to_path_buf(),
        format!("{name}-wal").into(),
        format!("{name}-shm").into(),
    ] {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| failed(&file, e))?;
            tracing::warn!(
                file = %file.display(),
                was = %format!("{mode:04o}"),
                "database file was readable by other users; made 0600"
            );
        }
    }
    Ok(())
}

/// Create or upgrade the schema (`PRAGMA user_version`).
fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == 0 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V1)?;
        tx.pragma_update(None, "user_version", 1)?;
        tx.commit()?;
    }
    if version < 2 {
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA_V2_MEDIA)?;
        tx.pragma_update(None, "user_version", 2)?;
        tx.commit()?;
    } else if version > 2 {
        return Err(ApiError::internal(
            "SCHEMA_TOO_NEW",
            format!("数据库结构版本 {version} 比本程序新，请升级服务器程序"),
        ));
    }
    Ok(())
}

impl SqliteStorage {
    /// Open (and create or upgrade) the database at `path`.
    pub fn open(path: &str) -> Result<Self> {
        if path != ":memory:" && !path.starts_with("file:") {
            private_files(Path::new(path))?;
        }
        let mut writer = connect(path)?;
        migrate(&mut writer)?;
        writer.execute_batch(SCHEMA_BUNDLES)?;
        writer.execute_batch(SCHEMA_REFUSALS)?;
        writer.execute_batch(SCHEMA_AUDIT)?;
        writer.execute_batch(SCHEMA_RECOVERED)?;
        let readers = (0..READERS)
            .map(|_| connect(path))
            .collect::<Result<Vec<_>>>()?;
        Ok(SqliteStorage {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(readers)),
            path: path.to_string(),
            checkpointer: Checkpointer::start(path)?,
        })
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let writer = self.writer.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().map_err(poisoned)?;
            f(&mut conn)
        })
        .await
        .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?;
        self.checkpointer.wrote();
        result
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let taken = readers.lock().map_err(poisoned)?.pop();
            let conn = match taken {
                Some(c) => c,
                None => connect(&path)?,
            };
            let result = f(&conn);
            let mut pool = readers.lock().map_err(poisoned)?;
            if pool.len() < READERS {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?
    }
}

fn in_list(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A `YYYY-MM-DD` text column as a day.
fn day_column(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<chrono::NaiveDate> {
    let text: String = r.get(i)?;
    roadside_core::day::parse_day(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("not a YYYY-MM-DD day: {text}").into(),
        )
    })
}

fn officer_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(OfficerCertificate, String)> {
    let role: String = r.get(3)?;
    Ok((
        OfficerCertificate {
            certificate_no: r.get(0)?,
            name: r.get(1)?,
            agency: r.get(2)?,
            role: roadside_core::model::OfficerRole::Officer,
            valid_from: day_column(r, 4)?,
            valid_to: day_column(r, 5)?,
            revoked_on: match r.get_ref(6)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(day_column(r, 6)?),
            },
        },
        role,
    ))
}

fn officers_query(
    conn: &Connection,
    column: &str,
    keys: &[String],
) -> Result<Vec<OfficerCertificate>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT certificate_no, name, agency, role, valid_from, valid_to, revoked_on FROM officers \
         WHERE {column} IN ({}) ORDER BY agency, certificate_no",
        in_list(keys.len())
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), officer_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (mut o, role) = row?;
        o.role = parse_role(&role)?;
        out.push(o);
    }
    Ok(out)
}

const DEVICE_COLUMNS: &str =
    "id, public_key, agency, certificate_no, name, enrolled_at, revoked_at, head_seq, head_hash";

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Device, i64, Option<Vec<u8>>)> {
    Ok((
        Device {
            id: r.get(0)?,
            public_key: r.get(1)?,
            agency: r.get(2)?,
            certificate_no: r.get(3)?,
            name: r.get(4)?,
            enrolled_at: r.get(5)?,
            revoked_at: r.get(6)?,
            head_seq: 0,
            head_hash: None,
        },
        r.get(7)?,
        r.get(8)?,
    ))
}

fn finish_device((mut d, seq, hash): (Device, i64, Option<Vec<u8>>)) -> Result<Device> {
    d.head_seq = u64_of(seq)?;
    d.head_hash = hash.as_deref().map(hash32).transpose()?;
    Ok(d)
}

fn read_tiles_sync(conn: &Connection, keys: &[TileKey]) -> Result<TileSet> {
    let mut set = TileSet::default();
    let mut stmt =
        conn.prepare_cached("SELECT data FROM log_tiles WHERE level = ?1 AND idx = ?2")?;
    for &(level, idx) in keys {
        let Some(stored_idx) = lookup_i64(idx) else {
            continue;
        };
        let data: Option<Vec<u8>> = stmt
            .query_row(params![level, stored_idx], |r| r.get(0))
            .optional()?;
        if let Some(data) = data {
            set.tiles.insert((level, idx), data);
        }
    }
    Ok(set)
}

/// Update the materialised views (cases, records, evidence) for one accepted entry.
fn materialise(tx: &rusqlite::Transaction<'_>, e: &NewEntry) -> Result<()> {
    match e.kind.as_str() {
        "case.open" => {
            tx.prepare_cached(
                "INSERT INTO cases (id, agency, status, opened_at) VALUES (?1, ?2, 'draft', ?3) \
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![e.case_id, e.agency, e.at])?;
        }
        "case.finalize" => {
            tx.prepare_cached(
                "UPDATE cases SET status = 'finalized' WHERE id = ?1 AND agency = ?2",
            )?
            .execute(params![e.case_id, e.agency])?;
        }
        "record.create" | "record.amend" => {
            tx.prepare_cached(
                "INSERT INTO records (entry_hash, case_id, agency, kind, supersedes, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &e.hash[..],
                e.case_id,
                e.agency,
                e.kind,
                e.supersedes,
                e.body
            ])?;
            if let Some(target) = e.supersedes.as_deref().and_then(|s| hex::decode(s).ok()) {
                tx.execute(
                    "UPDATE records SET superseded_by = ?1 WHERE entry_hash = ?2 AND agency = ?3",
                    params![&e.hash[..], target, e.agency],
                )?;
            }
        }
        "evidence.add" => {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
            tx.prepare_cached(
                "INSERT INTO evidence (entry_hash, case_id, agency, sha256, size, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &e.hash[..],
                e.case_id,
                e.agency,
                body.get("sha256").and_then(|v| v.as_str()),
                body.get("size").and_then(|v| v.as_i64()),
                e.body
            ])?;
        }
        "entry.void" => {
            if let Some(target) = e.supersedes.as_deref().and_then(|s| hex::decode(s).ok()) {
                tx.execute(
                    "UPDATE records SET superseded_by = ?1 WHERE entry_hash = ?2 AND agency = ?3",
                    params![&e.hash[..], target, e.agency],
                )?;
                tx.execute(
                    "UPDATE evidence SET voided_by = ?1 WHERE entry_hash = ?2 AND agency = ?3",
                    params![&e.hash[..], target, e.agency],
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[async_trait]
impl Storage for SqliteStorage {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
        .await
    }

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

    async fn upsert_agency(&self, a: &Agency) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO agencies (code, name, parent) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent",
                params![a.code, a.name, a.parent],
            )?;
            Ok(())
        })
        .await
    }

    async fn agencies(&self) -> Result<Vec<Agency>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT code, name, parent FROM agencies ORDER BY code")?;
            let rows = stmt.query_map([], |r| {
                Ok(Agency {
                    code: r.get(0)?,
                    name: r.get(1)?,
                    parent: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn put_officer(&self, o: &OfficerCertificate) -> Result<()> {
        let o = o.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO officers (certificate_no, name, agency, role, valid_from, valid_to, revoked_on) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (certificate_no) DO UPDATE SET \
                 name = excluded.name, agency = excluded.agency, role = excluded.role, \
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to, revoked_on = excluded.revoked_on",
                params![
                    o.certificate_no,
                    o.name,
                    o.agency,
                    role_str(o.role),
                    format_day(o.valid_from),
                    format_day(o.valid_to),
                    o.revoked_on.map(format_day)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn officer(&self, certificate_no: &str) -> Result<Option<OfficerCertificate>> {
        let key = vec![certificate_no.to_string()];
        Ok(self
            .read(move |c| officers_query(c, "certificate_no", &key))
            .await?
            .pop())
    }

    async fn officers(&self, agencies: &[String]) -> Result<Vec<OfficerCertificate>> {
        let keys = agencies.to_vec();
        self.read(move |c| officers_query(c, "agency", &keys)).await
    }

    async fn officers_by_certificate(&self, certs: &[String]) -> Result<Vec<OfficerCertificate>> {
        let keys = certs.to_vec();
        self.read(move |c| officers_query(c, "certificate_no", &keys))
            .await
    }

    async fn create_account(&self, a: &Account) -> Result<bool> {
        let a = a.clone();
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO accounts (login, agency, role, certificate_no, password_hash, disabled) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (login) DO NOTHING",
                params![a.login, a.agency, role_str(a.role), a.certificate_no, a.password_hash, a.disabled],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn account(&self, login: &str) -> Result<Option<Account>> {
        let login = login.to_string();
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT login, agency, role, certificate_no, password_hash, disabled FROM accounts WHERE login = ?1",
                    [login],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, bool>(5)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(login, agency, role, certificate_no, password_hash, disabled)| {
                Ok(Account {
                    login,
                    agency,
                    role: parse_role(&role)?,
                    certificate_no,
                    password_hash,
                    disabled,
                })
            })
            .transpose()
        })
        .await
    }

    async fn create_session(&self, token_hash: &[u8; 32], s: &Session) -> Result<()> {
        let (t, s) = (*token_hash, s.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, login, agency, role, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&t[..], s.login, s.agency, role_str(s.role), s.expires_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        let t = *token_hash;
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT login, agency, role, expires_at FROM sessions WHERE token_hash = ?1",
                    [&t[..]],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(login, agency, role, expires_at)| {
                Ok(Session {
                    login,
                    agency,
                    role: parse_role(&role)?,
                    expires_at,
                })
            })
            .transpose()
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()> {
        let t = *token_hash;
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", [&t[..]])?;
            Ok(())
        })
        .await
    }

    async fn create_enrolment_code(&self, code: &EnrolmentCode) -> Result<()> {
        let code = code.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO enrolment_codes (code_hash, agency, certificate_no, created_by, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&code.code_hash[..], code.agency, code.certificate_no, code.created_by, code.expires_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn enrol_device(
        &self,
        code_hash: &[u8; 32],
        now: &str,
        device: Device,
        token_hash: &[u8; 32],
    ) -> Result<EnrolOutcome> {
        let (code_hash, now, token_hash) = (*code_hash, now.to_string(), *token_hash);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let code: Option<(String, String, String, Option<String>)> = tx
                .query_row(
                    "SELECT agency, certificate_no, expires_at, used_at FROM enrolment_codes WHERE code_hash = ?1",
                    [&code_hash[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((agency, certificate_no, expires_at, used_at)) = code else {
                return Ok(EnrolOutcome::CodeUnknown);
            };
            if used_at.is_some() {
                return Ok(EnrolOutcome::CodeUsed);
            }
            if expires_at <= now {
                return Ok(EnrolOutcome::CodeExpired);
            }
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE public_key = ?1)",
                [&device.public_key],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(EnrolOutcome::KeyTaken);
            }
            let device = Device {
                agency,
                certificate_no,
                enrolled_at: now.clone(),
                ..device
            };
            tx.execute(
                "INSERT INTO devices (id, public_key, agency, certificate_no, name, token_hash, enrolled_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![device.id, device.public_key, device.agency, device.certificate_no, device.name, &token_hash[..], now],
            )?;
            tx.execute(
                "UPDATE enrolment_codes SET used_at = ?1, device_id = ?2 WHERE code_hash = ?3",
                params![now, device.id, &code_hash[..]],
            )?;
            tx.commit()?;
            Ok(EnrolOutcome::Enrolled(Box::new(device)))
        })
        .await
    }

    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Device>> {
        let t = *token_hash;
        self.read(move |c| {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?1");
            c.query_row(&sql, [&t[..]], device_row)
                .optional()?
                .map(finish_device)
                .transpose()
        })
        .await
    }

    async fn devices(&self, agencies: &[String]) -> Result<Vec<Device>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE agency IN ({}) ORDER BY enrolled_at",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), device_row)?;
            rows.map(|r| finish_device(r?)).collect()
        })
        .await
    }

    async fn revoke_device(&self, id: &str, agencies: &[String], now: &str) -> Result<bool> {
        let (id, keys, now) = (id.to_string(), agencies.to_vec(), now.to_string());
        self.write(move |c| {
            let Some((agency, revoked)) = c
                .query_row(
                    "SELECT agency, revoked_at FROM devices WHERE id = ?1",
                    [&id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
                )
                .optional()?
            else {
                return Ok(false);
            };
            if !keys.contains(&agency) {
                return Ok(false);
            }
            if revoked.is_none() {
                c.execute(
                    "UPDATE devices SET revoked_at = ?1 WHERE id = ?2",
                    params![now, id],
                )?;
            }
            Ok(true)
        })
        .await
    }

    async fn commit_batch(
        &self,
        device_id: &str,
        seqs: Vec<u64>,
        plan: Planner,
    ) -> Result<BatchPlan> {
        let device_id = device_id.to_string();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1");
            let device = finish_device(tx.query_row(&sql, [&device_id], device_row)?)?;
            let tree_size = u64_of(tx.query_row("SELECT size FROM log_state WHERE id = 1", [], |r| r.get(0))?)?;
            let mut existing = HashMap::new();
            let mut refusals = HashMap::new();
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT e.hash, e.leaf_index, e.checkpoint_size, r.code, r.message FROM entries e \
                     LEFT JOIN entry_refusals r ON r.entry_hash = e.hash WHERE e.device_id = ?1 AND e.seq = ?2",
                )?;
                for seq in seqs.iter().filter(|s| **s <= device.head_seq) {
                    type Row = (Vec<u8>, i64, i64, Option<String>, Option<String>);
                    let row: Option<Row> = stmt
                        .query_row(params![device_id, i64_of(*seq)?], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .optional()?;
                    if let Some((hash, leaf, cp, code, message)) = row {
                        if let (Some(code), Some(message)) = (code, message) {
                            refusals.insert(*seq, crate::ingest::Refusal { code, message });
                        }
                        existing.insert(
                            *seq,
                            StoredEntry {
                                hash: hash32(&hash)?,
                                leaf_index: u64_of(leaf)?,
                                checkpoint_size: u64_of(cp)?,
                            },
                        );
                    }
                }
            }
            let tiles = read_tiles_sync(&tx, &crate::tlog::edge_tiles(tree_size))?;
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
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO entries (hash, device_id, seq, leaf_index, checkpoint_size, agency, kind, \
                     case_id, at, officers, bytes, sig) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                for e in &plan.entries {
                    insert.execute(params![
                        &e.hash[..],
                        e.device_id,
                        i64_of(e.seq)?,
                        i64_of(e.leaf_index)?,
                        i64_of(plan.new_size)?,
                        e.agency,
                        e.kind,
                        e.case_id,
                        e.at,
                        e.officers.join(","),
                        e.bytes,
                        e.sig
                    ])?;
                    match &e.refusal {
                        None => materialise(&tx, e)?,
                        Some(r) => {
                            tx.prepare_cached(
                                "INSERT INTO entry_refusals (entry_hash, code, message) VALUES (?1, ?2, ?3)",
                            )?
                            .execute(params![&e.hash[..], r.code, r.message])?;
                        }
                    }
                }
                let mut tile = tx.prepare_cached(
                    "INSERT INTO log_tiles (level, idx, data) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
                )?;
                for ((level, idx), data) in &plan.tiles {
                    tile.execute(params![level, i64_of(*idx)?, data])?;
                }
                let mut recovered = tx.prepare_cached(
                    "INSERT INTO log_recovered (entry_hash, device_id, seq, leaf_index, old_origin, \
                     old_leaf_index, old_tree_size, old_checkpoint, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for r in &plan.recovered {
                    recovered.execute(params![
                        hex::decode(&r.entry_hash).map_err(|_| ApiError::storage("recovered entry hash is not hex"))?,
                        r.device_id,
                        i64_of(r.seq)?,
                        i64_of(r.leaf_index)?,
                        r.old_origin,
                        i64_of(r.old_leaf_index)?,
                        i64_of(r.old_tree_size)?,
                        r.old_checkpoint,
                        r.recorded_at
                    ])?;
                }
            }
            if let Some((seq, hash)) = plan.head {
                tx.execute(
                    "UPDATE devices SET head_seq = ?1, head_hash = ?2 WHERE id = ?3",
                    params![i64_of(seq)?, &hash[..], device_id],
                )?;
            }
            tx.execute("UPDATE log_state SET size = ?1 WHERE id = 1", [i64_of(plan.new_size)?])?;
            if let Some(note) = &plan.checkpoint {
                tx.execute(
                    "INSERT INTO checkpoints (size, note) VALUES (?1, ?2)",
                    params![i64_of(plan.new_size)?, note],
                )?;
            }
            crate::crash::point("push.commit");
            tx.commit()?;
            Ok(plan)
        })
        .await
    }

    async fn tree_size(&self) -> Result<u64> {
        self.read(|c| {
            u64_of(c.query_row("SELECT size FROM log_state WHERE id = 1", [], |r| r.get(0))?)
        })
        .await
    }

    async fn read_tiles(&self, keys: &[TileKey]) -> Result<TileSet> {
        let keys = keys.to_vec();
        self.read(move |c| read_tiles_sync(c, &keys)).await
    }

    async fn checkpoint(&self, size: Option<u64>) -> Result<Option<(u64, String)>> {
        self.read(move |c| {
            let row: Option<(i64, String)> = match size {
                Some(s) => {
                    let Some(s) = lookup_i64(s) else {
                        return Ok(None);
                    };
                    c.query_row(
                        "SELECT size, note FROM checkpoints WHERE size = ?1",
                        [s],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?
                }
                None => c
                    .query_row(
                        "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?,
            };
            row.map(|(s, n)| Ok((u64_of(s)?, n))).transpose()
        })
        .await
    }

    async fn leaves(&self, start: u64, count: u64) -> Result<Vec<[u8; 32]>> {
        let Some((start, end)) = leaf_range(start, count) else {
            return Ok(Vec::new());
        };
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT hash FROM entries WHERE leaf_index >= ?1 AND leaf_index < ?2 ORDER BY leaf_index",
            )?;
            let rows = stmt.query_map(params![start, end], |r| r.get::<_, Vec<u8>>(0))?;
            rows.map(|r| hash32(&r?)).collect()
        })
        .await
    }

    async fn entry_position(&self, hash: &[u8; 32]) -> Result<Option<(StoredEntry, String)>> {
        let h = *hash;
        self.read(move |c| {
            let row: Option<(i64, i64, String)> = c
                .query_row(
                    "SELECT leaf_index, checkpoint_size, agency FROM entries WHERE hash = ?1",
                    [&h[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            row.map(|(leaf, cp, agency)| {
                Ok((
                    StoredEntry {
                        hash: h,
                        leaf_index: u64_of(leaf)?,
                        checkpoint_size: u64_of(cp)?,
                    },
                    agency,
                ))
            })
            .transpose()
        })
        .await
    }

    async fn recovered_entries(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RecoveredEntry>> {
        self.read(move |c| {
            let after = after.map(i64_of).transpose()?.unwrap_or(-1);
            let mut stmt = c.prepare_cached(
                "SELECT entry_hash, device_id, seq, leaf_index, old_origin, old_leaf_index, \
                 old_tree_size, old_checkpoint, recorded_at FROM log_recovered \
                 WHERE leaf_index > ?1 ORDER BY leaf_index LIMIT ?2",
            )?;
            type Row = (Vec<u8>, String, i64, i64, String, i64, i64, String, String);
            let rows = stmt
                .query_map(params![after, i64::from(limit)], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<Row>>>()?;
            rows.into_iter()
                .map(
                    |(hash, device_id, seq, leaf, origin, old_leaf, old_size, note, at)| {
                        Ok(RecoveredEntry {
                            entry_hash: hex::encode(hash32(&hash)?),
                            device_id,
                            seq: u64_of(seq)?,
                            leaf_index: u64_of(leaf)?,
                            old_origin: origin,
                            old_leaf_index: u64_of(old_leaf)?,
                            old_tree_size: u64_of(old_size)?,
                            old_checkpoint: note,
                            recorded_at: at,
                        })
                    },
                )
                .collect()
        })
        .await
    }

    async fn cases(&self, agencies: &[String]) -> Result<Vec<CaseRow>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT c.id, c.agency, c.status, c.opened_at, \
                 (SELECT COUNT(*) FROM records r WHERE r.case_id = c.id AND r.agency = c.agency), \
                 (SELECT COUNT(*) FROM evidence v WHERE v.case_id = c.id AND v.agency = c.agency) \
                 FROM cases c WHERE c.agency IN ({}) ORDER BY c.opened_at DESC",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?;
            rows.map(|r| {
                let (id, agency, status, opened_at, records, evidence) = r?;
                Ok(CaseRow {
                    id,
                    agency,
                    status,
                    opened_at,
                    records: u64_of(records)?,
                    evidence: u64_of(evidence)?,
                })
            })
            .collect()
        })
        .await
    }
    // ---- Reference bundles (crate::bundles) ----

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

    // ---- History (first-offence query) ----

    async fn prior_cases(
        &self,
        agencies: &[String],
        query: &HistoryQuery,
    ) -> Result<Vec<PriorCase>> {
        let (keys, q) = (agencies.to_vec(), query.clone());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT c.id, c.agency, c.status, c.opened_at, e.bytes \
                 FROM entries e JOIN cases c ON c.id = e.case_id AND c.agency = e.agency \
                 WHERE e.kind = 'case.open' AND c.opened_at >= ?1 AND c.agency IN ({}) \
                 AND NOT EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash) \
                 ORDER BY c.opened_at DESC",
                (2..keys.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let mut stmt = c.prepare(&sql)?;
            let params = std::iter::once(&q.since).chain(keys.iter());
            let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (case, agency, status, opened_at, bytes) = row?;
                if let Some((plate, violations)) = opening_matches(&bytes, &q) {
                    out.push(PriorCase {
                        case,
                        agency,
                        opened_at,
                        status,
                        plate,
                        violations,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    // ---- Media uploads (tus) and stored media objects ----

    async fn evidence_sizes(&self, agencies: &[String], sha256: &str) -> Result<Vec<u64>> {
        let (keys, sha) = (agencies.to_vec(), sha256.to_string());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT DISTINCT size FROM evidence WHERE sha256 = ?1 AND size IS NOT NULL \
                 AND agency IN ({}) ORDER BY size",
                (2..keys.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let mut stmt = c.prepare(&sql)?;
            let params = std::iter::once(&sha).chain(keys.iter());
            let rows =
                stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, i64>(0))?;
            rows.map(|r| u64_of(r?)).collect()
        })
        .await
    }

    async fn create_upload(&self, u: &MediaUpload) -> Result<()> {
        let u = u.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO media_uploads (id, agency, device_id, sha256, length, upload_offset, \
                 hash_state, parts, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    u.id,
                    u.agency,
                    u.device_id,
                    u.sha256,
                    i64_of(u.length)?,
                    i64_of(u.offset)?,
                    u.hash_state,
                    parts_text(&u.parts),
                    u.created_at,
                    u.expires_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn upload(&self, id: &str) -> Result<Option<MediaUpload>> {
        let id = id.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE id = ?1");
            c.query_row(&sql, [id], upload_row)
                .optional()?
                .map(finish_upload_row)
                .transpose()
        })
        .await
    }

    async fn open_upload(
        &self,
        agency: &str,
        sha256: &str,
        now: &str,
    ) -> Result<Option<MediaUpload>> {
        let (agency, sha, now) = (agency.to_string(), sha256.to_string(), now.to_string());
        self.read(move |c| {
            let sql = format!(
                "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE agency = ?1 AND sha256 = ?2 \
                 AND (expires_at > ?3 OR upload_offset = length) ORDER BY created_at DESC LIMIT 1"
            );
            c.query_row(&sql, params![agency, sha, now], upload_row)
                .optional()?
                .map(finish_upload_row)
                .transpose()
        })
        .await
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
        let (id, state, expires) = (id.to_string(), hash_state.to_vec(), expires_at.to_string());
        let part = part
            .map(|p| parts_text(&[p.to_string()]))
            .unwrap_or_default();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE media_uploads SET upload_offset = ?1, hash_state = ?2, expires_at = ?3, \
                 parts = parts || ?4 WHERE id = ?5 AND upload_offset = ?6",
                params![i64_of(to)?, state, expires, part, id, i64_of(from)?],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.write(move |c| Ok(c.execute("DELETE FROM media_uploads WHERE id = ?1", [id])? == 1))
            .await
    }

    async fn expired_uploads(&self, now: &str, limit: u32) -> Result<Vec<MediaUpload>> {
        let now = now.to_string();
        self.read(move |c| {
            let sql = format!(
                "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE expires_at <= ?1 \
                 AND upload_offset < length ORDER BY expires_at LIMIT ?2"
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params![now, limit], upload_row)?;
            rows.map(|r| finish_upload_row(r?)).collect()
        })
        .await
    }

    async fn complete_uploads(&self, limit: u32) -> Result<Vec<MediaUpload>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE upload_offset = length \
                 ORDER BY created_at LIMIT ?1"
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params![limit], upload_row)?;
            rows.map(|r| finish_upload_row(r?)).collect()
        })
        .await
    }

    async fn restart_upload(&self, id: &str, hash_state: &[u8], expires_at: &str) -> Result<bool> {
        let (id, state, expires) = (id.to_string(), hash_state.to_vec(), expires_at.to_string());
        self.write(move |c| {
            let n = c.execute(
                "UPDATE media_uploads SET upload_offset = 0, hash_state = ?1, parts = '', \
                 expires_at = ?2 WHERE id = ?3 AND upload_offset = length",
                params![state, expires, id],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn finish_upload(&self, id: &str, o: &MediaObject) -> Result<()> {
        let (id, o) = (id.to_string(), o.clone());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO media_objects (sha256, agency, size, stored_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (sha256, agency) DO NOTHING",
                params![o.sha256, o.agency, i64_of(o.size)?, o.stored_at],
            )?;
            tx.execute("DELETE FROM media_uploads WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn media_object(&self, agencies: &[String], sha256: &str) -> Result<Option<MediaObject>> {
        let (keys, sha) = (agencies.to_vec(), sha256.to_string());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(None);
            }
            let sql = format!(
                "SELECT sha256, agency, size, stored_at FROM media_objects WHERE sha256 = ?1 \
                 AND agency IN ({}) ORDER BY stored_at LIMIT 1",
                (2..keys.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let params = std::iter::once(&sha).chain(keys.iter());
            let row: Option<(String, String, i64, String)> = c
                .query_row(&sql, rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            row.map(|(sha256, agency, size, stored_at)| {
                Ok(MediaObject {
                    sha256,
                    agency,
                    size: u64_of(size)?,
                    stored_at,
                })
            })
            .transpose()
        })
        .await
    }

    // ---- Self-audit (crate::audit) ----

    async fn audit_entries(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT e.hash, e.device_id, e.seq, e.leaf_index, e.agency, e.kind, e.case_id, e.at, \
                 e.officers, e.bytes, e.sig, \
                 EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash) \
                 FROM entries e WHERE e.leaf_index >= ?1 AND e.leaf_index < ?2 ORDER BY e.leaf_index",
            )?;
            let rows = stmt.query_map(params![i64_of(from)?, i64_of(to)?], |r| {
                Ok((
                    AuditEntry {
                        hash: r.get(0)?,
                        device_id: r.get(1)?,
                        seq: r.get(2)?,
                        leaf_index: 0,
                        agency: r.get(4)?,
                        kind: r.get(5)?,
                        case_id: r.get(6)?,
                        at: r.get(7)?,
                        officers: r.get(8)?,
                        bytes: r.get(9)?,
                        sig: r.get(10)?,
                        refused: r.get(11)?,
                    },
                    r.get::<_, i64>(3)?,
                ))
            })?;
            rows.map(|row| {
                let (mut e, leaf) = row?;
                e.leaf_index = u64_of(leaf)?;
                Ok(e)
            })
            .collect()
        })
        .await
    }

    async fn audit_devices(&self) -> Result<Vec<Device>> {
        self.read(|c| {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id");
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([], device_row)?;
            rows.map(|r| finish_device(r?)).collect()
        })
        .await
    }

    async fn audit_cases(&self) -> Result<Vec<AuditCase>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, agency, status, opened_at FROM cases ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(AuditCase {
                    id: r.get(0)?,
                    agency: r.get(1)?,
                    status: r.get(2)?,
                    opened_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn audit_rows(
        &self,
        hashes: &[[u8; 32]],
    ) -> Result<(Vec<AuditRecord>, Vec<AuditEvidence>)> {
        let hashes = hashes.to_vec();
        self.read(move |c| {
            let mut records = Vec::new();
            let mut evidence = Vec::new();
            for part in hashes.chunks(500) {
                let keys = part.iter().map(|h| &h[..]);
                let sql = format!(
                    "SELECT entry_hash, case_id, agency, kind, supersedes, superseded_by, body \
                     FROM records WHERE entry_hash IN ({})",
                    in_list(part.len())
                );
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(keys.clone()), |r| {
                    Ok(AuditRecord {
                        entry_hash: r.get(0)?,
                        case_id: r.get(1)?,
                        agency: r.get(2)?,
                        kind: r.get(3)?,
                        supersedes: r.get(4)?,
                        superseded_by: r.get(5)?,
                        body: r.get(6)?,
                    })
                })?;
                records.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
                let sql = format!(
                    "SELECT entry_hash, case_id, agency, sha256, size, voided_by, body \
                     FROM evidence WHERE entry_hash IN ({})",
                    in_list(part.len())
                );
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(keys), |r| {
                    Ok(AuditEvidence {
                        entry_hash: r.get(0)?,
                        case_id: r.get(1)?,
                        agency: r.get(2)?,
                        sha256: r.get(3)?,
                        size: r.get(4)?,
                        voided_by: r.get(5)?,
                        body: r.get(6)?,
                    })
                })?;
                evidence.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
            }
            Ok((records, evidence))
        })
        .await
    }

    async fn audit_orphan_rows(&self) -> Result<Vec<AuditOrphan>> {
        self.read(|c| {
            let mut stmt = c.prepare(AUDIT_ORPHANS_SQL)?;
            let rows = stmt.query_map([], |r| {
                Ok(AuditOrphan {
                    table: r.get(0)?,
                    entry_hash: r.get(1)?,
                    agency: r.get(2)?,
                    case_id: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn audit_marks(&self) -> Result<Vec<AuditMark>> {
        self.read(|c| {
            let mut stmt = c.prepare(AUDIT_MARKS_SQL)?;
            let rows = stmt.query_map([], |r| {
                Ok(AuditMark {
                    table: r.get(0)?,
                    entry_hash: r.get(1)?,
                    by: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn put_audit_holds(&self, holds: &[AuditHold]) -> Result<()> {
        let holds = holds.to_vec();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM audit_holds", [])?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO audit_holds (code, agency, case_id, entry_hash, detail, found_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for h in &holds {
                    insert.execute(params![
                        h.code,
                        h.agency,
                        h.case_id,
                        h.entry_hash,
                        h.detail,
                        h.found_at
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn audit_holds(&self, agencies: &[String]) -> Result<Vec<AuditHold>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            let sql = format!(
                "SELECT code, agency, case_id, entry_hash, detail, found_at FROM audit_holds \
                 WHERE agency IS NULL{} ORDER BY id",
                if keys.is_empty() {
                    String::new()
                } else {
                    format!(" OR agency IN ({})", in_list(keys.len()))
                }
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), |r| {
                Ok(AuditHold {
                    code: r.get(0)?,
                    agency: r.get(1)?,
                    case_id: r.get(2)?,
                    entry_hash: r.get(3)?,
                    detail: r.get(4)?,
                    found_at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

// ---- Media uploads: row mapping ----

const UPLOAD_COLUMNS: &str = "id, agency, device_id, sha256, length, upload_offset, hash_state, \
     parts, created_at, expires_at";

type UploadRow = (MediaUpload, i64, i64, String);

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    Ok((
        MediaUpload {
            id: r.get(0)?,
            agency: r.get(1)?,
            device_id: r.get(2)?,
            sha256: r.get(3)?,
            length: 0,
            offset: 0,
            hash_state: r.get(6)?,
            parts: Vec::new(),
            created_at: r.get(8)?,
            expires_at: r.get(9)?,
        },
        r.get(4)?,
        r.get(5)?,
        r.get(7)?,
    ))
}

fn finish_upload_row((mut u, length, offset, parts): UploadRow) -> Result<MediaUpload> {
    u.length = u64_of(length)?;
    u.offset = u64_of(offset)?;
    u.parts = parts_of(&parts);
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_len(db: &Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(Path::new(&wal)).map_or(0, |m| m.len())
    }

    /// No request checkpoints the WAL (`wal_autocheckpoint = 0` on every connection); the
    /// checkpointer thread copies it into the database while writes come in and truncates it once
    /// they stop, and what was written is all there when the database is opened again.
    #[tokio::test]
    async fn the_checkpointer_thread_checkpoints_and_truncates_the_wal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("roadside.db");
        let path = db.to_str().expect("UTF-8 path").to_string();
        {
            let storage = SqliteStorage::open(&path).expect("open");
            let auto: i64 = storage
                .read(|c| Ok(c.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))?))
                .await
                .expect("pragma");
            assert_eq!(auto, 0);
            for i in 0..50 {
                let name = format!("test-{i}");
                storage
                    .setting_or_insert(&name, &"x".repeat(4096))
                    .await
                    .expect("write");
            }
            assert!(wal_len(&db) > 0, "the writes went to the WAL");
            // Idle: the checkpointer truncates the WAL (TRUNCATE_AFTER_IDLE, plus slack for a
            // loaded machine).
            let deadline = Instant::now() + TRUNCATE_AFTER_IDLE + Duration::from_secs(20);
            while wal_len(&db) > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert_eq!(
                wal_len(&db),
                0,
                "the WAL was truncated after the writes stopped"
            );
        }
        // Dropping the storage stopped the thread; everything written is in the database file.
        let storage = SqliteStorage::open(&path).expect("reopen");
        for i in [0, 49] {
            let v = storage
                .setting_or_insert(&format!("test-{i}"), "other")
                .await
                .expect("read");
            assert_eq!(v, "x".repeat(4096));
        }
    }
}
