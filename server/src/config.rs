//! Configuration: command-line flags, each with an environment variable. With none set, the server
//! runs on SQLite in `./roadside-server-data` and listens on localhost.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::error::{ApiError, Result};
use crate::hsm::TokenKey;

/// Roadside sync server (路政执法同步服务器).
#[derive(Debug, Clone, Parser)]
#[command(name = "roadside-server", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ROADSIDE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite database, media, signing keys and generated secrets (created 0700).
    #[arg(
        long,
        env = "ROADSIDE_DATA_DIR",
        default_value = "roadside-server-data"
    )]
    pub data_dir: PathBuf,

    /// Database URL: `postgres://user:pass@host/db` for PostgreSQL; a file path (or `sqlite://path`)
    /// for SQLite. Default: `<data-dir>/roadside.sqlite3`.
    #[arg(long, env = "ROADSIDE_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory for media objects. Default: `<data-dir>/media`.
    #[arg(long, env = "ROADSIDE_MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,

    /// The transparency log's origin line (checkpoint first line and key name).
    #[arg(
        long,
        env = "ROADSIDE_LOG_ORIGIN",
        default_value = "roadside.local/log"
    )]
    pub log_origin: String,

    /// Directory of the signing keys (the log's and each agency's bundle key), mode 0700 with
    /// 0600 files owned by the server's user; the server refuses to start otherwise. Every
    /// replica on one database needs the same key files. Default: `<data-dir>/keys`.
    #[arg(long, env = "ROADSIDE_KEY_DIR")]
    pub key_dir: Option<PathBuf>,

    /// The log's signed-note private key (`PRIVATE+KEY+…`), instead of its file in the key
    /// directory. Default: the key file, generated on a new database's first start.
    #[arg(long, env = "ROADSIDE_LOG_KEY", hide_env_values = true)]
    pub log_key: Option<String>,

    /// PKCS#11 module holding the log's signing key in a token (an HSM), e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`; with it the key directory holds no log key.
    #[arg(long, env = "ROADSIDE_PKCS11_MODULE")]
    pub pkcs11_module: Option<PathBuf>,

    /// Label of the PKCS#11 token.
    #[arg(long, env = "ROADSIDE_PKCS11_TOKEN")]
    pub pkcs11_token: Option<String>,

    /// The token's user PIN (or `--pkcs11-pin-file`).
    #[arg(long, env = "ROADSIDE_PKCS11_PIN", hide_env_values = true)]
    pub pkcs11_pin: Option<String>,

    /// File holding the token's user PIN (mode 0600, like a key file).
    #[arg(long, env = "ROADSIDE_PKCS11_PIN_FILE")]
    pub pkcs11_pin_file: Option<PathBuf>,

    /// Label of the log's Ed25519 key pair in the token.
    #[arg(
        long,
        env = "ROADSIDE_PKCS11_KEY_LABEL",
        default_value = "roadside-log"
    )]
    pub pkcs11_key_label: String,

    /// Memory for the in-process cache of the log's immutable tiles, checkpoints and leaf
    /// indexes (proofs and tiles served without a database round trip), in MiB; 0 turns it off.
    /// A full tile takes 16 KiB with its interior nodes: 128 MiB holds every tile of a log of
    /// two million leaves.
    #[arg(long, env = "ROADSIDE_TILE_CACHE_MIB", default_value_t = 128)]
    pub tile_cache_mib: usize,

    /// Largest request body, in bytes.
    #[arg(long, env = "ROADSIDE_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,

    /// Request timeout, in seconds.
    #[arg(long, env = "ROADSIDE_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Lifetime of a sign-in token, in hours.
    #[arg(long, env = "ROADSIDE_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: i64,

    /// Mark the back office's session cookie `Secure` (sent over HTTPS only). Turn it on when the
    /// office is reached through an HTTPS reverse proxy; a browser on plain HTTP would then never
    /// send the cookie back.
    #[arg(long, env = "ROADSIDE_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Reverse proxies whose `X-Forwarded-For` is believed (comma-separated IP addresses). A sign-in
    /// through one of them is counted against the client address it forwards; from any other peer
    /// the header is ignored. Default: none, the connection's peer is the client.
    #[arg(
        long = "trusted-proxy",
        env = "ROADSIDE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Do not load the demo agencies, roster and admin account into an empty database.
    #[arg(long, env = "ROADSIDE_NO_DEMO")]
    pub no_demo: bool,

    // ---- Media (resumable evidence uploads, `media.rs`) ----
    /// Media object store: `s3://bucket[/prefix]` for an S3-compatible store (with the
    /// `ROADSIDE_S3_*` settings), `file:///dir` for a local directory. Default: the media directory.
    #[arg(long, env = "ROADSIDE_MEDIA_URL")]
    pub media_url: Option<String>,

    /// S3 endpoint, e.g. `http://127.0.0.1:9000` for a self-hosted S3-compatible server.
    #[arg(long, env = "ROADSIDE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 access key id.
    #[arg(long, env = "ROADSIDE_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key.
    #[arg(long, env = "ROADSIDE_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// S3 region.
    #[arg(long, env = "ROADSIDE_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Largest media upload, in bytes (`Tus-Max-Size`).
    #[arg(long, env = "ROADSIDE_MEDIA_MAX_SIZE", default_value_t = 4 * 1024 * 1024 * 1024)]
    pub media_max_size: u64,

    /// Largest upload chunk (one PATCH body), in bytes.
    #[arg(long, env = "ROADSIDE_MEDIA_MAX_CHUNK", default_value_t = 256 * 1024 * 1024)]
    pub media_max_chunk: u64,

    /// An unfinished upload expires this many seconds after its last chunk.
    #[arg(long, env = "ROADSIDE_UPLOAD_EXPIRY_SECS", default_value_t = 24 * 3600)]
    pub upload_expiry_secs: u64,

    /// Time limit of one media request (a chunk upload or an object download), in seconds.
    #[arg(long, env = "ROADSIDE_MEDIA_TIMEOUT", default_value_t = 900)]
    pub media_timeout_secs: u64,

    // ---- Self-audit (`audit.rs`) ----
    /// Seconds between two self-audits in the background (the first at start); 0 turns them off.
    #[arg(long, env = "ROADSIDE_AUDIT_INTERVAL_SECS", default_value_t = 3600)]
    pub audit_interval_secs: u64,

    // ---- Document numbers (`routes/numbers.rs`) ----
    /// Serials in one block of document numbers leased to a device (1–9999).
    #[arg(long, env = "ROADSIDE_NUMBER_BLOCK_SIZE", default_value_t = 100)]
    pub number_block_size: u64,

    /// An agency's document number prefix, `CODE=PREFIX` (e.g. `632500=青海南交执`; repeat the
    /// flag or separate with commas), stored at start. An agency without one prints its name.
    #[arg(
        long = "doc-prefix",
        env = "ROADSIDE_DOC_PREFIXES",
        value_delimiter = ','
    )]
    pub doc_prefixes: Vec<String>,

    // ---- Witnesses (`witness.rs`) ----
    /// A witness the log's checkpoints are submitted to (C2SP tlog-witness): its cosignature
    /// verifier key and its URL separated by a space, e.g. `"witness.example+1a2b3c4d+BK…
    /// https://witness.example"` (repeat the flag, or separate with commas). Default: none.
    #[arg(long = "witness", env = "ROADSIDE_WITNESSES", value_delimiter = ',')]
    pub witnesses: Vec<String>,

    /// How many of the configured witnesses must have cosigned a checkpoint for devices to accept
    /// it: the witness policy of every agency's bundle. 0: devices require none.
    #[arg(long, env = "ROADSIDE_WITNESS_QUORUM", default_value_t = 0)]
    pub witness_quorum: u32,

    /// What to do; none: serve. Each command runs on the configured database and exits.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Audit the database once against the signed entries and the signed log: JSON report on
    /// stdout, summary on stderr; exit status 0 if clean, 1 if anything was found, 2 if the audit
    /// could not run. The findings are kept in the database (the history query refuses to answer
    /// from the rows they name until an audit finds them right again).
    Audit {
        /// Threads verifying signatures. Default: every core.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The transparency log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Print the OpenAPI 3.1 document of the HTTP API (the one served at /api/v1/openapi.json)
    /// on stdout.
    Openapi,
}

