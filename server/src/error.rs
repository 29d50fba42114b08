//! The server's one error type and the one place errors become HTTP answers.
//!
//! Every error answer is `{"code": STABLE_CODE, "message": "中文说明"}`. The code never changes once
//! shipped (clients match on it); the message is for the officer or the clerk. Internal failures are
//! logged here with their detail and answered with a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use roadside_core::{ErrorKind as CoreKind, RoadsideError};
use serde::Serialize;

/// What went wrong, as a category that decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed or a field is invalid.
    BadRequest,
    /// 401: no valid bearer token, or wrong password.
    Unauthenticated,
    /// 403: authenticated, but not allowed (another agency, wrong role, revoked device).
    Forbidden,
    /// 404.
    NotFound,
    /// 409: conflicts with stored state (used code, duplicate id).
    Conflict,
    /// 413: body over the limit.
    PayloadTooLarge,
    /// 415: not JSON.
    UnsupportedMediaType,
    /// 429: too many attempts (sign-in throttling); the answer says when to retry.
    TooManyRequests,
    /// 500: a bug or a storage failure; never the caller's fault.
    Internal,
    /// 503: the database cannot be reached.
    Unavailable,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error with its category, stable code and Chinese message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

macro_rules! ctor {
    ($fn:ident, $kind:ident) => {
        pub fn $fn(code: &str, message: impl Into<String>) -> Self {
            ApiError {
                kind: ErrorKind::$kind,
                code: code.to_string(),
                message: message.into(),
            }
        }
    };
}

impl ApiError {
    ctor!(bad_request, BadRequest);
    ctor!(unauthenticated, Unauthenticated);
    ctor!(forbidden, Forbidden);
    ctor!(not_found, NotFound);
    ctor!(conflict, Conflict);
    ctor!(payload_too_large, PayloadTooLarge);
    ctor!(unsupported_media_type, UnsupportedMediaType);
    ctor!(too_many_requests, TooManyRequests);
    ctor!(internal, Internal);
    ctor!(unavailable, Unavailable);

    /// A storage backend failure; the detail goes to the log, not to the caller.
    pub fn storage(detail: impl std::fmt::Display) -> Self {
        ApiError::internal("STORAGE_FAILED", format!("数据库操作失败：{detail}"))
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let message = if status.is_server_error() {
            tracing::error!(code = %self.code, detail = %self.message, "request failed");
            "服务器内部错误，请稍后重试；如持续出现请联系系统管理员"
        } else {
            tracing::debug!(code = %self.code, message = %self.message, "request refused");
            self.message.as_str()
        };
        let body = ErrorBody {
            code: &self.code,
            message,
        };
        (status, Json(body)).into_response()
    }
}

impl From<RoadsideError> for ApiError {
    /// Core errors are the caller's input failing the domain's rules, except the internal ones.
    fn from(e: RoadsideError) -> Self {
        let kind = match e.kind() {
            CoreKind::Invalid | CoreKind::Ledger | CoreKind::Rules | CoreKind::Evidence => {
                ErrorKind::BadRequest
            }
            CoreKind::NotFound => ErrorKind::NotFound,
            CoreKind::Conflict => ErrorKind::Conflict,
            CoreKind::Key | CoreKind::Store | CoreKind::Network | CoreKind::Internal => {
                ErrorKind::Internal
            }
        };
        ApiError {
            kind,
            code: e.code().to_string(),
            message: e.message().to_string(),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::storage(e)
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        ApiError::storage(e)
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        ApiError::unavailable("DATABASE_UNAVAILABLE", format!("无法连接数据库：{e}"))
    }
}

/// A not-found answer for routes that do not exist.
pub async fn no_route() -> ApiError {
    ApiError::not_found("ROUTE_NOT_FOUND", "请求的接口不存在")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_kinds() {
        assert_eq!(
            ApiError::forbidden("X", "x").kind.status(),
            StatusCode::FORBIDDEN
        );
        let core = RoadsideError::ledger("LEDGER_BAD_SIGNATURE", "签名无效");
        let e = ApiError::from(core);
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(e.code, "LEDGER_BAD_SIGNATURE");
    }
}
