//! Sign-in, the session cookie, CSRF tokens and sign-out.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use roadside_core::model::OfficerRole;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::layout;
use super::{see_other, PageError, PageForm, PageQuery, PageResult};
use crate::auth::{secret_hash, AccountCaller, ClientAddress};
use crate::error::ApiError;
use crate::routes::accounts::{sign_in_account, SignIn, SignInRefused};
use crate::state::AppState;
use crate::storage::Agency;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "roadside_session";

/// The CSRF token of a session: SHA-256 of a fixed label and the session's secret, hex. Only the
/// holder of the cookie can compute it, and it changes with every sign-in.
pub fn csrf_token(session_secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"roadside office csrf\0");
    h.update(session_secret.as_bytes());
    hex::encode(h.finalize())
}

/// The session secret from a `Cookie` header, if the session cookie is there.
fn session_secret(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A signed-in user of the back office: the API's caller (role, agency, scope checks) with the
/// session's CSRF token and the agencies it may see.
#[derive(Debug, Clone)]
pub struct OfficeUser {
    pub caller: AccountCaller,
    pub csrf: String,
    /// Agencies in scope (the user's own first), with names.
    pub agencies: Vec<Agency>,
    /// The officer's certificate number, when the account is an officer's.
    pub certificate_no: Option<String>,
}

impl OfficeUser {
    pub fn role(&self) -> OfficerRole {
        self.caller.session.role
    }

    pub fn login(&self) -> &str {
        &self.caller.session.login
    }

    pub fn scope(&self) -> Vec<String> {
        self.agencies.iter().map(|a| a.code.clone()).collect()
    }

    /// Refuse unless the user has one of `roles`.
    pub fn require(&self, roles: &[OfficerRole]) -> Result<(), PageError> {
        Ok(self.caller.require(roles)?)
    }

    /// Refuse a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), PageError> {
        let ok: bool = constant_time_eq(token.as_bytes(), self.csrf.as_bytes());
        if ok {
            Ok(())
        } else {
            Err(PageError(ApiError::forbidden(
                "CSRF_INVALID",
                "表单已失效或不是从本系统页面提交的（CSRF 校验失败），请刷新页面后重新提交",
            )))
        }
    }

    /// The display name of an agency in scope (its code when unknown).
    pub fn agency_name<'a>(&'a self, code: &'a str) -> &'a str {
        self.agencies
            .iter()
            .find(|a| a.code == code)
            .map_or(code, |a| a.name.as_str())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Not signed in: a page request goes to the sign-in page and comes back after it.
pub struct SignInFirst {
    next: String,
    expired: bool,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next: String = url_encode(&self.next);
        let to = if self.expired {
            format!("/login?expired=1&next={next}")
        } else {
            format!("/login?next={next}")
        };
        see_other(&to)
    }
}

fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|t| t.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for OfficeUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let Some(secret) = session_secret(parts) else {
            return Err(SignInFirst {
                next,
                expired: false,
            }
            .into_response());
        };
        let token_hash = secret_hash(&secret);
        let session = state
            .storage
            .session(&token_hash)
            .await
            .map_err(|e| PageError(e).into_response())?;
        let Some(session) = session.filter(|s| s.expires_at > crate::now()) else {
            return Err(SignInFirst {
                next,
                expired: true,
            }
            .into_response());
        };
        let account = state
            .storage
            .account(&session.login)
            .await
            .map_err(|e| PageError(e).into_response())?;
        if account.as_ref().is_none_or(|a| a.disabled) {
            return Err(SignInFirst {
                next,
                expired: true,
            }
            .into_response());
        }
        let caller = AccountCaller {
            session,
            token_hash,
        };
        let all = state
            .storage
            .agencies()
            .await
            .map_err(|e| PageError(e).into_response())?;
        let scope = crate::auth::scope(&all, &caller.session.agency);
        let agencies = scope
            .iter()
            .filter_map(|code| all.iter().find(|a| &a.code == code).cloned())
            .collect();
        Ok(OfficeUser {
            csrf: csrf_token(&secret),
            certificate_no: account.and_then(|a| a.certificate_no),
            caller,
            agencies,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    expired: Option<String>,
}

/// Only a path on this server is followed after sign-in (never `//host` or a full URL).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_string(),
        _ => "/".to_string(),
    }
}

fn login_form(next: &str, login: &str, error: Option<&str>, notice: Option<&str>) -> Markup {
    layout::bare(
        "登录",
        html! {
            main.narrow.login {
                h1 { "路检执法 · 后台" }
                p.muted { "交通运输综合行政执法 · 执法监督、法制审核与系统管理" }
                @if let Some(n) = notice { p.notice { (n) } }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label { "登录名" input type="text" name="login" value=(login) autocomplete="username" required autofocus; }
                    label { "密码" input type="password" name="password" autocomplete="current-password" required; }
                    button type="submit" { "登录" }
                }
            }
        },
    )
}

/// `GET /login`.
pub async fn login_page(PageQuery(q): PageQuery<LoginQuery>) -> Markup {
    let next = local_path(q.next.as_deref());
    let notice = q
        .expired
        .is_some()
        .then_some("登录已过期或已退出，请重新登录");
    login_form(&next, "", None, notice)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login`: the API's sign-in (throttled the same way), then the session cookie.
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let req = SignIn {
        login: form.login.trim().to_string(),
        password: form.password,
    };
    match sign_in_account(&state, address, &req).await {
        Ok(signed) => {
            let max_age = state.config.session_hours.max(0) * 3600;
            let secure = if state.config.secure_cookies {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
                signed.token
            );
            let mut r = see_other(&next);
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(refused) => {
            let answer = refused.into_response();
            let status = answer.status();
            let retry = answer.headers().get(header::RETRY_AFTER).cloned();
            let message = error_message(answer).await;
            let mut page =
                (status, login_form(&next, &req.login, Some(&message), None)).into_response();
            if let Some(v) = retry {
                page.headers_mut().insert(header::RETRY_AFTER, v);
            }
            page
        }
    }
}

/// The Chinese message of an API error answer (the login form shows it as is).
async fn error_message(answer: Response) -> String {
    let status = answer.status();
    let bytes = axum::body::to_bytes(answer.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("登录失败（{status}）"))
}

impl From<SignInRefused> for PageError {
    fn from(r: SignInRefused) -> Self {
        match r {
            SignInRefused::Error(e) => PageError(e),
            SignInRefused::Throttled(_) => PageError(ApiError::too_many_requests(
                "SIGN_IN_THROTTLED",
                "登录失败次数过多，请稍后再试",
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// `POST /logout`: the session ends on the server and the cookie is cleared.
pub async fn logout(
    State(state): State<AppState>,
    user: OfficeUser,
    PageForm(form): PageForm<CsrfForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    state
        .storage
        .delete_session(&user.caller.token_hash)
        .await?;
    let mut r = see_other("/login");
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("roadside_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    *r.status_mut() = StatusCode::SEE_OTHER;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/cases?page=2")), "/cases?page=2");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_eq!(csrf_token("a").len(), 64);
    }
}
