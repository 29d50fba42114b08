//! Media uploads (tus) and stored media objects: see `crate::media`.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// An unfinished resumable upload of one evidence file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUpload {
    /// UUID; the upload's URL is `/api/v1/media/uploads/<id>`.
    pub id: String,
    pub agency: String,
    pub device_id: String,
    /// The declared SHA-256, lowercase hex.
    pub sha256: String,
    pub length: u64,
    pub offset: u64,
    /// [`crate::media::RunningSha256`] over bytes `0..offset`.
    pub hash_state: Vec<u8>,
    /// Part objects holding bytes `0..offset`, in order (S3-compatible stores; empty for the local
    /// directory, whose staging file is one per upload).
    pub parts: Vec<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// A media object an agency holds (content-addressed: `evidence/<sha256>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaObject {
    pub sha256: String,
    pub agency: String,
    pub size: u64,
    pub stored_at: String,
}

pub(crate) fn parts_text(parts: &[String]) -> String {
    parts.iter().map(|p| format!("{p}\n")).collect()
}

pub(crate) fn parts_of(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Media uploads and objects.
#[async_trait]
pub trait MediaStore: Send + Sync + 'static {
    /// The sizes declared for `sha256` (lowercase hex) by accepted `evidence.add` entries of
    /// `agencies`; empty when none declares it.
    async fn evidence_sizes(&self, agencies: &[String], sha256: &str) -> Result<Vec<u64>>;
    async fn create_upload(&self, upload: &MediaUpload) -> Result<()>;
    async fn upload(&self, id: &str) -> Result<Option<MediaUpload>>;
    /// The newest upload of `sha256` by `agency` not expired at `now` (or complete, which never
    /// expires), if any.
    async fn open_upload(
        &self,
        agency: &str,
        sha256: &str,
        now: &str,
    ) -> Result<Option<MediaUpload>>;
    /// Move an upload from offset `from` to `to` with the hash state over `0..to`, a new expiry and
    /// the part that holds `from..to` (if parts are kept). Only if it is still at `from`: `false`
    /// if another request moved it or it is gone.
    async fn advance_upload(
        &self,
        id: &str,
        from: u64,
        to: u64,
        hash_state: &[u8],
        expires_at: &str,
        part: Option<&str>,
    ) -> Result<bool>;
    /// Remove an upload's row; `false` if there was none.
    async fn delete_upload(&self, id: &str) -> Result<bool>;
    /// Unfinished uploads expired at `now`, oldest first. An upload whose every byte is recorded
    /// never expires: it is finished by [`crate::media::finish_complete`] instead.
    async fn expired_uploads(&self, now: &str, limit: u32) -> Result<Vec<MediaUpload>>;
    /// Uploads whose offset reached their length but whose object was never recorded (a crash
    /// between the last chunk and the commit), oldest first.
    async fn complete_uploads(&self, limit: u32) -> Result<Vec<MediaUpload>>;
    /// Send a complete upload back to offset 0 with `hash_state` (empty) and no parts, because
    /// its bytes could not be committed. Only if it is still complete: `false` otherwise.
    async fn restart_upload(&self, id: &str, hash_state: &[u8], expires_at: &str) -> Result<bool>;
    /// In one transaction: record that `object.agency` holds the object and remove the upload.
    async fn finish_upload(&self, id: &str, object: &MediaObject) -> Result<()>;
    /// The object `sha256` if one of `agencies` holds it.
    async fn media_object(&self, agencies: &[String], sha256: &str) -> Result<Option<MediaObject>>;
}
