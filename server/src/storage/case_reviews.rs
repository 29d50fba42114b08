//! 案卷评查: yearly review rounds, the cases drawn for them and the reviewers' scores.

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// A review round: the agency it covers (with those below it), the year, and how its sample was
/// drawn (the seed and the method, so anyone can redo the draw).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRound {
    pub id: String,
    pub agency: String,
    pub year: i32,
    /// Lowercase hex of the draw's 32 random bytes.
    pub seed: String,
    /// Cases drawn per unit (all when a unit finished fewer).
    pub per_unit: u32,
    /// The draw's method in words.
    pub method: String,
    pub drawn_at: String,
    pub drawn_by: String,
}

/// A case drawn for a round, with the key that placed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewSample {
    pub case_id: String,
    pub agency: String,
    /// 1, 2, … within its unit, in key order.
    pub position: u32,
    /// Lowercase hex of the draw key (the smallest keys are drawn).
    pub draw_key: String,
}

/// A reviewer's score of a drawn case on one checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewScore {
    pub case_id: String,
    pub item: String,
    pub score: u32,
    pub note: String,
    pub by: String,
    pub at: String,
}

/// Review rounds, their samples and scores.
#[async_trait]
pub trait CaseReviewStore: Send + Sync + 'static {
    /// Record a round and its sample in one transaction; `false` (nothing written) when the
    /// agency already has a round for that year.
    async fn create_review_round(
        &self,
        round: &ReviewRound,
        samples: &[ReviewSample],
    ) -> Result<bool>;
    /// The rounds of `agencies`, newest year first.
    async fn review_rounds(&self, agencies: &[String]) -> Result<Vec<ReviewRound>>;
    /// A round of one of `agencies`, with its sample in unit and position order.
    async fn review_round(
        &self,
        agencies: &[String],
        id: &str,
    ) -> Result<Option<(ReviewRound, Vec<ReviewSample>)>>;
    /// Replace a drawn case's scores (all its items at once, in one transaction).
    async fn put_review_scores(
        &self,
        round_id: &str,
        case_id: &str,
        scores: &[ReviewScore],
    ) -> Result<()>;
    /// Every score of a round.
    async fn review_scores(&self, round_id: &str) -> Result<Vec<ReviewScore>>;
}