/// Commands on the transparency log.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LogCommand {
    /// After restoring the database from an older backup, before serving again: end the log's
    /// current origin at the size the database holds and continue the log under a new origin,
    /// so devices re-submit what the server lost (see the README).
    Rollover {
        /// Why (one line, kept in the signed statement), e.g. which backup was restored.
        #[arg(long)]
        reason: String,
    },
}

impl Config {
    /// The configuration a test or an embedding program starts from: no flags, no environment.
    pub fn for_data_dir(dir: impl Into<PathBuf>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.into(),
            database_url: None,
            media_dir: None,
            log_origin: "roadside.local/log".to_string(),
            key_dir: None,
            log_key: None,
            pkcs11_module: None,
            pkcs11_token: None,
            pkcs11_pin: None,
            pkcs11_pin_file: None,
            pkcs11_key_label: "roadside-log".to_string(),
            tile_cache_mib: 128,
            body_limit: 8 * 1024 * 1024,
            request_timeout_secs: 30,
            session_hours: 12,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            no_demo: false,
            media_url: None,
            s3_endpoint: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_region: "us-east-1".to_string(),
            media_max_size: 4 * 1024 * 1024 * 1024,
            media_max_chunk: 256 * 1024 * 1024,
            upload_expiry_secs: 24 * 3600,
            media_timeout_secs: 900,
            audit_interval_secs: 3600,
            number_block_size: 100,
            doc_prefixes: Vec::new(),
            witnesses: Vec::new(),
            witness_quorum: 0,
            command: None,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            self.data_dir
                .join("roadside.sqlite3")
                .to_string_lossy()
                .into_owned()
        })
    }

    pub fn media_dir(&self) -> PathBuf {
        self.media_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("media"))
    }

    pub fn key_dir(&self) -> PathBuf {
        self.key_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"))
    }

    /// The PKCS#11 token key, when a module is configured (token label and a PIN required).
    pub fn token_key(&self) -> Result<Option<TokenKey>> {
        let Some(module) = &self.pkcs11_module else {
            return Ok(None);
        };
        if self.log_key.is_some() {
            return Err(ApiError::internal(
                "CONFIG_INVALID",
                "ROADSIDE_LOG_KEY 与 ROADSIDE_PKCS11_MODULE 只能设置其一",
            ));
        }
        let token = self.pkcs11_token.clone().ok_or_else(|| {
            ApiError::internal(
                "CONFIG_INVALID",
                "设置了 ROADSIDE_PKCS11_MODULE，还须设置令牌标签 ROADSIDE_PKCS11_TOKEN",
            )
        })?;
        let pin = match (&self.pkcs11_pin, &self.pkcs11_pin_file) {
            (Some(pin), None) => pin.clone(),
            (None, Some(file)) => crate::hsm::pin_from_file(file)?,
            _ => {
                return Err(ApiError::internal(
                    "CONFIG_INVALID",
                    "设置了 ROADSIDE_PKCS11_MODULE，还须设置 ROADSIDE_PKCS11_PIN 或 ROADSIDE_PKCS11_PIN_FILE 之一",
                ))
            }
        };
        Ok(Some(TokenKey {
            module: module.clone(),
            token,
            pin,
            key_label: self.pkcs11_key_label.clone(),
        }))
    }

    /// The block size, checked: 1 to 9999 serials.
    pub fn number_block_size(&self) -> Result<u64> {
        if (1..=crate::storage::MAX_SERIAL).contains(&self.number_block_size) {
            Ok(self.number_block_size)
        } else {
            Err(ApiError::internal(
                "CONFIG_INVALID",
                format!(
                    "ROADSIDE_NUMBER_BLOCK_SIZE 应在 1 至 {} 之间，设置的是 {}",
                    crate::storage::MAX_SERIAL,
                    self.number_block_size
                ),
            ))
        }
    }

    /// The `--doc-prefix` settings as (agency code, prefix) pairs.
    pub fn doc_prefixes(&self) -> Result<Vec<(String, String)>> {
        self.doc_prefixes
            .iter()
            .map(|s| {
                let (code, prefix) = s
                    .split_once('=')
                    .map(|(c, p)| (c.trim(), p.trim()))
                    .filter(|(c, p)| !c.is_empty() && !p.is_empty())
                    .ok_or_else(|| {
                        ApiError::internal(
                            "CONFIG_INVALID",
                            format!(
                                "文书编号前缀 “{s}” 应写作 机构代码=前缀，例如 632500=青海南交执"
                            ),
                        )
                    })?;
                Ok((code.to_string(), prefix.to_string()))
            })
            .collect()
    }

    /// The configured witnesses, each setting checked (key, URL, names unique, quorum).
    pub fn witnesses(&self) -> Result<crate::witness::Witnesses> {
        let list = self
            .witnesses
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(crate::witness::Witness::parse)
            .collect::<Result<Vec<_>>>()?;
        crate::witness::Witnesses::new(list, self.witness_quorum)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}
