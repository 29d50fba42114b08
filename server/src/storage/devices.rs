//! Enrolment codes and enrolled devices.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// A one-time enrolment code (stored as its SHA-256 only) binding a device to an officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentCode {
    pub code_hash: [u8; 32],
    pub agency: String,
    pub certificate_no: String,
    pub created_by: String,
    pub expires_at: String,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub id: String,
    /// Lowercase hex Ed25519 public key: the `device` of its ledger entries.
    pub public_key: String,
    pub agency: String,
    pub certificate_no: String,
    pub name: String,
    pub enrolled_at: String,
    pub revoked_at: Option<String>,
    /// Seq of the newest accepted entry (0: none yet).
    pub head_seq: u64,
    /// Hash of the newest accepted entry.
    #[serde(skip)]
    pub head_hash: Option<[u8; 32]>,
}

/// What happened to an enrolment attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolOutcome {
    Enrolled(Box<Device>),
    CodeUnknown,
    CodeUsed,
    CodeExpired,
    /// The public key is already enrolled.
    KeyTaken,
}

/// Enrolment and the enrolled devices.
#[async_trait]
pub trait DeviceStore: Send + Sync + 'static {
    async fn create_enrolment_code(&self, code: &EnrolmentCode) -> Result<()>;
    /// Consume the code (once, atomically) and enrol `device` with the code's officer and agency.
    async fn enrol_device(
        &self,
        code_hash: &[u8; 32],
        now: &str,
        device: Device,
        token_hash: &[u8; 32],
    ) -> Result<EnrolOutcome>;
    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Device>>;
    async fn devices(&self, agencies: &[String]) -> Result<Vec<Device>>;
    /// Revoke a device of one of `agencies`; `false` if there is no such device.
    async fn revoke_device(&self, id: &str, agencies: &[String], now: &str) -> Result<bool>;
    /// The server's own signer for an agency (`device.id`, its agency key as `public_key`): the
    /// chain the server signs legal-review opinions on. Created the first time (with
    /// `token_hash`, a random hash never handed out, so no request can act as it), then read back
    /// with its head.
    async fn signer_device(&self, device: Device, token_hash: &[u8; 32]) -> Result<Device>;
}
