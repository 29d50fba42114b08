//! Agencies, officers' certificates, sign-in accounts and their sessions.

use async_trait::async_trait;
use roadside_core::model::{OfficerCertificate, OfficerRole};
use serde::Serialize;

use crate::error::Result;

/// An agency (执法机构), e.g. 632500 海南州交通运输综合行政执法局.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agency {
    pub code: String,
    pub name: String,
    /// The agency above it, if any (county bureau → prefecture bureau).
    pub parent: Option<String>,
    /// The prefix of its document numbers (e.g. `青海南交执`); when none is set its name is used
    /// (`crate::storage::NumberStore`).
    pub doc_prefix: Option<String>,
}

/// A sign-in account (an officer's or an administrator's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    pub agency: String,
    pub role: OfficerRole,
    /// The officer this account belongs to, if it is an officer's.
    pub certificate_no: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub disabled: bool,
}

/// A signed-in account's bearer token (stored as its SHA-256 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub login: String,
    pub agency: String,
    pub role: OfficerRole,
    /// RFC 3339.
    pub expires_at: String,
}

/// Agencies, officers, accounts and sessions.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn upsert_agency(&self, agency: &Agency) -> Result<()>;
    async fn agencies(&self) -> Result<Vec<Agency>>;

    /// Insert or replace an officer's certificate row.
    async fn put_officer(&self, officer: &OfficerCertificate) -> Result<()>;
    /// Insert or replace several certificate rows in one transaction (all or none).
    async fn put_officers(&self, officers: &[OfficerCertificate]) -> Result<()>;
    async fn officer(&self, certificate_no: &str) -> Result<Option<OfficerCertificate>>;
    async fn officers(&self, agencies: &[String]) -> Result<Vec<OfficerCertificate>>;
    async fn officers_by_certificate(&self, certs: &[String]) -> Result<Vec<OfficerCertificate>>;

    /// Insert an account; `false` if the login is taken.
    async fn create_account(&self, account: &Account) -> Result<bool>;
    async fn account(&self, login: &str) -> Result<Option<Account>>;
    /// The accounts of `agencies`, by agency and login (password hashes included: callers show
    /// only the other fields).
    async fn accounts(&self, agencies: &[String]) -> Result<Vec<Account>>;

    async fn create_session(&self, token_hash: &[u8; 32], session: &Session) -> Result<()>;
    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>>;
    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()>;
}
