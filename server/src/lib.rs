//! # roadside-server
//!
//! The sync server of Roadside: devices enrol, push signed ledger entries, and get receipts from
//! a transparency log; the back office signs in and reads its agency's cases.
//!
//! Modules, one concern each: [`config`] (flags and environment), [`error`] (errors → HTTP status,
//! in one place), [`auth`] (passwords, tokens, agency scope), [`storage`] (the `Storage` trait, SQLite
//! and PostgreSQL backends), [`ingest`] (verification and the append plan), [`tlog`] (the Merkle tree,
//! tiles and checkpoints), [`tile_cache`] (the log's immutable tiles in memory), [`media`] (media
//! objects, resumable uploads), [`routes`] (HTTP handlers per area), [`bootstrap`] (zero-config
//! start), [`metrics`].

pub mod auth;
pub mod bootstrap;
pub mod bundles;
pub mod config;
pub mod error;
pub mod ingest;
pub mod media;
pub mod metrics;
pub mod rollover;
pub mod routes;
pub mod state;
pub mod storage;
pub mod tile_cache;
pub mod tlog;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::{ApiError, Result};
use crate::state::AppState;

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
    /// Open storage, load the demo data into an empty database (unless `no_demo`), bind.
    pub async fn prepare(config: Config) -> Result<Self> {
        std::fs::create_dir_all(config.media_dir())
            .map_err(|e| ApiError::internal("DATA_DIR_FAILED", format!("无法创建媒体目录：{e}")))?;
        let storage = storage::open(&config.database_url()).await?;
        let signer = bootstrap::log_signer(&storage, &config).await?;
        let seeded = if config.no_demo {
            bootstrap::Seeded::default()
        } else {
            bootstrap::seed_demo(&storage, &config.data_dir).await?
        };
        let bundler = bundles::Bundler::new(&config.data_dir)?;
        bundler.publish_all(&storage).await?;
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            ApiError::internal("LISTEN_FAILED", format!("无法监听 {}：{e}", config.listen))
        })?;
        let metrics = Arc::new(metrics::Metrics::default());
        let tile_cache = Arc::new(tile_cache::TileCache::with_mib(config.tile_cache_mib));
        tile_cache.register(&metrics);
        let state = AppState {
            storage,
            signer: Arc::new(signer),
            metrics,
            tile_cache,
            bundles: Arc::new(bundler),
            media: Arc::new(media::Media::from_config(&config)?),
            config: Arc::new(config),
        };
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
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let app = routes::router(self.state);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| ApiError::internal("SERVE_FAILED", e.to_string()))
    }
}

/// `roadside-server log rollover --reason …`: declare a rollover of the log on the configured
/// database (see [`rollover`]); what was declared, as JSON for the operator.
pub async fn log_rollover(config: &Config, reason: &str) -> Result<serde_json::Value> {
    let storage = storage::open(&config.database_url()).await?;
    let signer = bootstrap::log_signer(&storage, config).await?;
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
