//! What every handler shares. The modules below it (metrics, bundles, the tile cache, storage)
//! never name [`AppState`]: a handler or middleware that needs one of its parts takes that part
//! (`FromRef`).

use std::sync::Arc;

use axum::extract::FromRef;

use crate::bundles::Bundler;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::storage::DynStorage;
use crate::tlog::LogSigner;

#[derive(Clone)]
pub struct AppState {
    pub storage: DynStorage,
    pub signer: Arc<LogSigner>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    /// Reference bundles (per agency, signed).
    pub bundles: Arc<Bundler>,
    /// Media objects and unfinished uploads.
    pub media: Arc<crate::media::Media>,
    /// Immutable log tiles, checkpoints and leaf indexes, shared by every request.
    pub tile_cache: Arc<crate::tile_cache::TileCache>,
    /// Failed sign-ins per login and per client address (this process only).
    pub sign_in_throttle: Arc<crate::throttle::SignInThrottle>,
    /// The background self-audit's metrics.
    pub audit: Arc<crate::audit::AuditMetrics>,
    /// The log's witnesses: their cosignatures are appended to the checkpoints served.
    pub witnesses: Arc<crate::witness::Witnesses>,
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

impl FromRef<AppState> for Arc<Bundler> {
    fn from_ref(state: &AppState) -> Self {
        state.bundles.clone()
    }
}

impl FromRef<AppState> for DynStorage {
    fn from_ref(state: &AppState) -> Self {
        state.storage.clone()
    }
}
