//! Reference bundles for devices (format: `roadside_core::bundle`): the signed manifest of the
//! device's agency, and its components by name and SHA-256.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roadside_core::bundle;
use serde::Deserialize;

use super::ApiPath;
use crate::auth::DeviceCaller;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use utoipa::{IntoParams, ToSchema};

use super::doc::ErrorResponse;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ManifestQuery {
    /// The bundle version the device holds: 304 when it is the current one.
    #[serde(default, with = "super::int64::query")]
    pub since: Option<u64>,
}

/// Whether an `If-None-Match` header names `etag` (a quoted value; `W/` prefixes and `*` honoured).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

fn not_modified(etag: &str, cache: &'static str) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

// The body is `crate::bundles::Current::envelope`'s JSON.
/// The agency's current reference bundle manifest and its signature.
#[derive(ToSchema)]
#[schema(as = BundleManifest)]
#[allow(dead_code)] // described, never built
pub struct ManifestDoc {
    /// the manifest's RFC 8785 canonical JSON bytes (roadside_core::bundle: type, v, agency,
    /// version, issued_at, key, components[name, version, sha256, size])
    #[schema(content_encoding = "base64")]
    manifest: String,
    /// Ed25519 signature (64 bytes) by the agency's bundle key over
    /// "roadside/bundle-manifest/v1" NUL ‖ manifest bytes
    #[schema(content_encoding = "base64")]
    signature: String,
}

const MANIFEST_CACHE: &str = "private, no-cache";
const COMPONENT_CACHE: &str = "private, max-age=31536000, immutable";

#[utoipa::path(
    get,
    path = "/bundles/manifest",
    tag = "bundles",
    summary = "The device's agency's current reference bundle manifest, signed (304 when unchanged)",
    security(("device" = [])),
    params(
        ManifestQuery,
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "ETag of the held manifest (\"<manifest sha256>\"): 304 when current"),
    ),
    responses(
        (status = 200, description = "OK; headers ETag (\"<manifest sha256 hex>\") and Roadside-Bundle-Version", body = ManifestDoc,
            headers(
                ("ETag" = String, description = "\"<manifest sha256 hex>\""),
                ("Roadside-Bundle-Version" = u64, description = "the manifest's bundle version"),
            )),
        (status = 304, description = "Not modified: the held manifest is the current one"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/bundles/manifest[?since=N]`: the device's agency's current bundle manifest as
/// `{"manifest": base64, "signature": base64}`, `ETag: "<manifest sha256>"`; 304 when the
/// `If-None-Match` ETag or `since` is the current one.
pub async fn manifest(
    State(state): State<AppState>,
    DeviceCaller(device): DeviceCaller,
    query: std::result::Result<Query<ManifestQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            "QUERY_INVALID",
            format!("查询参数无效（since 应为数据包版本号）：{}", e.body_text()),
        )
    })?;
    let current = state
        .bundles
        .current(&state.storage, &device.agency)
        .await?;
    let etag = format!("\"{}\"", current.id);
    if matches_etag(&headers, &etag) || q.since == Some(current.version) {
        return Ok(not_modified(&etag, MANIFEST_CACHE));
    }
    let mut r = (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, MANIFEST_CACHE),
        ],
        current.envelope(),
    )
        .into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        "roadside-bundle-version",
        HeaderValue::from(current.version),
    );
    Ok(r)
}

#[utoipa::path(
    get,
    path = "/bundles/components/{name}/{sha256}",
    tag = "bundles",
    summary = "A bundle component by name and SHA-256 (content-addressed, immutable)",
    security(("device" = [])),
    params(
        ("name" = String, Path, max_length = 128, pattern = "^([a-z0-9_-][a-z0-9_.-]*/){0,3}[a-z0-9_-][a-z0-9_.-]*\\.(toml|json)$", description = "component name as in the manifest; may contain '/', e.g. discretion/chaoxian.toml or roster.json"),
        ("sha256" = String, Path, pattern = "^[0-9a-f]{64}$", description = "lowercase hex SHA-256 from the manifest"),
    ),
    responses(
        (status = 200, description = "The component's bytes (Cache-Control: private, max-age=31536000, immutable; ETag \"<sha256>\")",
            content(
                (String = "application/toml"),
                (String = "application/json"),
            )),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/bundles/components/{name}/{sha256}` (`name` may hold `/`): a component of one of
/// the device's agency's bundles; immutable.
pub async fn component(
    State(state): State<AppState>,
    DeviceCaller(device): DeviceCaller,
    ApiPath(path): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let bad = || {
        ApiError::bad_request(
            "BUNDLE_COMPONENT_PATH_INVALID",
            format!("组件地址应为 /api/v1/bundles/components/<组件名>/<64 位小写十六进制 SHA-256>，实际为 “{path}”"),
        )
    };
    let (name, sha256) = path.rsplit_once('/').ok_or_else(bad)?;
    if !bundle::valid_component_name(name)
        || sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad());
    }
    let etag = format!("\"{sha256}\"");
    let bytes = state
        .storage
        .bundle_component(&device.agency, name, sha256)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "BUNDLE_COMPONENT_NOT_FOUND",
                format!("本机构的数据包中没有哈希值为 {sha256} 的组件「{name}」"),
            )
        })?;
    if matches_etag(&headers, &etag) {
        return Ok(not_modified(&etag, COMPONENT_CACHE));
    }
    let content_type = if name.ends_with(".json") {
        "application/json"
    } else {
        "application/toml; charset=utf-8"
    };
    let mut r = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, COMPONENT_CACHE),
        ],
        bytes,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}
