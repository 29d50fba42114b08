//! Passwords (Argon2id), bearer tokens, and who is calling.
//!
//! Tokens are 32 random bytes, base64url, shown once; only their SHA-256 is stored. An account
//! token (`Authorization: Bearer …` after sign-in) acts for an account; a device token (from
//! enrolment) acts for a device. Every read and write is scoped to the caller's agency and the
//! agencies under it ([`scope`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use roadside_core::model::OfficerRole;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Result};
use crate::ingest::device_revoked;
use crate::state::AppState;
use crate::storage::{Agency, Device, Session};

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal("PASSWORD_HASH_FAILED", e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A fresh secret (token, enrolment code, password) and its SHA-256.
///
/// The text never begins with `-`: a secret is typed after an option on a
/// command line (`roadside enrol --code …`), where a leading hyphen reads as
/// another option. Redrawing keeps the distribution uniform over the rest.
pub fn new_secret(bytes: usize) -> (String, [u8; 32]) {
    let mut raw = vec![0u8; bytes];
    let text = loop {
        OsRng.fill_bytes(&mut raw);
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        if !text.starts_with('-') {
            break text;
        }
    };
    let hash = secret_hash(&text);
    (text, hash)
}

pub fn secret_hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn bearer(parts: &Parts) -> Result<[u8; 32]> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "TOKEN_MISSING",
                "请先登录（缺少 Authorization: Bearer 令牌）",
            )
        })?;
    let token = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthenticated("TOKEN_MALFORMED", "Authorization 头应为 “Bearer 令牌”")
        })?;
    Ok(secret_hash(token))
}

fn token_invalid() -> ApiError {
    ApiError::unauthenticated("TOKEN_INVALID", "登录令牌无效或已过期，请重新登录")
}

/// A signed-in account.
#[derive(Debug, Clone)]
pub struct AccountCaller {
    pub session: Session,
    pub token_hash: [u8; 32],
}

impl FromRequestParts<AppState> for AccountCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token_hash = bearer(parts)?;
        let session = state
            .storage
            .session(&token_hash)
            .await?
            .ok_or_else(token_invalid)?;
        if session.expires_at <= crate::now() {
            return Err(token_invalid());
        }
        Ok(AccountCaller {
            session,
            token_hash,
        })
    }
}

impl AccountCaller {
    /// Refuse unless the account has one of `roles`.
    pub fn require(&self, roles: &[OfficerRole]) -> Result<()> {
        if roles.contains(&self.session.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "ROLE_FORBIDDEN",
                "当前账号的角色无权进行此操作",
            ))
        }
    }

    /// The agencies this account may read and write.
    pub async fn scope(&self, state: &AppState) -> Result<Vec<String>> {
        Ok(scope(
            &state.storage.agencies().await?,
            &self.session.agency,
        ))
    }

    /// Refuse unless `agency` is within the caller's scope.
    pub async fn check_agency(&self, state: &AppState, agency: &str) -> Result<Vec<String>> {
        let scope = self.scope(state).await?;
        if scope.iter().any(|a| a == agency) {
            Ok(scope)
        } else {
            Err(ApiError::forbidden(
                "AGENCY_FORBIDDEN",
                format!("无权访问其他机构（{agency}）的数据"),
            ))
        }
    }
}

/// An enrolled, unrevoked device.
#[derive(Debug, Clone)]
pub struct DeviceCaller(pub Device);

impl FromRequestParts<AppState> for DeviceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token_hash = bearer(parts)?;
        let device = state
            .storage
            .device_by_token(&token_hash)
            .await?
            .ok_or_else(|| {
                ApiError::unauthenticated("DEVICE_TOKEN_INVALID", "设备令牌无效，请重新登记设备")
            })?;
        if device.revoked_at.is_some() {
            return Err(device_revoked());
        }
        Ok(DeviceCaller(device))
    }
}

/// The calling client's address, as sign-in throttling counts it
/// ([`client_address`](crate::throttle::client_address)): the connection's peer, or what a
/// configured trusted proxy forwards. `None` when the server runs without connection information.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientAddress(crate::throttle::client_address(
            peer,
            &forwarded,
            &state.config.trusted_proxies,
        )))
    }
}

/// `agency` and every agency below it.
pub fn scope(agencies: &[Agency], agency: &str) -> Vec<String> {
    let mut out = vec![agency.to_string()];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i].clone();
        for a in agencies {
            if a.parent.as_deref() == Some(parent.as_str()) && !out.contains(&a.code) {
                out.push(a.code.clone());
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_wrong_ones_do_not() {
        let h = hash_password("青海-2026").expect("hash");
        assert!(verify_password("青海-2026", &h));
        assert!(!verify_password("青海-2025", &h));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn secrets_never_begin_with_a_hyphen() {
        // One draw in 64 began with `-` before; 20,000 draws would meet
        // ~300 of them.
        for _ in 0..20_000 {
            let (text, hash) = new_secret(15);
            assert!(!text.starts_with('-'), "{text}");
            assert_eq!(text.len(), 20);
            assert_eq!(hash, secret_hash(&text));
        }
    }

    #[test]
    fn scope_covers_the_agencies_below() {
        let a = |c: &str, p: Option<&str>| Agency {
            code: c.into(),
            name: c.into(),
            parent: p.map(Into::into),
            doc_prefix: None,
        };
        let all = [
            a("632500", None),
            a("632521", Some("632500")),
            a("632522", Some("632500")),
        ];
        assert_eq!(scope(&all, "632500").len(), 3);
        assert_eq!(scope(&all, "632521"), vec!["632521".to_string()]);
    }
}
