//! Document numbers (文书编号): the blocks of serials leased to devices, and each agency's printed
//! prefix. A number is the agency's prefix, a type mark, the year and a serial
//! (`roadside_core::steps::format_number`); serials are unique per agency and year across every
//! document type, so a serial leased once is never leased again, to any device.
//!
//! A lease runs in one transaction that holds the agency's lock (SQLite: the single writer,
//! `BEGIN IMMEDIATE`; PostgreSQL: `SELECT … FOR UPDATE` on the agency's row): the block starts
//! right after the highest serial leased for that agency and year, so two devices asking at once,
//! through one server process or several, get disjoint blocks.

use async_trait::async_trait;
use roadside_core::steps::NumberBlock;
use serde::Serialize;

use crate::error::Result;

/// Highest serial of an agency's year (numbers print four digits).
pub const MAX_SERIAL: u64 = 9999;

/// A block of serials as leased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumberLease {
    pub agency: String,
    pub year: i32,
    pub first: u64,
    pub last: u64,
    pub device_id: String,
    pub leased_at: String,
}

/// What a lease request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The block, with the agency's prefix and printed name.
    Leased(NumberBlock),
    /// Every serial of the year is leased already.
    Exhausted,
    /// No such agency.
    UnknownAgency,
}

/// Number leases and the agencies' document settings.
#[async_trait]
pub trait NumberStore: Send + Sync + 'static {
    /// In one transaction holding the agency's lock: lease the next `size` serials (fewer when
    /// the year has fewer left) of `agency`'s `year` to `device_id`.
    async fn lease_numbers(
        &self,
        agency: &str,
        year: i32,
        size: u64,
        device_id: &str,
        leased_at: &str,
    ) -> Result<LeaseOutcome>;
    /// The blocks leased for `agency`'s `year`, in serial order.
    async fn number_leases(&self, agency: &str, year: i32) -> Result<Vec<NumberLease>>;
    /// Set (or, with `None`, clear: the agency's name is printed) the agency's number prefix;
    /// `false` when there is no such agency.
    async fn set_doc_prefix(&self, agency: &str, prefix: Option<&str>) -> Result<bool>;
}

/// The block after `highest` (the highest serial leased so far, 0 for none): `None` when the
/// year's serials are all leased.
pub(crate) fn next_block(highest: u64, size: u64) -> Option<(u64, u64)> {
    let first = highest.checked_add(1)?;
    if first > MAX_SERIAL || size == 0 {
        return None;
    }
    Some((first, first.saturating_add(size - 1).min(MAX_SERIAL)))
}

/// The agency's prefix as printed: its own, or its name when none is set.
pub(crate) fn prefix_or_name(prefix: Option<String>, name: &str) -> String {
    prefix
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_highest_and_stop_at_the_last_serial() {
        assert_eq!(next_block(0, 100), Some((1, 100)));
        assert_eq!(next_block(100, 100), Some((101, 200)));
        assert_eq!(next_block(9950, 100), Some((9951, 9999)));
        assert_eq!(next_block(9999, 100), None);
        assert_eq!(next_block(0, 0), None);
    }
}
