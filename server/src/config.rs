//! Configuration: command-line flags, each with an environment variable. With none set, the server
//! runs on SQLite in `./roadside-server-data` and listens on localhost.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Roadside sync server (路政执法同步服务器).
#[derive(Debug, Clone, Parser)]
#[command(name = "roadside-server", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ROADSIDE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for the SQLite database, media and generated secrets.
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

    /// The log's signed-note private key (`PRIVATE+KEY+…`). Default: generated once and kept in
    /// the database, so every replica on one database signs with the same key.
    #[arg(long, env = "ROADSIDE_LOG_KEY", hide_env_values = true)]
    pub log_key: Option<String>,

    /// Largest request body, in bytes.
    #[arg(long, env = "ROADSIDE_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,

    /// Request timeout, in seconds.
    #[arg(long, env = "ROADSIDE_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Lifetime of a sign-in token, in hours.
    #[arg(long, env = "ROADSIDE_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: i64,

    /// Do not load the demo agencies, roster and admin account into an empty database.
    #[arg(long, env = "ROADSIDE_NO_DEMO")]
    pub no_demo: bool,
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
            log_key: None,
            body_limit: 8 * 1024 * 1024,
            request_timeout_secs: 30,
            session_hours: 12,
            no_demo: false,
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

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}
