//! Opening the encrypted database: SQLCipher keying, WAL, durability, and error mapping.
//!
//! The key is 32 random bytes that the platform keeps (Android Keystore, iOS Keychain, or the CLI's
//! key file). It is handed to SQLCipher as a raw key (`x'…'`), so no key derivation runs at open and
//! the key never exists as a passphrase. A wrong key is detected on the first read and reported as
//! `STORE_WRONG_KEY`; nothing is written before the key has been proven right.
//!
//! # A wrong key or a damaged file
//!
//! SQLCipher authenticates every page with an HMAC keyed from the database key and the 16-byte salt
//! at the start of page 1, and the first read of a database is page 1. A wrong key and a damaged
//! page 1 (salt or body) therefore fail the same way, with `SQLITE_NOTADB`: nothing inside the file
//! can tell them apart, because everything inside it is checked with the key in question. So the
//! store keeps a **key check** beside the database, [`KEY_CHECK_FILE`]: the lowercase hex of
//! SHA-256 over a fixed label and the 32 key bytes. It is written (mode 0600) once the key has opened
//! the database, and it is checked only after page 1 has failed:
//!
//! - the key matches the key check → the key is the one that opened this database before, so the
//!   file is damaged: `STORE_CORRUPT`;
//! - it does not match → `STORE_WRONG_KEY`;
//! - there is no key check (a database created by an older build that was never opened since, or
//!   a file copied without it) → `STORE_WRONG_KEY`, saying the file may also be damaged.
//!
//! The key check reveals nothing about the key: the key is 32 random bytes, so its SHA-256 cannot be
//! inverted or searched, and the label keeps the value from equalling any other hash of the key. It
//! only answers "is this the same key", which anyone holding a candidate key could already learn by
//! trying to open the database. After a successful open, a page that fails its HMAC can only be
//! damage (the key has been proven), so every later `SQLITE_NOTADB` is `STORE_CORRUPT` as well.
//!
//! # File modes
//!
//! On Unix the data directory is created 0700 and the database file 0600 before SQLite first opens
//! it; SQLite gives its `-wal` and `-shm` files the mode of the database file. A database left
//! readable by others by an older build is narrowed to 0600 (with its `-wal` and `-shm`) at open.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use sha2::{Digest, Sha256};

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

/// File name of the key check, beside the database (see the module documentation).
pub const KEY_CHECK_FILE: &str = "roadside.keycheck";

/// Label hashed in front of the key for the key check; a new format gets a new label.
const KEY_CHECK_LABEL: &[u8] = b"roadside device store key check v1\0";

/// A SQLite failure as a store error, for `.map_err(store_err)`: the same conversion as `?`.
pub(crate) fn store_err(e: rusqlite::Error) -> RoadsideError {
    RoadsideError::from(e)
}

/// The one place a SQLite / SQLCipher failure becomes a stable store code, so `?` on a rusqlite
/// result converts it. Used once the key has been proven (a wrong key is decided when the store is
/// opened), so a page that fails SQLCipher's HMAC (`SQLITE_NOTADB`) is damage, not a wrong key.
impl From<rusqlite::Error> for RoadsideError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => RoadsideError::store(
                "STORE_CORRUPT",
                format!("数据库文件已损坏：有页面未通过 SQLCipher 的完整性校验（{e}）"),
            ),
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
}

fn wrong_key(why: &str) -> RoadsideError {
    RoadsideError::key(
        "STORE_WRONG_KEY",
        format!("无法用提供的密钥打开数据库：{why}。数据未被改动"),
    )
}

/// The key check value of `key` (lowercase hex).
fn key_check(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(KEY_CHECK_LABEL);
    h.update(key);
    hex::encode(h.finalize())
}

fn key_check_path(db: &Path) -> PathBuf {
    db.with_file_name(KEY_CHECK_FILE)
}

/// What a key check file says about `key`: `Some(true)` same key, `Some(false)` another key,
/// `None` no (readable) key check.
fn key_check_says(db: &Path, key: &[u8; 32]) -> Option<bool> {
    let text = std::fs::read_to_string(key_check_path(db)).ok()?;
    Some(text.trim() == key_check(key))
}

