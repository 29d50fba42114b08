//! Key custody: where the server's signing keys live, and who may read them.
//!
//! The transparency log's checkpoint key and every agency's bundle key are private keys whose
//! public halves devices pin at enrolment. They live in files of one key directory (`--key-dir`,
//! default `<data-dir>/keys`), never in the database:
//!
//! - **Modes.** The directory is 0700 and every file in it 0600, owned by the user the server runs
//!   as. The directory and each file are checked when the server starts and again whenever a key
//!   file is read; anything group- or other-accessible, or owned by another user, is refused
//!   (`KEY_DIR_MODE`, `KEY_FILE_MODE`, `KEY_DIR_OWNER`, `KEY_FILE_OWNER`) with the path, its mode
//!   and the command that fixes it. The server never loosens or tightens a key's mode itself: a key
//!   that was readable may have been read, and the operator is the one to judge that.
//! - **Files.** `log-<origin>.key` holds the signed-note private key (`PRIVATE+KEY+<origin>+…`),
//!   `bundle-<agency>.key` the agency key's 32-byte Ed25519 seed as 64 hex digits; names are the
//!   origin or agency code with every byte outside `[A-Za-z0-9.-]` written `_xx` (hex), so two
//!   names never share a file. A key file is written once: to a temporary file created 0600,
//!   fsynced, hard-linked to its name (which fails if the name exists, so two processes sharing the
//!   directory never replace each other's key) and the directory fsynced.
//! - **Identity.** The database records each key's public half (`log_public_key:<origin>`,
//!   `bundle_public_key:<agency>`; public, so the database may hold them). A key file whose public
//!   half differs from the record is refused (`LOG_KEY_MISMATCH`, `BUNDLE_KEY_MISMATCH`); a server
//!   with no key file for a recorded key refuses to start or sign (`LOG_KEY_MISSING`,
//!   `BUNDLE_KEY_MISSING`) rather than make a new one, which would fork the log's identity or break
//!   every device's pinned bundle key. A key is generated only where none was ever recorded and
//!   nothing was signed: the log key for an empty log, an agency's key before its first bundle.
//! - **Upgrade.** Earlier versions kept the keys in the settings table (`log_key:<origin>`,
//!   `bundle_key:<agency>`). At start [`move_keys_out_of_database`] writes each to its key file
//!   (durably) and only then erases the row, so an upgraded server signs with the keys devices
//!   pinned; an existing key file that holds another key stops the move (`KEY_MIGRATION_CONFLICT`).
//! - **Tokens.** An agency with an HSM keeps the log key in a PKCS#11 token instead (`crate::hsm`);
//!   its public half is pinned in the database the same way.
//! - **Replicas.** Several servers on one PostgreSQL database each need the same key files: the
//!   key directory is provisioned on every replica. The first server to start on a new database
//!   makes the keys; the others refuse to start until its files are copied to them.

#[cfg(not(unix))]
compile_error!(
    "roadside-server keeps its signing keys in files protected by Unix modes and owners"
);

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand_core::OsRng;

use crate::error::{ApiError, Result};
use crate::storage::DynStorage;
use crate::tlog::LogSigner;

/// Settings row holding the log's verifier key (`<origin>+<id>+<key>`) for an origin.
pub const LOG_PUBLIC_KEY: &str = "log_public_key:";
/// Settings row holding an agency's bundle public key (64 hex) for an agency code.
pub const BUNDLE_PUBLIC_KEY: &str = "bundle_public_key:";
/// Settings rows of earlier versions holding the private keys themselves.
const LEGACY_LOG_KEY: &str = "log_key:";
const LEGACY_BUNDLE_KEY: &str = "bundle_key:";

/// Permission bits that let anyone but the owner in.
const NOT_OWNER: u32 = 0o077;

/// The key directory, checked.
#[derive(Debug)]
pub struct KeyDir {
    dir: PathBuf,
    uid: u32,
}

