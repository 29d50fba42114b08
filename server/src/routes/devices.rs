//! Enrolment codes, device enrolment and revocation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{Duration, Utc};
use roadside_core::model::OfficerRole;
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiPath};
use crate::auth::{new_secret, secret_hash, AccountCaller};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::storage::{Device, EnrolOutcome, EnrolmentCode};
use utoipa::ToSchema;

use super::doc::{DeviceDoc, ErrorResponse};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCode {
    /// The officer the device will belong to.
    pub certificate_no: String,
    /// Hours the code stays usable (default 24, at most 168).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 168, default = 24)]
    pub valid_hours: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeIssued {
    /// Shown once; give it to the officer (or show it as a QR code).
    pub code: String,
    pub certificate_no: String,
    pub agency: String,
    pub expires_at: String,
}

#[utoipa::path(
    post,
    path = "/enrolment-codes",
    tag = "devices",
    summary = "One-time device enrolment code (admin, supervisor)",
    security(("account" = [])),
    request_body = NewCode,
    responses(
        (status = 201, description = "OK", body = CodeIssued),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/enrolment-codes`: a one-time code that enrols one device for an officer
/// (admin or supervisor of the officer's agency).
pub async fn create_enrolment_code(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiJson(req): ApiJson<NewCode>,
) -> Result<(StatusCode, Json<CodeIssued>)> {
    let issued = issue_enrolment_code(&state, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Issue a one-time enrolment code for an officer of the caller's scope (admin or supervisor).
pub(crate) async fn issue_enrolment_code(
    state: &AppState,
    caller: &AccountCaller,
    req: NewCode,
) -> Result<CodeIssued> {
    caller.require(&[OfficerRole::Admin, OfficerRole::Supervisor])?;
    let officer = state
        .storage
        .officer(&req.certificate_no)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "OFFICER_NOT_FOUND",
                format!("执法证号 {} 不存在", req.certificate_no),
            )
        })?;
    caller.check_agency(state, &officer.agency).await?;
    if officer.revoked_on.is_some() {
        return Err(ApiError::conflict(
            "CERTIFICATE_REVOKED",
            format!("{} 的执法证已注销，不能登记设备", officer.name),
        ));
    }
    let hours = req.valid_hours.unwrap_or(24);
    if !(1..=168).contains(&hours) {
        return Err(ApiError::bad_request(
            "VALID_HOURS_RANGE",
            "有效时长应为 1 至 168 小时",
        ));
    }
    let (code, code_hash) = new_secret(15);
    let expires_at = crate::time_text(Utc::now() + Duration::hours(hours));
    state
        .storage
        .create_enrolment_code(&EnrolmentCode {
            code_hash,
            agency: officer.agency.clone(),
            certificate_no: officer.certificate_no.clone(),
            created_by: caller.session.login.clone(),
            expires_at: expires_at.clone(),
        })
        .await?;
    Ok(CodeIssued {
        code,
        certificate_no: officer.certificate_no,
        agency: officer.agency,
        expires_at,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrol {
    #[schema(min_length = 1)]
    pub code: String,
    /// The device's Ed25519 public key, 64 lowercase hex digits (the `device` of its entries).
    #[schema(pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)]
    pub public_key: String,
    /// A name for the device, e.g. "李明的执法终端".
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolled {
    pub device_id: String,
    /// The device's bearer token, shown once.
    pub token: String,
    pub agency: String,
    pub certificate_no: String,
    /// The transparency log the device's receipts come from.
    pub log_origin: String,
    pub log_verifier_key: String,
    /// The agency's reference-bundle key (Ed25519 public key, 64 lowercase hex): the device pins it
    /// and verifies every bundle manifest with it.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub bundle_key: String,
}

#[utoipa::path(
    post,
    path = "/devices/enrol",
    tag = "devices",
    summary = "Enrol a device key with a code",
    request_body = Enrol,
    responses(
        (status = 201, description = "OK", body = Enrolled),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/devices/enrol`: bind a device key to the code's officer and agency (no token
/// needed: the code is the credential, usable once).
pub async fn enrol(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Enrol>,
) -> Result<(StatusCode, Json<Enrolled>)> {
    let key_ok = req.public_key.len() == 64
        && req
            .public_key
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && hex::decode(&req.public_key)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
            .is_some_and(|k| !k.is_weak());
    if !key_ok {
        return Err(ApiError::bad_request(
            "DEVICE_KEY_INVALID",
            "public_key 应为 64 位小写十六进制的 Ed25519 公钥",
        ));
    }
    let (token, token_hash) = new_secret(32);
    let device = Device {
        id: uuid::Uuid::now_v7().to_string(),
        public_key: req.public_key,
        agency: String::new(),
        certificate_no: String::new(),
        name: if req.name.trim().is_empty() {
            "执法终端".to_string()
        } else {
            req.name
        },
        enrolled_at: String::new(),
        revoked_at: None,
        head_seq: 0,
        head_hash: None,
    };
    let outcome = state
        .storage
        .enrol_device(
            &secret_hash(req.code.trim()),
            &crate::now(),
            device,
            &token_hash,
        )
        .await?;
    match outcome {
        EnrolOutcome::Enrolled(d) => Ok((
            StatusCode::CREATED,
            Json(Enrolled {
                bundle_key: state
                    .bundles
                    .public_key_hex(&state.storage, &d.agency)
                    .await?,
                device_id: d.id,
                token,
                agency: d.agency,
                certificate_no: d.certificate_no,
                log_origin: state.signer.origin().to_string(),
                log_verifier_key: state.signer.verifier_key().to_string(),
            }),
        )),
        EnrolOutcome::CodeUnknown => Err(ApiError::unauthenticated(
            "ENROLMENT_CODE_INVALID",
            "登记码无效",
        )),
        EnrolOutcome::CodeUsed => Err(ApiError::conflict(
            "ENROLMENT_CODE_USED",
            "登记码已被使用，请向管理员申请新的登记码",
        )),
        EnrolOutcome::CodeExpired => Err(ApiError::unauthenticated(
            "ENROLMENT_CODE_EXPIRED",
            "登记码已过期，请向管理员申请新的登记码",
        )),
        EnrolOutcome::KeyTaken => Err(ApiError::conflict("DEVICE_KEY_TAKEN", "该设备密钥已登记过")),
    }
}

#[utoipa::path(
    get,
    path = "/devices",
    tag = "devices",
    summary = "Devices in scope (admin, supervisor)",
    security(("account" = [])),
    responses(
        (status = 200, description = "OK", body = [DeviceDoc]),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/devices`: devices of the caller's scope (admin or supervisor).
pub async fn list(
    State(state): State<AppState>,
    caller: AccountCaller,
) -> Result<Json<Vec<Device>>> {
    caller.require(&[OfficerRole::Admin, OfficerRole::Supervisor])?;
    let scope = caller.scope(&state).await?;
    Ok(Json(state.storage.devices(&scope).await?))
}

#[utoipa::path(
    post,
    path = "/devices/{id}/revoke",
    tag = "devices",
    summary = "Revoke a device (admin)",
    security(("account" = [])),
    params(("id" = String, Path, description = "device id")),
    responses(
        (status = 204, description = "OK"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/devices/{id}/revoke`: the device's token and key stop working (admin).
pub async fn revoke(
    State(state): State<AppState>,
    caller: AccountCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    revoke_device(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a device of the caller's scope (admin): its token and key stop working.
pub(crate) async fn revoke_device(
    state: &AppState,
    caller: &AccountCaller,
    id: &str,
) -> Result<()> {
    caller.require(&[OfficerRole::Admin])?;
    let scope = caller.scope(state).await?;
    if state
        .storage
        .revoke_device(id, &scope, &crate::now())
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "DEVICE_NOT_FOUND",
            "本机构下没有该设备",
        ))
    }
}
