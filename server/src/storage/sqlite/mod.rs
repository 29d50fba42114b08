//! SQLite backend: the embedded default. One writer connection (every write a transaction, the
//! batch append `BEGIN IMMEDIATE`) and a few reader connections, WAL mode. Blocking calls run on
//! tokio's blocking pool. Schema versioned through `PRAGMA user_version` ([`migrate`]). WAL
//! checkpoints run on a thread of their own (`checkpoint.rs`), never inside a push.
//!
//! One file per area, each implementing that area's trait (`accounts.rs` → [`AccountStore`], …);
//! this one holds the connections, the schema's upgrade and the row mappings the areas share.

mod accounts;
mod audit;
mod bundles;
mod case_reviews;
mod cases;
mod checkpoint;
mod devices;
mod legal;
mod log;
mod media;
mod numbers;
mod publications;
mod settings;
mod witnesses;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use roadside_core::model::OfficerCertificate;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use self::checkpoint::Checkpointer;
use crate::error::{ApiError, Result};
use crate::storage::migrate;
use crate::storage::*;

const READERS: usize = 4;

/// The SQLite storage.
pub struct SqliteStorage {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: String,
    checkpointer: Checkpointer,
    commits: CommitObservers,
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
            crate::fsutil::create_private_dir(dir).map_err(|e| failed(dir, e))?;
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

/// Create or upgrade the schema ([`migrate`]): each version still needed applied in a
/// transaction of its own, which records it in `PRAGMA user_version` (part of the transaction).
fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for m in migrate::pending(found, migrate::SQLITE)? {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
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
        let readers = (0..READERS)
            .map(|_| connect(path))
            .collect::<Result<Vec<_>>>()?;
        Ok(SqliteStorage {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(readers)),
            path: path.to_string(),
            checkpointer: Checkpointer::start(path)?,
            commits: CommitObservers::default(),
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
}

#[cfg(test)]
mod tests {
    use super::checkpoint::TRUNCATE_AFTER_IDLE;
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
