//! Reference bundles as stored: see `crate::bundles`.

use async_trait::async_trait;

use crate::error::Result;

/// A signed bundle manifest as stored (`roadside_core::bundle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBundle {
    pub agency: String,
    pub version: u64,
    /// Canonical manifest bytes.
    pub manifest: Vec<u8>,
    /// Ed25519 signature, 64 bytes.
    pub signature: Vec<u8>,
    pub created_at: String,
}

/// Reference bundles.
#[async_trait]
pub trait BundleStore: Send + Sync + 'static {
    /// The agency's newest bundle manifest.
    async fn latest_bundle(&self, agency: &str) -> Result<Option<StoredBundle>>;
    /// Every bundle manifest the agency has published, oldest first.
    async fn bundles(&self, agency: &str) -> Result<Vec<StoredBundle>>;
    /// In one transaction: store the components (`(name, sha256 hex, bytes)`, kept if already
    /// there) and the manifest, only if `bundle.version` is exactly one more than the agency's
    /// newest (1 for the first); `false`, and nothing written, otherwise.
    async fn put_bundle(
        &self,
        bundle: &StoredBundle,
        components: &[(String, String, Vec<u8>)],
    ) -> Result<bool>;
    /// A component of one of the agency's bundles, by name and SHA-256 (lowercase hex).
    async fn bundle_component(
        &self,
        agency: &str,
        name: &str,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>>;
}
