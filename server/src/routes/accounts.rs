//! Sign-in, agencies and the officer roster.

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, NaiveDate, Utc};
use roadside_core::model::{OfficerCertificate, OfficerRole};
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiPath};
use crate::auth::{new_secret, verify_password, AccountCaller, ClientAddress};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::storage::{role_str, Account, Agency, Session};
use crate::throttle::{Locked, Outcome, ACCOUNT_FAILURES, ADDRESS_FAILURES, WINDOW};
use utoipa::ToSchema;

use super::doc::{ErrorResponse, OfficerDoc, RoleDoc};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedIn {
    /// Bearer token for the `account` security scheme.
    pub token: String,
    pub login: String,
    pub agency: String,
    #[schema(value_type = RoleDoc)]
    pub role: &'static str,
    pub expires_at: String,
}

/// A refused sign-in: an error answer, or a throttled one (429 with `Retry-After`).
pub enum SignInRefused {
    Error(ApiError),
    Throttled(Locked),
}

impl From<ApiError> for SignInRefused {
    fn from(e: ApiError) -> Self {
        SignInRefused::Error(e)
    }
}

impl IntoResponse for SignInRefused {
    fn into_response(self) -> Response {
        match self {
            SignInRefused::Error(e) => e.into_response(),
            SignInRefused::Throttled(locked) => {
                let secs = locked.retry_after_secs();
                let minutes = WINDOW.as_secs() / 60;
                let message = match locked {
                    Locked::Account(_) => format!(
                        "该账号 {minutes} 分钟内登录失败已达 {ACCOUNT_FAILURES} 次，已暂时锁定；\
                         请 {secs} 秒后再试（锁定期间密码正确也无法登录）"
                    ),
                    Locked::Address(_) => format!(
                        "本机网络地址 {minutes} 分钟内登录失败已达 {ADDRESS_FAILURES} 次，已暂时限制登录；\
                         请 {secs} 秒后再试"
                    ),
                };
                let mut r =
                    ApiError::too_many_requests("SIGN_IN_THROTTLED", message).into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                r
            }
        }
    }
}