/// How [`KeyDir::check_private`] names what it refuses: the key directory or a key file.
struct Private {
    mode_code: &'static str,
    owner_code: &'static str,
    /// 密钥目录 / 密钥文件
    noun: &'static str,
    /// 目录 / 文件
    kind: &'static str,
    /// what others could do: 访问 / 读取
    access: &'static str,
    /// what the server refuses: 启动 / 使用
    refuse: &'static str,
    chmod: &'static str,
}

const KEY_DIR: Private = Private {
    mode_code: "KEY_DIR_MODE",
    owner_code: "KEY_DIR_OWNER",
    noun: "密钥目录",
    kind: "目录",
    access: "访问",
    refuse: "启动",
    chmod: "700",
};

const KEY_FILE: Private = Private {
    mode_code: "KEY_FILE_MODE",
    owner_code: "KEY_FILE_OWNER",
    noun: "密钥文件",
    kind: "文件",
    access: "读取",
    refuse: "使用",
    chmod: "600",
};

impl KeyDir {
    /// Open the key directory (created 0700 if missing) and check it and every file in it.
    pub fn open(dir: &Path) -> Result<Self> {
        let keys = KeyDir {
            dir: dir.to_path_buf(),
            uid: rustix::process::geteuid().as_raw(),
        };
        match std::fs::metadata(dir) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                create_private_dir(dir).map_err(|e| dir_failed(dir, &e))?;
            }
            Err(e) => return Err(dir_failed(dir, &e)),
        }
        keys.check_dir()?;
        let entries = std::fs::read_dir(dir).map_err(|e| dir_failed(dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| dir_failed(dir, &e))?;
            // Keys are read from the directory itself only; a subdirectory (a mount point's
            // `lost+found`) holds none.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            keys.check_file(&entry.path())?;
        }
        Ok(keys)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file of the log key for `origin`.
    pub fn log_key_path(&self, origin: &str) -> PathBuf {
        self.dir.join(format!("log-{}.key", file_stem(origin)))
    }

    /// The file of `agency`'s bundle key.
    pub fn bundle_key_path(&self, agency: &str) -> PathBuf {
        self.dir.join(format!("bundle-{}.key", file_stem(agency)))
    }

    /// The log's private key for `origin` (`PRIVATE+KEY+…`), if its file exists.
    pub fn log_key(&self, origin: &str) -> Result<Option<String>> {
        self.read(&self.log_key_path(origin))
    }

    fn check_dir(&self) -> Result<()> {
        let dir = &self.dir;
        let meta = std::fs::metadata(dir).map_err(|e| dir_failed(dir, &e))?;
        if !meta.is_dir() {
            return Err(ApiError::internal(
                "KEY_DIR_FAILED",
                format!("密钥目录 {} 不是目录", dir.display()),
            ));
        }
        self.check_private(dir, &meta, &KEY_DIR)
    }

    fn check_file(&self, path: &Path) -> Result<()> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| file_failed(path, &e))?;
        if !meta.file_type().is_file() {
            return Err(ApiError::internal(
                "KEY_FILE_INVALID",
                format!(
                    "密钥目录中的 {} 不是普通文件（例如符号链接）；密钥目录只应存放密钥文件本身",
                    path.display()
                ),
            ));
        }
        self.check_private(path, &meta, &KEY_FILE)
    }

    /// Only the server's user may reach `path`: no group or other bits, owned by that user.
    fn check_private(&self, path: &Path, meta: &std::fs::Metadata, k: &Private) -> Result<()> {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & NOT_OWNER != 0 {
            return Err(ApiError::internal(
                k.mode_code,
                format!(
                    "{} {} 的权限为 {mode:04o}，同组或其他用户可以{}，服务器拒绝{}；\
                     请确认密钥未泄露后运行：chmod {} {}",
                    k.noun,
                    path.display(),
                    k.access,
                    k.refuse,
                    k.chmod,
                    shell_quote(path)
                ),
            ));
        }
        if meta.uid() != self.uid {
            return Err(ApiError::internal(
                k.owner_code,
                format!(
                    "{} {} 属于用户 {}，而服务器以用户 {} 运行，服务器拒绝{}；\
                     请运行：chown {} {}（或以该{}的所有者运行服务器）",
                    k.noun,
                    path.display(),
                    meta.uid(),
                    self.uid,
                    k.refuse,
                    self.uid,
                    shell_quote(path),
                    k.kind
                ),
            ));
        }
        Ok(())
    }

    /// A key file's text (trimmed), after checking the directory and the file again.
    fn read(&self, path: &Path) -> Result<Option<String>> {
        self.check_dir()?;
        match std::fs::symlink_metadata(path) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(file_failed(path, &e)),
        }
        self.check_file(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| file_failed(path, &e))?;
        Ok(Some(text.trim().to_string()))
    }

    /// Write a new key file holding `text`, unless the file exists; the key the file holds after
    /// (ours, or the one another process sharing the directory wrote first).
    fn create(&self, path: &Path, text: &str) -> Result<String> {
        self.check_dir()?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = self.dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(format!("{text}\n").as_bytes())?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(file_failed(&temp, &e));
        }
        let linked = std::fs::hard_link(&temp, path);
        let removed = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return self
                    .read(path)?
                    .ok_or_else(|| file_failed(path, &std::io::Error::from(ErrorKind::NotFound)));
            }
            Err(e) => return Err(file_failed(path, &e)),
        }
        removed.map_err(|e| file_failed(&temp, &e))?;
        sync_dir(&self.dir).map_err(|e| dir_failed(&self.dir, &e))?;
        Ok(text.to_string())
    }

    /// Remove a key file this process has just written, if it still holds `text`.
    fn remove_own(&self, path: &Path, text: &str) -> Result<()> {
        if self.read(path)?.as_deref() == Some(text) {
            std::fs::remove_file(path).map_err(|e| file_failed(path, &e))?;
            sync_dir(&self.dir).map_err(|e| dir_failed(&self.dir, &e))?;
        }
        Ok(())
    }
}

