//! 法制审核 and 备案 as stored: the review entries of an agency (requests from devices, opinions
//! the server signed with the agency key) read for the queue, and the filing of a major decision.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// A `review.request` or `review.opinion` entry in the log, accepted (not refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewEntry {
    /// Lowercase hex SHA-256 of the entry's bytes.
    pub hash: String,
    pub kind: String,
    pub case_id: String,
    pub agency: String,
    pub at: String,
    pub leaf_index: u64,
    pub bytes: Vec<u8>,
    pub sig: Vec<u8>,
}

/// A major decision filed (备案) with the superior and the justice bureau.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filing {
    /// Lowercase hex hash of the `decision.penalty` entry.
    pub decision_hash: String,
    pub case_id: String,
    pub agency: String,
    /// The day it was filed (`YYYY-MM-DD`, the agency's day).
    pub filed_on: String,
    pub filed_by: String,
    pub recorded_at: String,
    pub note: String,
}

#[async_trait]
pub trait LegalStore: Send + Sync + 'static {
    /// Every accepted review entry of `agencies`, in log order.
    async fn review_entries(&self, agencies: &[String]) -> Result<Vec<ReviewEntry>>;
    /// The accepted review entries of one case, in log order.
    async fn case_review_entries(&self, case_id: &str) -> Result<Vec<ReviewEntry>>;
    /// Filings of `agencies`.
    async fn filings(&self, agencies: &[String]) -> Result<Vec<Filing>>;
    /// Record a filing once; `false` when the decision was already filed (nothing changed).
    async fn put_filing(&self, filing: &Filing) -> Result<bool>;
}
