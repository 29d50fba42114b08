//! The HTTP surface: one module per area, assembled here with the tower layers every request
//! passes (request id, tracing span, metrics, timeout, body limit, panic catching).

mod accounts;
mod bundles;
mod devices;
mod history;
mod log;
mod media;
mod ops;
mod sync;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::{no_route, ApiError};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/sessions",
            post(accounts::sign_in).delete(accounts::sign_out),
        )
        .route("/me", get(accounts::me))
        .route("/accounts", post(accounts::create_account))
        .route("/agencies", get(accounts::agencies))
        .route(
            "/officers",
            get(accounts::officers).post(accounts::put_officer),
        )
        .route(
            "/officers/{certificate_no}/revoke",
            post(accounts::revoke_officer),
        )
        .route("/enrolment-codes", post(devices::create_enrolment_code))
        .route("/devices", get(devices::list))
        .route("/devices/enrol", post(devices::enrol))
        .route("/devices/{id}/revoke", post(devices::revoke))
        .route("/sync/push", post(sync::push))
        .route("/cases", get(sync::cases))
        .route("/history", get(history::history))
        .route("/bundles/manifest", get(bundles::manifest))
        .route("/bundles/components/{*path}", get(bundles::component))
        .route("/log/key", get(log::key))
        .route("/log/inclusion", get(log::inclusion))
        .route("/log/consistency", get(log::consistency))
        .route("/log/rollovers", get(log::rollovers))
        .route("/openapi.json", get(ops::openapi));

    let timeout = state.config.request_timeout();
    let body_limit = state.config.body_limit;
    Router::new()
        .nest("/api/v1", api)
        .route("/log/checkpoint", get(log::checkpoint))
        .route("/log/{*path}", get(log::tile))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .fallback(no_route)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Media uploads: their own time limit and per-chunk size limit (not the JSON body limit).
        .merge(media::router(&state))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::internal(
                "PANIC",
                "request handler panicked",
            ))
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// `Json<T>` whose rejections are answered in the server's error format.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => ApiError::bad_request(
            "JSON_SCHEMA",
            format!("JSON 字段不符合要求：{}", e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "JSON_MALFORMED",
            format!("JSON 格式错误：{}", e.body_text()),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(
            "JSON_CONTENT_TYPE",
            "请求体必须是 JSON（Content-Type: application/json）",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large("BODY_TOO_LARGE", "请求体超过服务器允许的大小")
        }
        other => ApiError::bad_request(
            "BODY_UNREADABLE",
            format!("无法读取请求体：{}", other.body_text()),
        ),
    }
}