#[utoipa::path(
    post,
    path = "/sessions",
    tag = "accounts",
    summary = "Password sign-in",
    description = "Throttled: 5 failed sign-ins for a login, or 20 from a client address, within 15 minutes lock it for 15 minutes (429 SIGN_IN_THROTTLED, even with the right password).",
    request_body = SignIn,
    responses(
        (status = 200, description = "OK", body = SignedIn),
        (status = 429, description = "SIGN_IN_THROTTLED: too many failed sign-ins for this login or from this address",
            headers(("Retry-After" = u64, description = "Seconds until the lock ends")),
            body = super::doc::ErrorBody),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/sessions`: password sign-in; answers a bearer token. Throttled per login and per
/// client address ([`crate::throttle`]): a locked login or address is refused before its password
/// is looked at.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(req): ApiJson<SignIn>,
) -> Result<Json<SignedIn>, SignInRefused> {
    sign_in_account(&state, address, &req).await.map(Json)
}

/// Check a password sign-in (throttled) and open a session: the API's bearer token and the back
/// office's session cookie are the same kind of session.
pub(crate) async fn sign_in_account(
    state: &AppState,
    address: Option<std::net::IpAddr>,
    req: &SignIn,
) -> Result<SignedIn, SignInRefused> {
    let attempt = state
        .sign_in_throttle
        .begin(&req.login, address, Instant::now())
        .map_err(|locked| {
            tracing::warn!(?locked, ?address, "sign-in refused: throttled");
            SignInRefused::Throttled(locked)
        })?;
    let account = match check_password(state, req).await {
        Ok(Some(account)) => {
            state.sign_in_throttle.settle(attempt, Outcome::Succeeded);
            account
        }
        Ok(None) => {
            state.sign_in_throttle.settle(attempt, Outcome::Failed);
            return Err(ApiError::unauthenticated("SIGN_IN_FAILED", "账号或密码错误").into());
        }
        Err(e) => {
            state.sign_in_throttle.settle(attempt, Outcome::Undecided);
            return Err(e.into());
        }
    };
    if account.disabled {
        return Err(ApiError::forbidden("ACCOUNT_DISABLED", "该账号已停用").into());
    }
    let (token, token_hash) = new_secret(32);
    let expires_at = crate::time_text(Utc::now() + Duration::hours(state.config.session_hours));
    let session = Session {
        login: account.login.clone(),
        agency: account.agency.clone(),
        role: account.role,
        expires_at: expires_at.clone(),
    };
    state.storage.create_session(&token_hash, &session).await?;
    Ok(SignedIn {
        token,
        login: account.login,
        agency: account.agency,
        role: role_str(account.role),
        expires_at,
    })
}

/// The account if `req`'s password is its password; `None` for a wrong password or a login that
/// does not exist (which costs the same Argon2 check, so a probe cannot tell which logins exist).
async fn check_password(state: &AppState, req: &SignIn) -> Result<Option<Account>> {
    let account = state.storage.account(&req.login).await?;
    let password = req.password.clone();
    let phc = match &account {
        Some(a) => a.password_hash.clone(),
        None => dummy_phc().to_string(),
    };
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?;
    Ok(account.filter(|_| ok))
}

/// An Argon2id hash of a random password, checked against when the login does not exist.
fn dummy_phc() -> &'static str {
    static PHC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PHC.get_or_init(|| crate::auth::hash_password(&new_secret(16).0).unwrap_or_default())
}

#[utoipa::path(
    delete,
    path = "/sessions",
    tag = "accounts",
    summary = "Sign out",
    security(("account" = [])),
    responses(
        (status = 204, description = "OK"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `DELETE /api/v1/sessions`: sign out (the token stops working).
pub async fn sign_out(State(state): State<AppState>, caller: AccountCaller) -> Result<StatusCode> {
    state.storage.delete_session(&caller.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub login: String,
    pub agency: String,
    #[schema(value_type = RoleDoc)]
    pub role: &'static str,
    /// The agencies the caller may see: its own and those below it.
    pub scope: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/me",
    tag = "accounts",
    summary = "The caller and its agency scope",
    security(("account" = [])),
    responses(
        (status = 200, description = "OK", body = Me),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/me`: who the token belongs to and which agencies it may see.
pub async fn me(State(state): State<AppState>, caller: AccountCaller) -> Result<Json<Me>> {
    let scope = caller.scope(&state).await?;
    Ok(Json(Me {
        login: caller.session.login,
        agency: caller.session.agency,
        role: role_str(caller.session.role),
        scope,
    }))
}

#[utoipa::path(
    get,
    path = "/agencies",
    tag = "accounts",
    summary = "Agencies in scope",
    security(("account" = [])),
    responses(
        (status = 200, description = "OK", body = [super::doc::AgencyDoc]),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/agencies`: the agencies in the caller's scope.
pub async fn agencies(
    State(state): State<AppState>,
    caller: AccountCaller,
) -> Result<Json<Vec<Agency>>> {
    let scope = caller.scope(&state).await?;
    let all = state.storage.agencies().await?;
    Ok(Json(
        all.into_iter()
            .filter(|a| scope.contains(&a.code))
            .collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/officers",
    tag = "accounts",
    summary = "Officer roster in scope",
    security(("account" = [])),
    responses(
        (status = 200, description = "OK", body = [OfficerDoc]),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/officers`: the roster of the caller's scope, with certificate status.
pub async fn officers(
    State(state): State<AppState>,
    caller: AccountCaller,
) -> Result<Json<Vec<OfficerCertificate>>> {
    let scope = caller.scope(&state).await?;
    Ok(Json(state.storage.officers(&scope).await?))
}

#[utoipa::path(
    post,
    path = "/officers",
    tag = "accounts",
    summary = "Add or update an officer certificate (admin)",
    security(("account" = [])),
    request_body = OfficerDoc,
    responses(
        (status = 201, description = "OK", body = OfficerDoc),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/officers`: add or update an officer's certificate (admin).
pub async fn put_officer(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiJson(officer): ApiJson<OfficerCertificate>,
) -> Result<(StatusCode, Json<OfficerCertificate>)> {
    let officer = save_officer(&state, &caller, officer).await?;
    Ok((StatusCode::CREATED, Json(officer)))
}

/// Add or update an officer's certificate (admin of the officer's agency, before and after).
pub(crate) async fn save_officer(
    state: &AppState,
    caller: &AccountCaller,
    officer: OfficerCertificate,
) -> Result<OfficerCertificate> {
    caller.require(&[OfficerRole::Admin])?;
    caller.check_agency(state, &officer.agency).await?;
    if officer.certificate_no.trim().is_empty()
        || officer.certificate_no.trim() != officer.certificate_no
    {
        return Err(ApiError::bad_request(
            "CERTIFICATE_NO_INVALID",
            "执法证号不能为空，也不能带首尾空格",
        ));
    }
    if officer.name.trim().is_empty() {
        return Err(ApiError::bad_request("NAME_MISSING", "姓名不能为空"));
    }
    if officer.valid_to < officer.valid_from {
        return Err(ApiError::bad_request(
            "VALIDITY_INVERTED",
            "有效期结束日期早于开始日期",
        ));
    }
    let existing = state.storage.officer(&officer.certificate_no).await?;
    if let Some(existing) = &existing {
        caller.check_agency(state, &existing.agency).await?;
    }
    state.storage.put_officer(&officer).await?;
    let moved_from = existing
        .as_ref()
        .map_or(officer.agency.as_str(), |e| e.agency.as_str());
    crate::bundles::roster_changed(state, &[officer.agency.as_str(), moved_from]).await;
    Ok(officer)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// First day the certificate no longer counts (`YYYY-MM-DD`).
    #[serde(with = "roadside_core::day::serde_day")]
    #[schema(value_type = String, format = Date)]
    pub on: NaiveDate,
}

#[utoipa::path(
    post,
    path = "/officers/{certificate_no}/revoke",
    tag = "accounts",
    summary = "Revoke a certificate from a date (admin)",
    security(("account" = [])),
    params(("certificate_no" = String, Path, description = "执法证号")),
    request_body = Revoke,
    responses(
        (status = 200, description = "OK", body = OfficerDoc),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/officers/{certificate_no}/revoke`: revoke a certificate (注销) from a date (admin).
pub async fn revoke_officer(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiPath(certificate_no): ApiPath<String>,
    ApiJson(req): ApiJson<Revoke>,
) -> Result<Json<OfficerCertificate>> {
    revoke_certificate(&state, &caller, &certificate_no, req.on)
        .await
        .map(Json)
}

/// Import officers' certificates (a roster workbook's rows) in one transaction: every row's
/// agency, and the agency of a certificate it replaces, must be in the caller's scope (admin);
/// otherwise nothing is written. Returns how many rows were written.
pub(crate) async fn import_officers(
    state: &AppState,
    caller: &AccountCaller,
    officers: &[OfficerCertificate],
) -> Result<usize> {
    caller.require(&[OfficerRole::Admin])?;
    let scope = caller.scope(state).await?;
    let existing = state
        .storage
        .officers_by_certificate(
            &officers
                .iter()
                .map(|o| o.certificate_no.clone())
                .collect::<Vec<_>>(),
        )
        .await?;
    let mut touched: Vec<String> = Vec::new();
    for o in officers {
        let before = existing
            .iter()
            .find(|e| e.certificate_no == o.certificate_no);
        for agency in std::iter::once(&o.agency).chain(before.map(|b| &b.agency)) {
            if !scope.contains(agency) {
                return Err(ApiError::forbidden(
                    "AGENCY_FORBIDDEN",
                    format!(
                        "执法证号 {} 属于其他机构（{agency}），无权导入；本次导入未写入任何数据",
                        o.certificate_no
                    ),
                ));
            }
            if !touched.contains(agency) {
                touched.push(agency.clone());
            }
        }
    }
    state.storage.put_officers(officers).await?;
    let touched: Vec<&str> = touched.iter().map(String::as_str).collect();
    crate::bundles::roster_changed(state, &touched).await;
    Ok(officers.len())
}

/// Revoke a certificate (注销) from a day on (admin of the officer's agency).
pub(crate) async fn revoke_certificate(
    state: &AppState,
    caller: &AccountCaller,
    certificate_no: &str,
    on: NaiveDate,
) -> Result<OfficerCertificate> {
    caller.require(&[OfficerRole::Admin])?;
    let mut officer = state
        .storage
        .officer(certificate_no)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "OFFICER_NOT_FOUND",
                format!("执法证号 {certificate_no} 不存在"),
            )
        })?;
    caller.check_agency(state, &officer.agency).await?;
    officer.revoked_on = Some(on);
    state.storage.put_officer(&officer).await?;
    crate::bundles::roster_changed(state, &[officer.agency.as_str()]).await;
    Ok(officer)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Letters, digits and `- _ . @`, at most 64 characters.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$", min_length = 1, max_length = 64)]
    pub login: String,
    /// At least 10 characters.
    #[schema(min_length = 10)]
    pub password: String,
    pub agency: String,
    #[schema(value_type = RoleDoc)]
    pub role: OfficerRole,
    /// The officer whose account this is, if any (must be of the same agency).
    #[serde(default)]
    pub certificate_no: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountCreated {
    pub login: String,
    pub agency: String,
    #[schema(value_type = RoleDoc)]
    pub role: &'static str,
}

#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    summary = "Create an account (admin)",
    security(("account" = [])),
    request_body = NewAccount,
    responses(
        (status = 201, description = "OK", body = AccountCreated),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/accounts`: create a sign-in account in the caller's scope (admin).
pub async fn create_account(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiJson(req): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<AccountCreated>)> {
    let created = add_account(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Create a sign-in account in the caller's scope (admin).
pub(crate) async fn add_account(
    state: &AppState,
    caller: &AccountCaller,
    req: NewAccount,
) -> Result<AccountCreated> {
    caller.require(&[OfficerRole::Admin])?;
    caller.check_agency(state, &req.agency).await?;
    let login_ok = !req.login.is_empty()
        && req.login.len() <= 64
        && req
            .login
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if !login_ok {
        return Err(ApiError::bad_request(
            "LOGIN_INVALID",
            "登录名只能包含字母、数字和 - _ . @，最长 64 个字符",
        ));
    }
    if req.password.chars().count() < 10 {
        return Err(ApiError::bad_request(
            "PASSWORD_TOO_SHORT",
            "密码至少 10 个字符",
        ));
    }
    if let Some(no) = &req.certificate_no {
        let officer = state.storage.officer(no).await?.ok_or_else(|| {
            ApiError::not_found("OFFICER_NOT_FOUND", format!("执法证号 {no} 不存在"))
        })?;
        if officer.agency != req.agency {
            return Err(ApiError::bad_request(
                "CERTIFICATE_OTHER_AGENCY",
                format!("执法证号 {no} 不属于机构 {}", req.agency),
            ));
        }
    }
    let password = req.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))??;
    let created = state
        .storage
        .create_account(&crate::storage::Account {
            login: req.login.clone(),
            agency: req.agency.clone(),
            role: req.role,
            certificate_no: req.certificate_no,
            password_hash,
            disabled: false,
        })
        .await?;
    if !created {
        return Err(ApiError::conflict(
            "LOGIN_TAKEN",
            format!("登录名 {} 已被使用", req.login),
        ));
    }
    Ok(AccountCreated {
        login: req.login,
        agency: req.agency,
        role: role_str(req.role),
    })
}