/// Check that a secret file outside the key directory (a PKCS#11 PIN file) is a regular file only
/// the server's user can read, as a key file must be.
pub fn check_private_file(path: &Path) -> Result<()> {
    KeyDir {
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        uid: rustix::process::geteuid().as_raw(),
    }
    .check_file(path)
}

pub use crate::fsutil::create_private_dir;

/// The server's data directory: created 0700 if missing. An existing one that others can enter is
/// left as the operator set it, with a warning (the key directory inside is checked on its own).
pub fn prepare_data_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & NOT_OWNER != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = %format!("{mode:04o}"),
                    "data directory is open to other users; chmod 700 it unless another account must read it"
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NotFound => create_private_dir(dir).map_err(|e| {
            ApiError::internal(
                "DATA_DIR_FAILED",
                format!("无法创建数据目录 {}：{e}", dir.display()),
            )
        }),
        Err(e) => Err(ApiError::internal(
            "DATA_DIR_FAILED",
            format!("无法读取数据目录 {}：{e}", dir.display()),
        )),
    }
}

use crate::fsutil::sync_dir;

/// `origin` or an agency code as a file name part: `[A-Za-z0-9.-]` kept, every other byte `_xx`.
fn file_stem(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// A path as one single-quoted shell word, for the commands error messages suggest.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

fn dir_failed(dir: &Path, e: &std::io::Error) -> ApiError {
    ApiError::internal(
        "KEY_DIR_FAILED",
        format!("无法使用密钥目录 {}：{e}", dir.display()),
    )
}

fn file_failed(path: &Path, e: &std::io::Error) -> ApiError {
    ApiError::internal(
        "KEY_FILE_FAILED",
        format!("无法读写密钥文件 {}：{e}", path.display()),
    )
}

/// Move private keys that earlier versions kept in the settings table to their key files, then
/// erase them from the database. Each file is written durably before its row goes; a key file that
/// already holds another key stops the move with both left as they are. Returns how many keys
/// were moved.
pub async fn move_keys_out_of_database(storage: &DynStorage, keys: &KeyDir) -> Result<usize> {
    let mut rows = storage.settings_with_prefix(LEGACY_LOG_KEY).await?;
    rows.extend(storage.settings_with_prefix(LEGACY_BUNDLE_KEY).await?);
    for (name, value) in &rows {
        let value = value.trim();
        let path = if let Some(origin) = name.strip_prefix(LEGACY_LOG_KEY) {
            LogSigner::new(origin, value)?;
            keys.log_key_path(origin)
        } else if let Some(agency) = name.strip_prefix(LEGACY_BUNDLE_KEY) {
            parse_bundle_seed(value, agency, Path::new(name))?;
            keys.bundle_key_path(agency)
        } else {
            continue;
        };
        let held = match keys.read(&path)? {
            Some(held) => held,
            None => keys.create(&path, value)?,
        };
        if held != value {
            return Err(ApiError::internal(
                "KEY_MIGRATION_CONFLICT",
                format!(
                    "数据库设置 {name} 中的密钥与已有的密钥文件 {} 不同，无法把密钥移出数据库；\
                     请核对哪一个是设备已固定的密钥，移走另一个后重新启动",
                    path.display()
                ),
            ));
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let erased = storage.erase_settings(&rows).await?;
    tracing::info!(
        moved = rows.len(),
        erased,
        key_dir = %keys.path().display(),
        "signing keys moved out of the database into key files"
    );
    Ok(rows.len())
}

/// Where the log's private key is.
pub enum LogKeySource<'a> {
    /// Its file in the key directory (made on a new database's first start).
    KeyDir,
    /// Given in the configuration (`ROADSIDE_LOG_KEY`).
    Configured(&'a str),
    /// Held elsewhere (a PKCS#11 token) and already opened; `place` says where, for messages.
    Held { signer: LogSigner, place: String },
}

/// The log's signer for `origin` from `source`; from the key directory, for a log that never had a
/// key, a new key written to its file. The key's public half must be the one the database records
/// for the origin (recorded here the first time).
pub async fn log_signer(
    storage: &DynStorage,
    keys: &KeyDir,
    origin: &str,
    source: LogKeySource<'_>,
) -> Result<LogSigner> {
    let record = format!("{LOG_PUBLIC_KEY}{origin}");
    let path = keys.log_key_path(origin);
    let (held, place) = match source {
        LogKeySource::Configured(k) => (
            Some(LogSigner::new(origin, k.trim())?),
            "ROADSIDE_LOG_KEY".to_string(),
        ),
        LogKeySource::Held { signer, place } => (Some(signer), place),
        LogKeySource::KeyDir => (
            keys.log_key(origin)?
                .map(|private| LogSigner::new(origin, &private))
                .transpose()?,
            path.display().to_string(),
        ),
    };
    let (signer, generated) = match held {
        Some(signer) => (signer, None),
        None => {
            if let Some(recorded) = storage.setting(&record).await? {
                return Err(log_key_missing(
                    &path,
                    origin,
                    &format!("数据库记录该日志的公钥为 {recorded}"),
                ));
            }
            if storage.tree_size().await? > 0 || storage.checkpoint(None).await?.is_some() {
                return Err(log_key_missing(
                    &path,
                    origin,
                    "数据库中的日志已有条目或已签名的检查点",
                ));
            }
            let (fresh, _) = LogSigner::generate_key(origin);
            let private = keys.create(&path, &fresh)?;
            tracing::info!(origin, file = %path.display(), "new transparency log key written");
            let generated = (private == fresh).then_some(fresh);
            (LogSigner::new(origin, &private)?, generated)
        }
    };
    let recorded = storage
        .setting_or_insert(&record, signer.verifier_key())
        .await?;
    if recorded != signer.verifier_key() {
        if let Some(fresh) = generated {
            // Another replica with its own key directory recorded its new key first: ours was
            // never used; this replica needs that replica's key file.
            keys.remove_own(&path, &fresh)?;
            return Err(log_key_missing(
                &path,
                origin,
                &format!("另一个服务器副本刚刚为该日志生成了公钥为 {recorded} 的密钥"),
            ));
        }
        return Err(ApiError::internal(
            "LOG_KEY_MISMATCH",
            format!(
                "透明日志 {origin} 的签名密钥（{place}，公钥 {}）与数据库记录的公钥 {recorded} 不符；\
                 设备已固定数据库记录的公钥，用其他密钥签名会分叉日志。请从其他副本或备份恢复正确的密钥",
                signer.verifier_key()
            ),
        ));
    }
    Ok(signer)
}

fn log_key_missing(path: &Path, origin: &str, why: &str) -> ApiError {
    ApiError::internal(
        "LOG_KEY_MISSING",
        format!(
            "找不到透明日志 {origin} 的签名密钥文件 {}，而{why}；服务器拒绝启动，\
             以免用新密钥分叉日志。请把已有服务器（或备份）密钥目录中的该文件复制到此处（权限 0600）",
            path.display()
        ),
    )
}

/// `agency`'s bundle signing key: from its key file or, for an agency that never had a key and
/// has no bundle yet, a new key written to its file. The public half must be the one the database
/// records for the agency (recorded here the first time).
pub async fn bundle_key(storage: &DynStorage, keys: &KeyDir, agency: &str) -> Result<SigningKey> {
    let record = format!("{BUNDLE_PUBLIC_KEY}{agency}");
    let path = keys.bundle_key_path(agency);
    let (key, generated) = match keys.read(&path)? {
        Some(seed) => (parse_bundle_seed(&seed, agency, &path)?, None),
        None => {
            if let Some(recorded) = storage.setting(&record).await? {
                return Err(bundle_key_missing(
                    &path,
                    agency,
                    &format!("数据库记录该机构的数据包公钥为 {recorded}"),
                ));
            }
            if storage.latest_bundle(agency).await?.is_some() {
                return Err(bundle_key_missing(&path, agency, "该机构已发布过数据包"));
            }
            let fresh = hex::encode(SigningKey::generate(&mut OsRng).to_bytes());
            let seed = keys.create(&path, &fresh)?;
            tracing::info!(agency, file = %path.display(), "new bundle key written");
            let generated = (seed == fresh).then_some(fresh);
            (parse_bundle_seed(&seed, agency, &path)?, generated)
        }
    };
    let public = hex::encode(key.verifying_key().as_bytes());
    let recorded = storage.setting_or_insert(&record, &public).await?;
    if recorded != public {
        if let Some(fresh) = generated {
            keys.remove_own(&path, &fresh)?;
            return Err(bundle_key_missing(
                &path,
                agency,
                &format!("另一个服务器副本刚刚为该机构生成了公钥为 {recorded} 的密钥"),
            ));
        }
        return Err(ApiError::internal(
            "BUNDLE_KEY_MISMATCH",
            format!(
                "机构 {agency} 的数据包签名密钥文件 {}（公钥 {public}）与数据库记录的公钥 {recorded} 不符；\
                 设备已固定数据库记录的公钥。请从其他副本或备份恢复正确的密钥文件",
                path.display()
            ),
        ));
    }
    Ok(key)
}

fn bundle_key_missing(path: &Path, agency: &str, why: &str) -> ApiError {
    ApiError::internal(
        "BUNDLE_KEY_MISSING",
        format!(
            "找不到机构 {agency} 的数据包签名密钥文件 {}，而{why}；新密钥会使设备拒绝数据包，\
             因此不生成。请把已有服务器（或备份）密钥目录中的该文件复制到此处（权限 0600）",
            path.display()
        ),
    )
}

fn parse_bundle_seed(text: &str, agency: &str, source: &Path) -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| {
        ApiError::internal(
            "BUNDLE_KEY_INVALID",
            format!(
                "机构 {agency} 的数据包签名密钥（{}）格式错误：应为 64 位十六进制数字",
                source.display()
            ),
        )
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_injective_and_plain() {
        assert_eq!(file_stem("roadside.local/log"), "roadside.local_2flog");
        assert_eq!(file_stem("632500-ZFJD"), "632500-ZFJD");
        assert_ne!(file_stem("a/b"), file_stem("a_b"));
        assert_eq!(file_stem("a_b"), "a_5fb");
        assert_eq!(file_stem("路"), "_e8_b7_af");
    }

    #[test]
    fn shell_words_survive_quotes() {
        assert_eq!(shell_quote(Path::new("/srv/it's")), r"'/srv/it'\''s'");
    }
}
