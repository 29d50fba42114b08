//! Operations: health, metrics, the OpenAPI document.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::doc::ErrorResponse;
use crate::error::ApiError;
use crate::state::AppState;

// The JSON `healthz` answers with.
/// Whether the server can serve: `ok` with the storage backend, or `unavailable` with the
/// database's error code.
#[derive(ToSchema)]
#[schema(as = Health)]
#[allow(dead_code)] // described, never built
pub struct HealthDoc {
    /// `ok` or `unavailable`
    status: String,
    /// `sqlite` or `postgres` (when ok)
    storage: Option<String>,
    /// Stable code of the database's error (when unavailable)
    code: Option<String>,
    /// 数据库不可用 (when unavailable)
    message: Option<String>,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Health (database reachable)",
    responses(
        (status = 200, description = "OK", body = HealthDoc),
        (status = 503, description = "The database does not answer", body = HealthDoc),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /healthz`: 200 when the database answers, 503 otherwise.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.storage.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "storage": state.storage.backend()})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "code": e.code, "message": "数据库不可用"})),
        ),
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "OK", body = String, content_type = "application/openmetrics-text"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This document",
    responses(
        (status = 200, description = "OK (OpenAPI 3.1, derived from the server's handlers)", body = Object, content_type = "application/json"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/openapi.json`: the document [`super::openapi`] derives from the handlers, made
/// once.
pub async fn openapi() -> Result<Response, ApiError> {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let json = match DOCUMENT.get() {
        Some(json) => json,
        None => {
            let made = super::openapi_json()?;
            DOCUMENT.get_or_init(|| made)
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response())
}
