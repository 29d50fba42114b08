//! The HTTP surface: one module per area, assembled here with the tower layers every request
//! passes (request id, tracing span, metrics, timeout, body limit, panic catching).
//!
//! Every route is registered in [`described`] through `utoipa_axum::routes!`, which takes the
//! handler's own `#[utoipa::path]` description: the OpenAPI document ([`openapi`], served at
//! `/api/v1/openapi.json`) and the router come from that one list, so a route cannot be added
//! without its description.

pub(crate) mod accounts;
mod bundles;
pub(crate) mod devices;
mod doc;
mod history;
pub mod int64;
mod log;
mod media;
mod numbers;
mod ops;
pub(crate) mod reviews;
mod sync;

/// The tus headers as the media routes parse them (for the fuzz targets).
pub use media::tus_headers;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use axum::Router;
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{Predicate as _, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::error::{no_route, ApiError};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route with its description, from one list. The media routes are kept apart because
/// [`router`] gives them their own layers.
struct Described {
    json: OpenApiRouter<AppState>,
    media: OpenApiRouter<AppState>,
}

fn described() -> Described {
    let api = OpenApiRouter::default()
        .routes(routes!(accounts::sign_in, accounts::sign_out))
        .routes(routes!(accounts::me))
        .routes(routes!(accounts::create_account))
        .routes(routes!(accounts::agencies))
        .routes(routes!(accounts::officers, accounts::put_officer))
        .routes(routes!(accounts::revoke_officer))
        .routes(routes!(devices::create_enrolment_code))
        .routes(routes!(devices::list))
        .routes(routes!(devices::enrol))
        .routes(routes!(devices::revoke))
        .routes(routes!(sync::push))
        .routes(routes!(sync::cases))
        .routes(routes!(sync::case))
        .routes(routes!(sync::package))
        .routes(routes!(numbers::lease))
        .routes(routes!(history::history))
        .routes(routes!(reviews::give_opinion))
        .routes(routes!(reviews::opinions))
        .routes(routes!(bundles::manifest))
        .merge(rest_of_path(
            "/bundles/components/{*path}",
            routes!(bundles::component),
        ))
        .routes(routes!(log::key))
        .routes(routes!(log::inclusion))
        .routes(routes!(log::consistency))
        .routes(routes!(log::rollovers))
        .routes(routes!(log::witnesses))
        .routes(routes!(ops::openapi));
    let json = OpenApiRouter::with_openapi(doc::ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .nest("/api/v1", api)
        .routes(routes!(log::checkpoint))
        .merge(rest_of_path("/log/{*path}", routes!(log::tile)));
    Described {
        json,
        media: media::routes(),
    }
}

/// A route whose last parameter takes the rest of the path, slashes included (`{*rest}`): tile
/// coordinates, a bundle component's name and hash. OpenAPI has no such parameter, so the
/// handler's description names the parts (e.g. `/log/tile/{path}`) and `route` is where the
/// handler is served; the described path begins with the route's fixed part.
fn rest_of_path(
    route: &str,
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let fixed = route.split("{*").next().unwrap_or(route);
    debug_assert!(
        paths.paths.keys().all(|p| p.starts_with(fixed)),
        "{route} does not serve {:?}",
        paths.paths.keys().collect::<Vec<_>>()
    );
    let mut described = OpenApiRouter::default().route(route, method_router);
    let doc = described.get_openapi_mut();
    doc.paths = paths;
    doc.components
        .get_or_insert_with(utoipa::openapi::Components::new)
        .schemas
        .extend(schemas);
    described
}

/// The OpenAPI 3.1 document of every route, derived from the handlers' descriptions.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let Described { json, media } = described();
    let mut doc = json.into_openapi();
    doc.merge(media.into_openapi());
    doc
}

/// [`openapi`] as indented JSON.
pub fn openapi_json() -> Result<String, ApiError> {
    openapi()
        .to_pretty_json()
        .map_err(|e| ApiError::internal("OPENAPI_FAILED", format!("无法生成 OpenAPI 文档：{e}")))
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let Described { json, media } = described();
    let (json, _) = json.split_for_parts();
    let (media, _) = media.split_for_parts();
    let timeout = state.config.request_timeout();
    let body_limit = state.config.body_limit;
    json.merge(crate::office::routes())
        .fallback(no_route)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        // The body limit counts the decompressed bytes (the extractors read the body the
        // decompression layer hands them), so a small gzip bomb is refused like a large body.
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestDecompressionLayer::new().gzip(true).no_br().no_deflate().no_zstd())
        .layer(axum::middleware::from_fn(content_encoding))
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .no_br()
                .no_deflate()
                .no_zstd()
                .compress_when(SizeAbove::new(256).and(TextAnswer)),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // Media uploads: their own time limit and per-chunk size limit (not the JSON body limit).
        .merge(media::layered(media, &state))
        .layer(CatchPanicLayer::custom(panic_answer))
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

/// Request bodies may come gzip-compressed (`Content-Encoding: gzip`, RFC 9110 8.4); every answer
/// says so (`Accept-Encoding: gzip`, RFC 7694), and any other coding is refused in the server's
/// error format before the body is read.
async fn content_encoding(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let coding = req
        .headers()
        .get(axum::http::header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase());
    let mut answer = match coding.as_deref() {
        None | Some("identity") | Some("gzip") | Some("x-gzip") => next.run(req).await,
        Some(other) => ApiError::unsupported_media_type(
            "CONTENT_ENCODING_UNSUPPORTED",
            format!("不支持的请求体编码「{other}」：只接受 gzip 或不压缩"),
        )
        .into_response(),
    };
    answer.headers_mut().insert(
        axum::http::header::ACCEPT_ENCODING,
        axum::http::HeaderValue::from_static("gzip"),
    );
    answer
}

/// Compress JSON answers and the back office's pages and stylesheet only: media and tiles are
/// already compact or compressed, and media answers serve byte ranges.
#[derive(Clone, Copy)]
struct TextAnswer;

impl tower_http::compression::Predicate for TextAnswer {
    fn should_compress<B: axum::body::HttpBody>(&self, response: &axum::http::Response<B>) -> bool {
        response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                t.starts_with("application/json")
                    || t.starts_with("text/html")
                    || t.starts_with("text/css")
            })
    }
}

