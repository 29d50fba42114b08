//! Opening the encrypted database: SQLCipher keying, WAL, durability, and error mapping.
//!
//! The key is 32 random bytes that the platform keeps (Android Keystore, iOS Keychain, or the CLI's
//! key file). It is handed to SQLCipher as a raw key (`x'…'`), so no key derivation runs at open and
//! the key never exists as a passphrase. A wrong key is detected on the first read and reported as
//! `STORE_WRONG_KEY`; nothing is written before the key has been proven right.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{Result, RoadsideError};

/// How hard a commit waits for the disk.
///
/// Roadside ships with [`Durability::Normal`]: in WAL mode a committed transaction is in the WAL
/// file before `COMMIT` returns, so a killed or crashed app never loses it; only a power cut or a
/// kernel crash can drop the last few commits (never corrupt the file). `Full` adds an fsync per
/// commit, which on the flash and virtual disks measured here caps a device at ~250 actions per
/// second (see BENCHMARKS.md); agencies that want power-cut durability can choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum Durability {
    /// `synchronous = FULL` in WAL mode: a commit survives a killed process *and* a power cut.
    Full,
    /// `synchronous = NORMAL` in WAL mode: a commit survives a killed process; the last commits
    /// before a power cut may be lost (never corrupted). The default.
    #[default]
    Normal,
}

/// Map a SQLite failure to the store error category.
pub(crate) fn store_err(e: rusqlite::Error) -> RoadsideError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => wrong_key(),
        Some(ErrorCode::DiskFull) => RoadsideError::store(
            "STORE_DISK_FULL",
            "存储空间已满，操作未保存，请清理空间后重试",
        ),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            RoadsideError::store("STORE_BUSY", "数据库正被另一个进程使用，请稍后重试")
        }
        Some(ErrorCode::ReadOnly) => {
            RoadsideError::store("STORE_READ_ONLY", "数据库为只读，无法保存")
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            RoadsideError::store("STORE_CORRUPT", format!("数据库文件已损坏：{e}"))
        }
        Some(ErrorCode::ConstraintViolation) => {
            RoadsideError::store("STORE_CONSTRAINT", format!("数据库拒绝了这次写入：{e}"))
        }
        _ => RoadsideError::store("STORE_FAILED", format!("数据库操作失败：{e}")),
    }
}

pub(crate) fn wrong_key() -> RoadsideError {
    RoadsideError::key(
        "STORE_WRONG_KEY",
        "无法用提供的密钥打开数据库：密钥不正确，或文件不是 Roadside 数据库。数据未被改动",
    )
}

/// Open one connection to the encrypted database at `path`, keyed and configured.
pub(crate) fn open_connection(
    path: &Path,
    key: &[u8; 32],
    durability: Durability,
    read_only: bool,
) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        RoadsideError::store(
            "STORE_OPEN_FAILED",
            format!("无法打开数据库文件 {}：{e}", path.display()),
        )
    })?;
    // SQLCipher logs decryption failures to stderr by default; the error we return says it all,
    // and the CLI's stderr must stay one JSON document.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")
        .map_err(store_err)?;
    // The key must be the first statement that touches the database. Pages are authenticated with
    // HMAC-SHA256 rather than SQLCipher's default SHA-512: as strong for this purpose, and SHA-256
    // runs on the SHA extensions of current ARM and x86 CPUs (15 % of a device action here).
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
        hex::encode(key)
    ))
    .map_err(store_err)?;
    // Prove the key before anything else touches the file.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(store_err)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(store_err)?;
    if !read_only {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(store_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(RoadsideError::store(
                "STORE_NO_WAL",
                format!("数据库无法切换到 WAL 模式（当前 {mode}）"),
            ));
        }
    }
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    // Checkpoint the WAL every 4,000 pages (16 MiB) rather than 1,000: a checkpoint costs an fsync,
    // so fewer of them raise the action rate by ~10 %; the WAL file is trimmed back to 16 MiB.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 4000; PRAGMA journal_size_limit = 16777216;"
    ))
    .map_err(store_err)?;
    Ok(conn)
}
