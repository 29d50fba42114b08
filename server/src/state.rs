//! What every handler shares.

use std::sync::Arc;

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
}