/// The answer to a request whose handler panicked: the short JSON error (`PANIC`, the generic
/// message of every internal failure). What panicked is written to the server's log (with the
/// request's span: method, path, request id), never sent to the client; a backtrace, when
/// `RUST_BACKTRACE` asks for one, is printed by the panic hook to the server's stderr only.
pub fn panic_answer(payload: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    axum::response::IntoResponse::into_response(ApiError::internal(
        "PANIC",
        format!("request handler panicked: {what}"),
    ))
}

/// `Query<T>` whose rejections are answered in the server's error format (400 `QUERY_INVALID`).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(ApiError::bad_request(
                "QUERY_INVALID",
                format!("查询参数无效：{}", rejection.body_text()),
            )),
        }
    }
}

/// `Path<T>` whose rejections (e.g. a percent-encoded path that is not UTF-8) are answered in the
/// server's error format (400 `PATH_INVALID`).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rejection) => Err(ApiError::bad_request(
                "PATH_INVALID",
                format!("请求路径无效：{}", rejection.body_text()),
            )),
        }
    }
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panic_is_answered_with_the_short_json_error_and_nothing_of_the_panic() {
        let app: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    let secret = "SECRET-DETAIL";
                    if !secret.is_empty() {
                        panic!("handler failed with {secret}");
                    }
                    "unreachable"
                }),
            )
            .layer(CatchPanicLayer::custom(panic_answer));
        let req = Request::builder()
            .uri("/boom")
            .body(Body::empty())
            .expect("request");
        let resp = app.oneshot(req).await.expect("answer");
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 4096)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
        assert_eq!(json["code"], "PANIC");
        assert_eq!(json.as_object().map(|o| o.len()), Some(2), "{json}");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("SECRET-DETAIL"), "{text}");
        assert!(!text.contains("panicked"), "{text}");
        assert!(!text.contains("backtrace"), "{text}");
    }
}
