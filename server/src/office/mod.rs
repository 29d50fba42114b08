//! The back office (后台): server-rendered pages for the administrator (系统管理员), the
//! supervision office (执法监督), the legal reviewer (法制审核) and officers (their own cases,
//! read-only), served at `/` by the same process as the API.
//!
//! - Pages are HTML rendered on the server with `maud` (checked at compile time; every asset is
//!   inside the binary, no build step). The little JavaScript there is only improves a page; every
//!   action is a plain form.
//! - Sign-in opens the same kind of session as the API's `POST /api/v1/sessions` (same throttling,
//!   same storage); its token travels in the `roadside_session` cookie (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/`, `Secure` when the server is configured behind HTTPS).
//! - Every form that changes something carries a CSRF token bound to the session (the SHA-256 of
//!   a fixed label and the session's secret, which only the cookie holds), and a request whose
//!   `Origin` or `Sec-Fetch-Site` says it came from another site is refused before the form is read.
//! - Every page and action checks role and agency on the server, through the same functions the
//!   API uses ([`crate::auth::AccountCaller`]); what a page offers is never the check.

mod admin;
mod case_review;
mod cases;
mod filings;
mod layout;
mod publications;
mod reviews;
mod session;
mod stats;

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

pub use session::{csrf_token, OfficeUser, SESSION_COOKIE};

/// The back office's routes (not part of the API description).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(layout::home))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/office/style.css", get(layout::style))
        .route(
            "/admin/officers",
            get(admin::officers).post(admin::save_officer),
        )
        .route("/admin/officers/import", post(admin::import_officers))
        .route(
            "/admin/officers/{certificate_no}/revoke",
            post(admin::revoke_officer),
        )
        .route(
            "/admin/accounts",
            get(admin::accounts).post(admin::create_account),
        )
        .route(
            "/admin/enrolment-codes",
            get(admin::enrolment_form).post(admin::issue_code),
        )
        .route("/admin/devices", get(admin::devices))
        .route("/admin/devices/{id}/revoke", post(admin::revoke_device))
        .route("/cases", get(cases::list))
        .route("/cases/{id}", get(cases::page_route))
        .route("/cases/{id}/media/{sha256}", get(cases::media))
        .route("/publications", get(publications::list))
        .route("/publications/{case}/{entry}", get(publications::show))
        .route(
            "/publications/{case}/{entry}/publish",
            post(publications::publish),
        )
        .route(
            "/publications/{case}/{entry}/withdraw",
            post(publications::withdraw),
        )
        .route(
            "/case-review",
            get(case_review::list).post(case_review::create),
        )
        .route("/case-review/{id}", get(case_review::show))
        .route(
            "/case-review/{id}/results.xlsx",
            get(case_review::results_xlsx),
        )
        .route(
            "/case-review/{id}/cases/{case}",
            get(case_review::score_form).post(case_review::save_scores),
        )
        .route("/filings", get(filings::list))
        .route("/filings/{case}", post(filings::file))
        .route("/filings/{case}/{doc}", get(filings::document))
        .route("/reviews", get(reviews::list))
        .route("/reviews/{case}", get(reviews::show).post(reviews::give))
        .route("/statistics", get(stats::show))
        .route("/statistics.csv", get(stats::csv))
        .route("/statistics.xlsx", get(stats::xlsx))
        .route("/public/decisions", get(publications::public_page))
        .route("/public/decisions.csv", get(publications::public_csv))
        .route("/public/decisions.json", get(publications::public_json))
        .layer(axum::middleware::from_fn(same_site_only))
}

/// Refuse a state-changing request that a browser says came from another site: `Sec-Fetch-Site:
/// cross-site` / `same-site`, or an `Origin` whose host is not this request's `Host`. Together
/// with `SameSite=Strict` and the per-session CSRF token this is defence in depth.
async fn same_site_only(req: Request, next: Next) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    let headers = req.headers();
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
        .map(|o| o.split_once("://").map_or(o, |(_, rest)| rest));
    let cross = matches!(fetch_site, "cross-site" | "same-site")
        || origin_host.is_some_and(|o| !o.eq_ignore_ascii_case(host));
    if cross {
        return PageError(ApiError::forbidden(
            "CROSS_SITE_REFUSED",
            "该请求来自其他网站，已拒绝；请在本系统的页面中操作",
        ))
        .into_response();
    }
    next.run(req).await
}

/// An error shown as a page: the same codes and messages as the API, in the office's layout.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = e.kind.status();
        let message = if status.is_server_error() {
            tracing::error!(code = %e.code, detail = %e.message, "office page failed");
            "服务器内部错误，请稍后重试；如持续出现请联系系统管理员".to_string()
        } else {
            e.message.clone()
        };
        let title = match e.kind {
            ErrorKind::Forbidden => "无权访问",
            ErrorKind::NotFound => "未找到",
            ErrorKind::Unauthenticated => "需要登录",
            ErrorKind::TooManyRequests => "请稍后再试",
            ErrorKind::BadRequest | ErrorKind::Conflict => "无法完成",
            _ => "出错了",
        };
        let body = layout::bare(
            title,
            maud::html! {
                main.narrow {
                    h1 { (title) }
                    p.error role="alert" { (message) }
                    p.code { "错误代码：" code { (e.code) } }
                    p { a href="/" { "返回首页" } }
                }
            },
        );
        (status, body).into_response()
    }
}

pub type PageResult<T = Response> = std::result::Result<T, PageError>;

/// A form body (`application/x-www-form-urlencoded`) whose refusal is a page with a code.
pub struct PageForm<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for PageForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| PageForm(v))
            .map_err(|e| {
                PageError(ApiError::bad_request(
                    "FORM_INVALID",
                    format!(
                        "表单内容不完整或格式有误，请从页面重新提交（{}）",
                        e.body_text()
                    ),
                ))
            })
    }
}

/// A query string whose refusal is a page with a code.
pub struct PageQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for PageQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, PageError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| PageQuery(v))
            .map_err(|e| {
                PageError(ApiError::bad_request(
                    "QUERY_INVALID",
                    format!("网址中的查询参数有误（{}）", e.body_text()),
                ))
            })
    }
}

/// The first instant of an agency day (00:00 at UTC+8), as the UTC prefix the case filters
/// compare with stored times.
pub fn day_start_utc(day: chrono::NaiveDate) -> String {
    let local = day.and_hms_opt(0, 0, 0).and_then(|t| {
        t.and_local_timezone(roadside_core::day::agency_offset())
            .single()
    });
    match local {
        Some(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string(),
        None => format!("{day}T00:00:00"),
    }
}

/// A stored RFC 3339 time as the office shows it: the agency's local time to the minute
/// (`2026-12-08 06:56`); the text itself when it is not a time.
pub fn local_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| {
            t.with_timezone(&roadside_core::day::agency_offset())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_string())
}

/// A redirect after a successful form (303: the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}
