//! # roadside-server
//!
//! The sync server of Roadside: devices enrol, push signed ledger entries, and get receipts from
//! a transparency log; the back office signs in and reads its agency's cases.
//!
//! Modules, one concern each: [`config`] (flags and environment), [`error`] (errors → HTTP status,
//! in one place), [`auth`] (passwords, tokens, agency scope), [`storage`] (a trait per area, SQLite
//! and PostgreSQL backends, schema migrations), [`ingest`] (a push from the entries as sent to the
//! answer: verification, the append plan, receipts), [`tlog`] (the Merkle tree, tiles and
//! checkpoints), [`tile_cache`] (the log's immutable tiles in memory), [`throttle`] (sign-in
//! throttling), [`media`] (media objects, resumable uploads), [`crash`] (crash points for tests),
//! [`routes`] (HTTP handlers per area), [`keys`] (custody of the signing keys) and [`hsm`] (the log
//! key in a PKCS#11 token), [`bootstrap`] (zero-config start), [`metrics`], [`audit`] (the database
//! checked against the signed entries and log), [`publication`] (the 行政处罚决定公示 record of a
//! decision, masked, with its due date, and the CSV and JSON feeds), [`roster`] (the officer
//! roster read from an XLSX workbook, every bad row listed), [`witness`] (checkpoints submitted to
//! independent witnesses, their cosignatures kept and served).

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod bundles;
pub mod case_review;
pub mod config;
pub mod crash;
pub mod error;
pub mod fsutil;
pub mod hsm;
pub mod ingest;
pub mod keys;
pub mod media;
pub mod metrics;
pub mod office;
pub mod package;
pub mod publication;
pub mod review;
pub mod rollover;
pub mod roster;
pub mod routes;
pub mod state;
pub mod storage;
pub mod throttle;
pub mod tile_cache;
pub mod tlog;
pub mod witness;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::storage::DynStorage;

/// Times as the server stores them: RFC 3339 UTC with microseconds (sorts as text).
pub fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn now() -> String {
    time_text(Utc::now())
}

/// A server ready to serve: storage open, demo data loaded, socket bound.
pub struct Server {
    pub state: AppState,
    pub listener: TcpListener,
    pub seeded: bootstrap::Seeded,
}