/// Page 1 of an existing database failed with this key: decide between a wrong key and damage.
fn page_one_unreadable(db: &Path, key: &[u8; 32], e: &rusqlite::Error) -> RoadsideError {
    match key_check_says(db, key) {
        Some(true) => RoadsideError::store(
            "STORE_CORRUPT",
            format!(
                "数据库文件 {} 已损坏：密钥与创建时保存的密钥校验值一致，但打开时读取的页面（第 1 页及数据库结构所在的页）\
                 未通过 SQLCipher 的完整性校验（{e}）。请勿继续写入，保留文件并从备份恢复或报告系统管理员",
                db.display()
            ),
        ),
        Some(false) => wrong_key("密钥与此数据库创建时保存的密钥校验值不符"),
        None => wrong_key(
            "密钥不正确，或文件不是 Roadside 数据库，或文件第 1 页已损坏（没有密钥校验文件，无法区分）",
        ),
    }
}

/// Write the key check for a key that has just opened the database, unless it is already there.
pub(crate) fn ensure_key_check(db: &Path, key: &[u8; 32]) -> Result<()> {
    if key_check_says(db, key) == Some(true) {
        return Ok(());
    }
    let path = key_check_path(db);
    let tmp = path.with_extension("keycheck.tmp");
    let io = |e: std::io::Error| {
        RoadsideError::store(
            "STORE_KEY_CHECK",
            format!("无法写入密钥校验文件 {}：{e}", path.display()),
        )
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(key_check(key).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Create the data directory (0700 on Unix, with any parent it creates). An existing directory is
/// left as it is.
pub fn create_data_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| {
        RoadsideError::store(
            "STORE_DIR",
            format!("无法创建数据目录 {}：{e}", dir.display()),
        )
    })
}

/// Make sure the database file exists with mode 0600 before SQLite opens it (SQLite then gives the
/// `-wal` and `-shm` files the same mode), and narrow a database an older build left readable by
/// others.
pub(crate) fn prepare_db_file(db: &Path) -> Result<()> {
    let io = |p: &Path, e: std::io::Error| {
        RoadsideError::store(
            "STORE_FILE_MODE",
            format!("无法设置数据库文件 {} 的权限：{e}", p.display()),
        )
    };
    let existing = match std::fs::metadata(db) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(db, e)),
    };
    if existing.is_none() {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(db) {
            Ok(_) => {}
            // Another process created it in between: treat it as existing.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(db, e)),
        }
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut paths = vec![db.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            paths.push(PathBuf::from(p));
        }
        for p in paths {
            let mode = match std::fs::metadata(&p) {
                Ok(m) => m.permissions().mode(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&p, e)),
            };
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(|e| io(&p, e))?;
            }
        }
    }
    Ok(())
}

fn open_failed(path: &Path, e: rusqlite::Error) -> RoadsideError {
    RoadsideError::store(
        "STORE_OPEN_FAILED",
        format!("无法打开数据库文件 {}：{e}", path.display()),
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
        .map_err(|e| open_failed(path, e))?;
    // The key must be the first statement that touches the database. Pages are authenticated with
    // HMAC-SHA256 rather than SQLCipher's default SHA-512: as strong for this purpose, and SHA-256
    // runs on the SHA extensions of current ARM and x86 CPUs (15 % of a device action here).
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;",
        hex::encode(key)
    ))
    .map_err(|e| open_failed(path, e))?;
    // Prove the key before anything else touches the file.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => page_one_unreadable(path, key, &e),
        _ => store_err(e),
    })?;
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
    // `recursive_triggers` makes a REPLACE that deletes a conflicting row run its delete triggers
    // (the schema's insert triggers already refuse it; this is the second lock on the same door).
    // Checkpoint the WAL every 4,000 pages (16 MiB) rather than 1,000: a checkpoint costs an fsync,
    // so fewer of them raise the action rate by ~10 %; the WAL file is trimmed back to 16 MiB.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA recursive_triggers = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 4000; PRAGMA journal_size_limit = 16777216;"
    ))
    .map_err(store_err)?;
    Ok(conn)
}
