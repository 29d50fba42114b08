//! The transparency log's public endpoints: checkpoint and tiles at stable URLs (C2SP tlog-tiles),
//! inclusion and consistency proofs as JSON.
//!
//! Tiles, checkpoints of a given size and leaf indexes come through the shared
//! [`TileCache`](crate::tile_cache::TileCache): a proof reads from the database only what the cache
//! does not hold as wide as the proof's tree needs (typically nothing, or the right-edge tiles after
//! the log grew). The newest checkpoint is always read from the database.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{ApiPath, ApiQuery};
use crate::error::{ApiError, Result};
use crate::ingest::b64;
use crate::state::AppState;
use crate::tlog::{self, TilePath, TILE_WIDTH};
use utoipa::{IntoParams, ToSchema};

use super::doc::{ErrorResponse, RecoveredEntryDoc};

#[utoipa::path(
    get,
    path = "/log/checkpoint",
    tag = "log",
    summary = "Newest signed checkpoint (C2SP tlog-checkpoint in a signed note)",
    responses(
        (status = 200, description = "OK", body = String, content_type = "text/plain"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /log/checkpoint`: the newest signed checkpoint (text/plain, C2SP signed note), with the
/// cosignatures its witnesses returned so far appended (C2SP tlog-cosignature lines).
pub async fn checkpoint(State(state): State<AppState>) -> Result<Response> {
    let note = match state.tile_cache.checkpoint(&state.storage, None).await? {
        Some((_, note)) => state.witnesses.cosigned(&state.storage, note).await?,
        None => state.signer.sign(0, tlog_tiles::EMPTY_HASH)?,
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        note,
    )
        .into_response())
}

/// Most recovered entries in one answer of [`rollovers`].
const RECOVERED_PAGE: u32 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RolloversQuery {
    /// recovered entries after this leaf of the current log (next page; 1000 per page)
    #[serde(default, with = "super::int64::query")]
    pub after: Option<u64>,
}

/// The log's rollovers and what devices brought back.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rollovers {
    /// The current origin.
    pub origin: String,
    /// Signed rollover statements roadside-log-rollover/v1 (C2SP signed notes, each signed under
    /// the origin it ends), oldest first.
    pub statements: Vec<String>,
    /// Entries the log had lost and devices re-submitted with a verified receipt of a retired
    /// origin, by leaf in the current log (at most 1000; `after` pages on).
    #[schema(value_type = Vec<RecoveredEntryDoc>)]
    pub recovered: Vec<crate::storage::RecoveredEntry>,
}

#[utoipa::path(
    get,
    path = "/log/rollovers",
    tag = "log",
    summary = "Log rollovers after a restore from backup: signed rollover statements (oldest first) and the entries devices brought back with receipts of a retired origin",
    params(RolloversQuery),
    responses(
        (status = 200, description = "OK", body = Rollovers),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/log/rollovers`: what a device follows after a restore, and an auditor reads
/// (`crate::rollover`).
pub async fn rollovers(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RolloversQuery>,
) -> Result<Json<Rollovers>> {
    Ok(Json(Rollovers {
        origin: state.signer.origin().to_string(),
        statements: state
            .signer
            .retired()
            .iter()
            .map(|r| r.note.clone())
            .collect(),
        recovered: state
            .storage
            .recovered_entries(q.after, RECOVERED_PAGE)
            .await?,
    }))
}

fn tile_not_found() -> ApiError {
    ApiError::not_found("TILE_NOT_FOUND", "该瓦片尚不存在")
}

#[utoipa::path(
    get,
    path = "/log/tile/{path}",
    tag = "log",
    summary = "Hash tiles tile/<L>/<N>[.p/<W>] and entry bundles tile/entries/<N>[.p/<W>] (C2SP tlog-tiles)",
    params(("path" = String, Path, description = "tile coordinates (may contain '/')")),
    responses(
        (status = 200, description = "OK", body = super::doc::Binary, content_type = "application/octet-stream"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /log/tile/…`: hash tiles and entry bundles (C2SP tlog-tiles).
pub async fn tile(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<String>,
) -> Result<Response> {
    let parsed = tlog::parse_tile_path(&path).ok_or_else(|| {
        ApiError::not_found(
            "TILE_PATH_INVALID",
            format!(
                "不是有效的瓦片路径：{path}（应为 tile/<层级 0–63>/<编号>[.p/<宽度 1–255>] \
                 或 tile/entries/<编号>[.p/<宽度 1–255>]，编号按三位一组书写，如 x001/x234/067）"
            ),
        )
    })?;
    let (data, full) = match parsed {
        TilePath::Hashes(key, width) => {
            let data = state
                .tile_cache
                .tile(&state.storage, key, u64::from(width))
                .await?
                .ok_or_else(tile_not_found)?;
            (data, u64::from(width) == TILE_WIDTH)
        }
        TilePath::Entries(index, width) => {
            let leaves = state
                .tile_cache
                .entries(&state.storage, index, u64::from(width))
                .await?
                .ok_or_else(tile_not_found)?;
            (tlog::entry_bundle(&leaves), u64::from(width) == TILE_WIDTH)
        }
    };
    let cache = if full {
        "public, max-age=31536000, immutable"
    } else {
        "no-store"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        data,
    )
        .into_response())
}

/// The log's witnesses and what they said.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogWitnesses {
    /// The current origin.
    pub origin: String,
    /// How many of the witnesses devices require on a checkpoint (the bundle's witness policy).
    pub quorum: u32,
    pub witnesses: Vec<crate::witness::WitnessStatus>,
    /// Every alarm a witness raised (`WITNESS_SPLIT_VIEW`: it refused the log's history as
    /// inconsistent with what it cosigned; `WITNESS_AHEAD`: it knows a larger tree), newest first.
    #[schema(value_type = Vec<WitnessAlarmDoc>)]
    pub alarms: Vec<crate::storage::WitnessAlarm>,
}

/// A witness alarm as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WitnessAlarmDoc {
    pub witness: String,
    /// `WITNESS_SPLIT_VIEW` or `WITNESS_AHEAD`
    pub code: String,
    /// size of the checkpoint submitted
    pub size: u64,
    /// size the witness said it knows
    pub witness_size: Option<u64>,
    pub message: String,
    /// the checkpoint submitted (signed note)
    pub checkpoint: String,
    pub detected_at: String,
}

#[utoipa::path(
    get,
    path = "/log/witnesses",
    tag = "log",
    summary = "The log's witnesses (C2SP tlog-witness): their keys, the largest checkpoint each cosigned, and every alarm a witness raised",
    responses(
        (status = 200, description = "OK", body = LogWitnesses),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/log/witnesses`: who witnesses the log, and any alarm they raised.
pub async fn witnesses(State(state): State<AppState>) -> Result<Json<LogWitnesses>> {
    let origin = state.signer.origin().to_string();
    Ok(Json(LogWitnesses {
        quorum: state.witnesses.policy().map_or(0, |p| p.quorum),
        witnesses: state.witnesses.status(&state.storage, &origin).await?,
        alarms: state.storage.witness_alarms().await?,
        origin,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogKey {
    pub origin: String,
    /// signed-note verifier key.
    pub verifier_key: String,
}

#[utoipa::path(
    get,
    path = "/log/key",
    tag = "log",
    summary = "The log's origin and signed-note verifier key",
    responses(
        (status = 200, description = "OK", body = LogKey),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/log/key`: the key checkpoints are signed with.
pub async fn key(State(state): State<AppState>) -> Json<LogKey> {
    Json(LogKey {
        origin: state.signer.origin().to_string(),
        verifier_key: state.signer.verifier_key().to_string(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// entry SHA-256, hex
    #[param(pattern = "^[0-9a-fA-F]{64}$", min_length = 64, max_length = 64)]
    pub hash: String,
    /// tree size (default: newest checkpoint)
    #[serde(default, with = "super::int64::query")]
    pub size: Option<u64>,
}

/// An entry's receipt: its inclusion proof and the signed checkpoint it verifies against.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Receipt)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// RFC 6962 audit path, base64 hashes, leaf to root
    pub inclusion_proof: Vec<String>,
    /// C2SP signed note
    pub checkpoint: String,
}

/// The checkpoint of `size` (or the newest), with its witnesses' cosignatures.
async fn checkpoint_at(state: &AppState, size: Option<u64>) -> Result<(u64, String)> {
    let (size, note) = state
        .tile_cache
        .checkpoint(&state.storage, size)
        .await?
        .ok_or_else(|| match size {
            Some(s) => {
                ApiError::not_found("CHECKPOINT_NOT_FOUND", format!("没有大小为 {s} 的检查点"))
            }
            None => ApiError::not_found("LOG_EMPTY", "透明日志还没有任何记录"),
        })?;
    Ok((size, state.witnesses.cosigned(&state.storage, note).await?))
}

#[utoipa::path(
    get,
    path = "/log/inclusion",
    tag = "log",
    summary = "Inclusion proof of an entry",
    params(InclusionQuery),
    responses(
        (status = 200, description = "OK", body = InclusionProof),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/log/inclusion?hash=…[&size=…]`: inclusion proof of an entry.
pub async fn inclusion(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionProof>> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(&q.hash, &mut hash)
        .map_err(|_| ApiError::bad_request("HASH_INVALID", "hash 应为 64 位十六进制的 SHA-256"))?;
    // The leaf index and the checkpoint are independent reads: one round trip's time, not two.
    // Each is checked in the same order as if read one after the other.
    let (leaf_index, checkpoint) = tokio::join!(
        state.tile_cache.leaf_index(&state.storage, &hash),
        checkpoint_at(&state, q.size)
    );
    let leaf_index = leaf_index?
        .ok_or_else(|| ApiError::not_found("ENTRY_NOT_LOGGED", "透明日志中没有这条记录"))?;
    let (mut size, mut note) = checkpoint?;
    if q.size.is_none() && leaf_index >= size {
        // Logged between the two concurrent reads: the newest checkpoint now covers it (the entry
        // and its checkpoint are committed together).
        (size, note) = checkpoint_at(&state, None).await?;
    }
    if leaf_index >= size {
        return Err(ApiError::bad_request(
            "ENTRY_AFTER_CHECKPOINT",
            "这条记录在所选检查点之后才写入日志",
        ));
    }
    // Over the tiles of the tree of `size` exactly: the proof verifies against `note` whatever
    // was appended since.
    let proof = state
        .tile_cache
        .inclusion_proof(&state.storage, size, leaf_index)
        .await?;
    Ok(Json(InclusionProof {
        leaf_index,
        tree_size: size,
        inclusion_proof: proof.iter().map(|h| b64(&h.0)).collect(),
        checkpoint: note,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// older size
    #[param(minimum = 1)]
    pub from: u64,
    /// newer size (default: newest)
    #[serde(default, with = "super::int64::query")]
    pub to: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Consistency)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// base64 hashes
    pub consistency_proof: Vec<String>,
    /// C2SP signed note
    pub checkpoint: String,
}

#[utoipa::path(
    get,
    path = "/log/consistency",
    tag = "log",
    summary = "Consistency proof between two tree sizes",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "OK", body = ConsistencyProof),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/log/consistency?from=…[&to=…]`: proof that the tree of `to` extends the tree of
/// `from`.
pub async fn consistency(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>> {
    let (to, note) = checkpoint_at(&state, q.to).await?;
    if q.from == 0 || q.from > to {
        return Err(ApiError::bad_request(
            "RANGE_INVALID",
            format!("from 应在 1 到 {to} 之间"),
        ));
    }
    let proof = state
        .tile_cache
        .consistency_proof(&state.storage, to, q.from)
        .await?;
    Ok(Json(ConsistencyProof {
        from: q.from,
        to,
        consistency_proof: proof.iter().map(|h| b64(&h.0)).collect(),
        checkpoint: note,
    }))
}