impl Server {
    /// Check the key directory, open storage, move keys an earlier version kept in the database
    /// to their files, load the demo data into an empty database (unless `no_demo`), bind.
    pub async fn prepare(config: Config) -> Result<Self> {
        keys::prepare_data_dir(&config.data_dir)?;
        let media_dir = config.media_dir();
        if !media_dir.exists() {
            keys::create_private_dir(&media_dir).map_err(|e| {
                ApiError::internal("DATA_DIR_FAILED", format!("无法创建媒体目录：{e}"))
            })?;
        }
        let key_dir = Arc::new(keys::KeyDir::open(&config.key_dir())?);
        let storage = storage::open(&config.database_url()).await?;
        storage::rebuild_case_index_if_needed(&storage).await?;
        let signer = log_signer_in(&storage, &key_dir, &config).await?;
        let seeded = if config.no_demo {
            bootstrap::Seeded::default()
        } else {
            bootstrap::seed_demo(&storage, &config.data_dir).await?
        };
        config.number_block_size()?;
        for (agency, prefix) in config.doc_prefixes()? {
            if !storage.set_doc_prefix(&agency, Some(&prefix)).await? {
                return Err(ApiError::internal(
                    "CONFIG_INVALID",
                    format!("文书编号前缀设置中的机构 {agency} 不存在"),
                ));
            }
        }
        let witnesses = Arc::new(config.witnesses()?);
        let bundler = bundles::Bundler::new(&config.data_dir, key_dir)?
            .with_witness_policy(witnesses.policy().as_ref())?;
        bundler.publish_all(&storage).await?;
        bundler.load_published(&storage).await?;
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            ApiError::internal("LISTEN_FAILED", format!("无法监听 {}：{e}", config.listen))
        })?;
        let metrics = Arc::new(metrics::Metrics::default());
        let tile_cache = Arc::new(tile_cache::TileCache::with_mib(config.tile_cache_mib));
        tile_cache.register(&metrics);
        // Write-through: the tiles and checkpoint each push commits are the next proofs'.
        storage.observe_commits(tile_cache.clone());
        let audit = Arc::new(audit::AuditMetrics::default());
        audit.register(&metrics);
        // Each commit that publishes a checkpoint wakes the witness submission task.
        witnesses.register(&metrics);
        storage.observe_commits(witnesses.clone());
        let state = AppState {
            storage,
            signer: Arc::new(signer),
            metrics,
            tile_cache,
            sign_in_throttle: Arc::new(throttle::SignInThrottle::default()),
            bundles: Arc::new(bundler),
            media: Arc::new(media::Media::from_config(&config)?),
            audit,
            witnesses,
            config: Arc::new(config),
        };
        // Uploads a crash left complete but unrecorded: finish them now, not only on request.
        let (storage, media) = (state.storage.clone(), state.media.clone());
        tokio::spawn(async move {
            let n = media::finish_all_complete(storage.as_ref(), &media).await;
            if n > 0 {
                tracing::warn!(uploads = n, "finished uploads interrupted by a crash");
            }
        });
        Ok(Server {
            state,
            listener,
            seeded,
        })
    }

    /// `http://host:port` of the bound socket.
    pub fn base_url(&self) -> String {
        match self.listener.local_addr() {
            Ok(a) => format!("http://{a}"),
            Err(_) => format!("http://{}", self.state.config.listen),
        }
    }

    /// Serve until `shutdown` completes, then finish the requests in flight.
    /// The self-audit runs in the background meanwhile (`audit_interval_secs`, 0: off).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let interval = self.state.config.audit_interval_secs;
        let auditor = (interval > 0).then(|| {
            audit::spawn_background(
                self.state.storage.clone(),
                self.state.signer.clone(),
                self.state.audit.clone(),
                std::time::Duration::from_secs(interval),
            )
        });
        // Checkpoints go to the witnesses in the background; a restart catches up from the database.
        let witnessing = self
            .state
            .witnesses
            .spawn(self.state.storage.clone(), self.state.tile_cache.clone());
        // With each connection's peer address: sign-in throttling counts per client address.
        let app = routes::router(self.state)
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| ApiError::internal("SERVE_FAILED", e.to_string()));
        if let Some(task) = auditor {
            task.abort();
        }
        if let Some(task) = witnessing {
            task.abort();
        }
        served
    }
}

/// The log's signer as the configuration names it (a PKCS#11 token, `ROADSIDE_LOG_KEY` or the key
/// directory), under the origin the last declared rollover started ([`rollover::follow`]). Keys an
/// earlier version kept in the database are moved to their files first.
pub async fn open_log_signer(storage: &DynStorage, config: &Config) -> Result<tlog::LogSigner> {
    let key_dir = keys::KeyDir::open(&config.key_dir())?;
    log_signer_in(storage, &key_dir, config).await
}

async fn log_signer_in(
    storage: &DynStorage,
    key_dir: &keys::KeyDir,
    config: &Config,
) -> Result<tlog::LogSigner> {
    keys::move_keys_out_of_database(storage, key_dir).await?;
    let token = config.token_key()?;
    let source = match (&token, &config.log_key) {
        (Some(t), _) => keys::LogKeySource::Held {
            signer: hsm::TokenSigner::open_log_signer(&config.log_origin, t)?,
            place: format!("PKCS#11 令牌 {} 中标签为 {} 的密钥", t.token, t.key_label),
        },
        (None, Some(k)) => keys::LogKeySource::Configured(k),
        (None, None) => keys::LogKeySource::KeyDir,
    };
    let signer = keys::log_signer(storage, key_dir, &config.log_origin, source).await?;
    rollover::follow(storage, signer).await
}

/// `roadside-server log rollover --reason …`: declare a rollover of the log on the configured
/// database (see [`rollover`]); what was declared, as JSON for the operator.
pub async fn log_rollover(config: &Config, reason: &str) -> Result<serde_json::Value> {
    let storage = storage::open(&config.database_url()).await?;
    let signer = open_log_signer(&storage, config).await?;
    let (statement, note) = rollover::declare(&storage, &signer, reason).await?;
    Ok(serde_json::json!({
        "old_origin": statement.old_origin,
        "new_origin": statement.new_origin,
        "size": statement.size,
        "at": statement.at,
        "reason": statement.reason,
        "statement": note,
    }))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
